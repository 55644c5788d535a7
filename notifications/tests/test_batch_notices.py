"""A backlog of approvals is notified by ``notifications.expense_approved``'s batch form (rejections
and returns by theirs, through the same ``notify_many``): the same notifications and mails one
event after the other gives (preferences, inactive users and users without an address as for
one), in one INSERT each, never twice, and one after-commit send of each kind for the batch. In
process, on the real PostgreSQL and Redis."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from events.models import Delivery, DeliveryStatus
from events.registry import get_subscriber
from events.running import drain, run_delivery
from expenses import comments
from expenses import services as expense_services
from expenses.tests.factories import make_team
from notifications.models import EmailMessage, Kind, Notification
from notifications.services import preference_set
from notifications.subscribers import expense_approved, expense_rejected, expense_returned
from organizations.tests.factories import MembershipFactory
from tests.support.batch_forms import drain_and_listen, handler_arguments, one_by_one, queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "notifications.expense_approved"


def notification_rows() -> list[tuple]:
    """The tables' content but for what each row draws afresh (its id, its creation time)."""
    return sorted(Notification.objects.values_list("recipient_id", "organization_id", "kind", "title", "body", "link",
                                                   "source_event_id", "read_at"))


def mail_rows() -> list[tuple]:
    return sorted(EmailMessage.objects.values_list("recipient_id", "to", "kind", "subject", "text", "html",
                                                   "source_event_id", "status", "attempts", "last_error", "sent_at"))


def both_tables() -> tuple[list[tuple], list[tuple]]:
    return notification_rows(), mail_rows()


def row_ids() -> tuple[set, set]:
    return (set(Notification.objects.values_list("pk", flat=True)),
            set(EmailMessage.objects.values_list("pk", flat=True)))


def _approve(team, employee, amount="40.00"):
    expense = team.expense(employee=employee, amount=amount, submit=True)
    expense_services.expense_approve(actor=team.manager, expense_id=expense.pk)


