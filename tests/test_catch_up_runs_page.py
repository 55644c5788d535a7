"""The operations page shows backfills and mass replays (issue 21): progress, rate, time left and
whether a run stopped; an organisation sees its own replays' counts, the installation's runs only
as a share, and never another organisation's replay. Its "replay all" is a resumable run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from events.models import BackfillRun, Delivery, DeliveryStatus, ReplayRun
from events.publishing import publish
from events.queries import catch_up_runs
from expenses.tests.factories import make_team
from organizations.tests.factories import OrganizationFactory
from tests.support.subscribers import Pinged

pytestmark = pytest.mark.django_db


def _dead_letters(n: int, *, organization_id: int) -> None:
    with transaction.atomic():
        events = [publish(Pinged(key=f"m{i}"), organization_id=organization_id) for i in range(n)]
    Delivery.objects.filter(event__in=[e.id for e in events], subscriber="test.record").update(
        status=DeliveryStatus.DEAD, attempts=5, last_error="boom")


def test_the_operations_page_shows_backfills_and_this_organisations_replays():
    team = make_team()
    other = OrganizationFactory()
    now = timezone.now()
    started = now - timedelta(seconds=100)
    BackfillRun.objects.create(subscriber="ledger.late", events_total=1000, events_done=250, started_at=started,
                               updated_at=now)
    ReplayRun.objects.create(organization_id=team.org.pk, selection={"status": "dead"}, description="every dead letter",
                             total=400, done=100, started_at=started, updated_at=now - timedelta(minutes=10))
    ReplayRun.objects.create(organization_id=other.pk, selection={"status": "dead"}, description="the other org's",
                             total=9, done=9, started_at=started, updated_at=now, finished_at=now)

    admin = Client()
    admin.force_login(team.admin.user)
    page = admin.get(reverse("operations"))

    assert page.status_code == 200
    runs = {run.what: run for run in page.context["runs"]}
    assert set(runs) == {"ledger.late", "every dead letter"}  # not another organisation's replay
    backfill, replay = runs["ledger.late"], runs["every dead letter"]
    assert (backfill.percent, backfill.rate, backfill.seconds_left) == (25, pytest.approx(2.5), pytest.approx(300))
    assert (replay.percent, replay.own, replay.quiet_seconds >= 600) == (25, True, True)
    html = page.content.decode()
    assert "Backfill of ledger.late" in html and 'value="25"' in html
    assert "Replay of every dead letter" in html and "(100 of 400)" in html
    assert "no progress for" in html  # the stopped replay says so, and how to resume it
    assert not backfill.own and "250 of" not in html  # the installation's counts are shown as a share
    assert catch_up_runs(organization_id=other.pk)[0].what == "ledger.late"


def test_replaying_every_dead_letter_from_the_operations_page_records_a_resumable_run(settings):
    settings.OUTBOX_BATCH_SIZE = 5
    team = make_team()
    _dead_letters(12, organization_id=team.org.pk)
    _dead_letters(4, organization_id=OrganizationFactory().pk)

    admin = Client()
    admin.force_login(team.admin.user)
    response = admin.post(reverse("ops-replay"))

    assert response.status_code == 302
    (run,) = ReplayRun.objects.all()
    assert (run.organization_id, run.selection, run.done, run.finished_at is not None) == (
        team.org.pk, {"status": "dead"}, 12, True)
    assert Delivery.objects.filter(status=DeliveryStatus.DEAD).count() == 4  # the other organisation's stay


def test_the_admin_lists_replay_runs_with_their_progress_and_rate(django_user_model):
    now = timezone.now()
    ReplayRun.objects.create(organization_id=None, selection={"status": "dead"}, description="dead deliveries",
                             total=400, done=100, started_at=now - timedelta(seconds=50), updated_at=now)
    operator = Client()
    operator.force_login(django_user_model.objects.create_superuser("ops", "ops@example.com", "x" * 20))
    page = operator.get(reverse("admin:events_replayrun_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "100 / 400 (25%)" in html and "<td class=\"field-rate\">2</td>" in html
