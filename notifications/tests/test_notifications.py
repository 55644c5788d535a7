"""Who is notified of what, once per event, in-app and by e-mail, as they prefer."""

from __future__ import annotations

import pytest
from django.core import mail

from accounting import services as accounting
from events.models import Delivery
from events.running import run_delivery
from expenses import services
from expenses.tests.factories import make_team
from notifications import queries
from notifications.models import EmailMessage, Kind, Notification
from notifications.services import notification_mark_all_read, notification_mark_read, preference_set, send_email
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def locmem_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def kinds_for(membership):
    return sorted(Notification.objects.filter(recipient=membership.user).values_list("kind", flat=True))


def test_a_full_flow_notifies_the_right_people_once_even_when_delivered_twice():
    team = make_team(threshold="1000.00")
    big = team.expense(amount="1500.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=big.pk)
    services.expense_approve(actor=team.finance, expense_id=big.pk)
    small = team.expense(employee=team.colleague, amount="20.00", submit=True)
    services.expense_reject(actor=team.manager, expense_id=small.pk, reason="Not a business expense")
    run_deliveries()
    batch = accounting.payout_run(organization=team.org)
    accounting.payout_batch_confirm(actor=team.finance, batch_id=batch.pk)

    run_deliveries(times=2)
    run_deliveries(done_too=True)  # every delivery once more

    assert kinds_for(team.manager) == [Kind.EXPENSE_SUBMITTED, Kind.EXPENSE_SUBMITTED]
    assert Kind.FINANCE_APPROVAL in kinds_for(team.finance) and Kind.FINANCE_APPROVAL in kinds_for(team.admin)
    assert kinds_for(team.employee) == sorted([Kind.EXPENSE_APPROVED, Kind.REIMBURSEMENT_PAID])
    assert kinds_for(team.colleague) == [Kind.EXPENSE_REJECTED]
    rejected = Notification.objects.get(recipient=team.colleague.user)
    assert "Not a business expense" in rejected.body and rejected.link == f"/expenses/{small.pk}/"
    assert EmailMessage.objects.count() == Notification.objects.count()


def test_mail_is_a_separate_step_sent_once():
    team = make_team()
    team.expense(submit=True)
    run_deliveries()
    (row,) = EmailMessage.objects.all()
    assert row.status == "pending" and mail.outbox == []

    assert send_email(row.pk) == "sent"
    assert send_email(row.pk) == "skipped"

    assert len(mail.outbox) == 1 and mail.outbox[0].to == [team.manager.user.email]
    assert mail.outbox[0].alternatives[0][1] == "text/html"


def test_turning_off_email_for_a_kind_stops_its_mails_but_keeps_in_app():
    team = make_team()
    preference_set(user=team.manager.user, kind=Kind.EXPENSE_SUBMITTED, in_app=True, email=False)
    team.expense(submit=True)
    run_deliveries()

    assert kinds_for(team.manager) == [Kind.EXPENSE_SUBMITTED]
    assert not EmailMessage.objects.filter(recipient=team.manager.user).exists()


def test_mark_read_and_unread_count():
    team = make_team()
    team.expense(submit=True)
    team.expense(employee=team.colleague, submit=True)
    run_deliveries()
    assert queries.unread_count(team.manager.user) == 2
    first = queries.notifications_for(team.manager.user).first()

    notification_mark_read(user=team.manager.user, notification_id=first.pk)
    assert queries.unread_count(team.manager.user) == 1
    with pytest.raises(Exception) as caught:  # somebody else's notification
        notification_mark_read(user=team.employee.user, notification_id=first.pk)
    assert caught.value.code == "not_found"
    assert notification_mark_all_read(user=team.manager.user) == 1
    assert queries.unread_count(team.manager.user) == 0


def test_a_dead_delivery_notifies_the_organisation_admins(redis_client, effects):
    from django.db import transaction

    from events.publishing import publish
    from tests.support.subscribers import Pinged

    team = make_team()
    redis_client.set("test:fail:test.flaky", "1")
    with transaction.atomic():
        publish(Pinged(key="x"), organization_id=team.org.pk)
    flaky = Delivery.objects.get(subscriber="test.flaky")
    for _ in range(4):
        run_delivery(flaky.pk)
    run_deliveries()
    (note,) = Notification.objects.filter(kind=Kind.DELIVERY_DEAD)
    assert note.recipient == team.admin.user and note.link == f"/admin/events/delivery/{flaky.pk}/change/"


def test_plain_text_mail_is_not_html_escaped_and_subject_has_no_line_break():
    import uuid

    from django.db import transaction

    from notifications.services import notify

    team = make_team()
    with transaction.atomic():
        notify(user_ids=[team.manager.user_id], kind=Kind.EXPENSE_SUBMITTED, title="O'Brien & Co\nlunch",
               body="<b>5 > 3</b>", link="/", organization_id=team.org.pk, source_event_id=uuid.uuid4())
    row = EmailMessage.objects.get()
    assert "O'Brien & Co" in row.text and "<b>5 > 3</b>" in row.text
    assert "\n" not in row.subject and row.subject == "[Outlay] O'Brien & Co lunch"
    assert "&lt;b&gt;" in row.html  # the HTML part stays escaped