@pytest.fixture
def backlog(redis_client, settings):
    """Seven approvals of two organisations waiting for their notices: an employee with two, one
    who turned mail off for approvals, one who turned in-app off, one without an address, one no
    longer active (who gets nothing), one whose preference for another kind must not count."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.OUTBOX_DRAIN_SECONDS = 30
    a, b = make_team(), make_team()
    no_address, gone = MembershipFactory(organization=b.org, reports_to=b.manager), \
        MembershipFactory(organization=b.org, reports_to=b.manager)
    preference_set(user=a.employee.user, kind=Kind.EXPENSE_REJECTED, in_app=False, email=False)
    preference_set(user=a.colleague.user, kind=Kind.EXPENSE_APPROVED, in_app=True, email=False)
    preference_set(user=b.employee.user, kind=Kind.EXPENSE_APPROVED, in_app=False, email=True)
    _approve(a, a.employee)
    _approve(a, a.colleague, "12.50")
    _approve(b, b.employee)
    _approve(a, a.employee, "99.90")
    _approve(b, no_address)
    _approve(b, gone)
    _approve(b, b.colleague)
    no_address.user.email = ""
    no_address.user.save(update_fields=["email"])
    gone.user.is_active = False
    gone.user.save(update_fields=["is_active"])
    return [a.employee.user, a.colleague.user, b.employee.user, b.colleague.user, no_address.user, gone.user]


def test_a_backlog_drained_through_the_batch_form_lands_what_one_event_at_a_time_does_in_one_insert_each(
        backlog, redis_client):
    # given the backlog, and what the per-event handler lands for it, one event after the other
    deliveries = handler_arguments(NAME)
    expected = one_by_one(expense_approved, deliveries, both_tables)
    assert len(expected[0]) == 5 and len(expected[1]) == 4  # the preferences, the address and the inactive count

    # when a worker with a backlog drains it
    with CaptureQueriesContext(connection) as statements:
        ran, heard = drain_and_listen(NAME, [f"user.{user.pk}" for user in backlog])
    assert ran == 7

    # then every delivery is done, with exactly those rows, in one INSERT per table
    assert not Delivery.objects.filter(subscriber=NAME).exclude(status=DeliveryStatus.DONE).exists()
    assert both_tables() == expected
    sql = [q["sql"] for q in statements]
    assert sum(s.startswith('INSERT INTO "notifications_notification"') for s in sql) == 1
    assert sum(s.startswith('INSERT INTO "notifications_emailmessage"') for s in sql) == 1
    assert len(sql) <= 16, sql  # the bus's claim, lock and mark done, the handler's six, the hint count
    # and after commit one count for every recipient's hint, each recipient hinted once with their unread count
    assert sum('FROM "notifications_notification"' in s and "COUNT(" in s for s in sql) == 1
    unread = {user.pk: Notification.objects.filter(recipient=user).count() for user in backlog}
    assert sorted(m["unread"] for m in heard) == sorted(n for n in unread.values() if n)
    assert all(m["type"] == "notifications.new" for m in heard)
    # and one send_email task per mail, each once
    mails = [args for name, args in queued_tasks(redis_client) if name == "notifications.send_email"]
    assert sorted(mails) == sorted([pk] for pk in EmailMessage.objects.values_list("pk", flat=True))


def test_a_batch_mixing_notified_and_new_approvals_adds_only_the_new_and_a_redelivery_adds_nothing(backlog):
    # given a backlog of which three were notified one by one already, as a worker does without a backlog
    deliveries = handler_arguments(NAME)
    for _, envelope in deliveries[:3]:
        assert run_delivery(envelope.delivery_id) == "done"
    notified, mailed = row_ids()
    assert notified and mailed
    expected = one_by_one(expense_approved, deliveries, both_tables)

    # when the batch form gets them all (as if the notified ones' "done" had been lost)
    batch_form = get_subscriber(NAME).batch_handler
    with transaction.atomic():
        batch_form(deliveries)

    # then it added exactly the rest, beside the rows that were there
    assert both_tables() == expected
    assert notified < row_ids()[0] and mailed < row_ids()[1]

    # and the same batch once more adds nothing
    before = row_ids()
    with transaction.atomic():
        batch_form(deliveries)
    assert both_tables() == expected and row_ids() == before


def _reject(team, employee, reason):
    expense = team.expense(employee=employee, submit=True)
    expense_services.expense_reject(actor=team.manager, expense_id=expense.pk, reason=reason)


def _return(team, employee, question):
    expense = team.expense(employee=employee, submit=True)
    comments.expense_return(actor=team.manager, expense_id=expense.pk, reason=question)


@pytest.mark.parametrize(("name", "handler", "answer", "kind"), [
    ("notifications.expense_rejected", expense_rejected, _reject, Kind.EXPENSE_REJECTED),
    ("notifications.expense_returned", expense_returned, _return, Kind.EXPENSE_RETURNED),
], ids=["rejected", "returned"])
def test_a_backlog_of_rejections_or_returns_is_batched_like_approvals(redis_client, settings, name, handler, answer,
                                                                      kind):
    # given five answers of two organisations waiting, one employee having turned mail off for them
    settings.OUTBOX_DRAIN_SECONDS = 30
    a, b = make_team(), make_team()
    preference_set(user=a.colleague.user, kind=kind, in_app=True, email=False)
    for team, employee, text in [(a, a.employee, "Not ours"), (a, a.colleague, "Which project?"),
                                 (b, b.employee, "Duplicate"), (a, a.employee, "Too late"), (b, b.colleague, "Why?")]:
        answer(team, employee, text)
    deliveries = handler_arguments(name)
    expected = one_by_one(handler, deliveries, both_tables)
    assert len(expected[0]) == 5 and len(expected[1]) == 4

    # when a worker with a backlog drains them
    with CaptureQueriesContext(connection) as statements:
        assert drain(name, batch=50, seconds=30) == 5

    # then they are the rows one at a time gives, in one INSERT per table
    assert both_tables() == expected
    sql = [q["sql"] for q in statements]
    assert sum(s.startswith('INSERT INTO "notifications_notification"') for s in sql) == 1
    assert sum(s.startswith('INSERT INTO "notifications_emailmessage"') for s in sql) == 1

    # and the same batch once more adds nothing
    before = row_ids()
    with transaction.atomic():
        get_subscriber(name).batch_handler(deliveries)
    assert both_tables() == expected and row_ids() == before
