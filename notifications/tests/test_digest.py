"""The approver digest: chosen instead of one notification per submission, sent by the beat task
once a day at most, after the approver's local digest hour, listing what waits for them."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from core.errors import DomainError
from expenses import services
from expenses.tests.factories import make_team
from notifications.digest import send_approver_digests
from notifications.models import DigestSent, EmailMessage, Kind, Notification
from notifications.services import preference_set
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def locmem_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.APPROVER_DIGEST_HOUR = 8


def at(team, day: dt.date, hour: int) -> dt.datetime:
    """``hour`` o'clock on ``day`` in the organisation's time zone."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=zoneinfo.ZoneInfo(team.org.time_zone))


def digests(member):
    return list(Notification.objects.filter(recipient=member.user, kind=Kind.APPROVER_DIGEST).order_by("created_at"))


def choose_digest(member):
    preference_set(user=member.user, kind=Kind.EXPENSE_SUBMITTED, in_app=True, email=True, digest=True)


def test_an_approver_on_the_digest_gets_no_notification_per_submission():
    team = make_team()
    choose_digest(team.manager)
    team.expense(submit=True)
    run_deliveries()
    assert not Notification.objects.filter(recipient=team.manager.user, kind=Kind.EXPENSE_SUBMITTED).exists()
    assert not EmailMessage.objects.filter(recipient=team.manager.user, kind=Kind.EXPENSE_SUBMITTED).exists()


@pytest.mark.clock
def test_the_digest_lists_what_waits_and_goes_out_once_a_day():
    team = make_team()
    choose_digest(team.manager)
    first = team.expense(amount="12.00", merchant="Taxi", submit=True)
    team.expense(employee=team.colleague, amount="30.00", merchant="Hotel", submit=True)
    today = team.org.today()

    # before the digest hour: nothing
    assert send_approver_digests(at(team, today, 7)) == 0
    # after it: one digest listing both, in-app and by mail
    assert send_approver_digests(at(team, today, 9)) == 1
    [digest] = digests(team.manager)
    assert digest.title == "2 expenses wait for your approval"
    assert "12.00" in digest.body and "Taxi" in digest.body and "Hotel" in digest.body
    assert EmailMessage.objects.filter(recipient=team.manager.user, kind=Kind.APPROVER_DIGEST).count() == 1
    # again the same day, even late: nothing more
    assert send_approver_digests(at(team, today, 23)) == 0
    assert len(digests(team.manager)) == 1

    # the next day, with one decided meanwhile: a new digest with what still waits
    services.expense_approve(actor=team.manager, expense_id=first.pk)
    assert send_approver_digests(at(team, today + dt.timedelta(days=1), 8)) == 1
    assert digests(team.manager)[-1].title == "1 expense waits for your approval"
    assert DigestSent.objects.filter(user=team.manager.user).count() == 2


def test_no_digest_when_nothing_waits_or_for_approvers_who_did_not_choose_it():
    team = make_team()
    choose_digest(team.manager)
    assert send_approver_digests(at(team, team.org.today(), 10)) == 0
    team.expense(submit=True)
    preference_set(user=team.manager.user, kind=Kind.EXPENSE_SUBMITTED, in_app=True, email=True, digest=False)
    assert send_approver_digests(at(team, team.org.today(), 10)) == 0
    assert not DigestSent.objects.exists()


def test_a_digest_row_for_the_day_blocks_a_second_send_at_the_database():
    # two beats racing: the unique (user, day) row lets only one notification through
    team = make_team()
    choose_digest(team.manager)
    team.expense(submit=True)
    day = team.org.today()
    DigestSent.objects.create(user=team.manager.user, day=day, waiting=1)
    assert send_approver_digests(at(team, day, 9)) == 0
    assert digests(team.manager) == []


def test_only_submissions_can_be_collected_in_a_digest():
    team = make_team()
    with pytest.raises(DomainError) as refused:
        preference_set(user=team.employee.user, kind=Kind.EXPENSE_APPROVED, in_app=True, email=True, digest=True)
    assert refused.value.code == "invalid"
