"""A mass replay (issue 21): more dead letters than one batch are reset in set-based chunks, with
a run row that counts them, resumes at its cursor, and shows its progress on the terminal and on
the operations page (``tests/test_catch_up_runs_page.py``); a few are reset at once, as before.
(Killed mid-way under a real worker: ``test_batches.py``.)"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from events import replaying
from events.models import Delivery, DeliveryStatus, ReplayRun
from events.publishing import publish
from tests.support.subscribers import Pinged

pytestmark = pytest.mark.django_db


def _dead_letters(n: int, *, organization_id: int = 1, subscriber: str = "test.record") -> list[int]:
    with transaction.atomic():
        events = [publish(Pinged(key=f"m{i}"), organization_id=organization_id) for i in range(n)]
    dead = Delivery.objects.filter(event__in=[e.id for e in events], subscriber=subscriber)
    dead.update(status=DeliveryStatus.DEAD, attempts=5, last_error="boom")
    return sorted(dead.values_list("pk", flat=True))


def test_a_mass_replay_resets_in_chunks_and_counts_them_on_its_run():
    dead = _dead_letters(120)
    done = Delivery.objects.get(pk=dead[7])
    Delivery.objects.filter(pk=done.pk).update(status=DeliveryStatus.DONE, done_at=timezone.now())
    seen = []

    count = replaying.replay(Delivery.objects.filter(subscriber="test.record"), selection={"subscriber": "test.record"},
                             description="test", batch=50, progress=lambda run: seen.append(run.done))

    assert count == 119
    assert seen == [0, 50, 100, 119]  # the run as it starts, then after each chunk's commit
    (run,) = ReplayRun.objects.all()
    assert (run.total, run.done, run.cursor_id, run.finished_at is not None) == (119, 119, dead[-1], True)
    replayed = Delivery.objects.filter(pk__in=dead).exclude(pk=done.pk)
    assert set(replayed.values_list("status", "attempts")) == {(DeliveryStatus.PENDING, 0)}
    assert Delivery.objects.get(pk=done.pk).status == DeliveryStatus.DONE  # never repeats an effect


def test_a_few_are_replayed_at_once_without_a_run():
    dead = _dead_letters(3)
    assert replaying.replay(Delivery.objects.filter(pk__in=dead), selection={"ids": dead}) == 3
    assert not ReplayRun.objects.exists()
    assert set(Delivery.objects.filter(pk__in=dead).values_list("status", flat=True)) == {DeliveryStatus.PENDING}


def test_a_stopped_mass_replay_resumes_at_its_cursor_with_the_same_selection():
    dead = _dead_letters(120)
    selection = {"subscriber": "test.record", "status": "dead"}

    def stop_after_the_first_chunk(run):
        if run.done:
            raise KeyboardInterrupt  # Ctrl-C between two chunks; a kill inside one rolls that chunk back

    with pytest.raises(KeyboardInterrupt):
        replaying.replay(replaying.deliveries_matching(**selection), selection=selection, batch=50,
                         progress=stop_after_the_first_chunk)
    (run,) = ReplayRun.objects.all()
    assert (run.done, run.cursor_id, run.finished_at) == (50, dead[49], None)
    # the first chunk's deliveries ran meanwhile (a worker): the resumed run must not look at them
    Delivery.objects.filter(pk__in=dead[:50]).update(status=DeliveryStatus.DONE, done_at=timezone.now())

    out = StringIO()
    call_command("events", "replay", "--subscriber", "test.record", "--batch", "50", "--no-progress", stdout=out)

    assert "replayed 120 deliveries" in out.getvalue()
    (resumed,) = ReplayRun.objects.all()
    assert resumed.pk == run.pk and resumed.done == 120 and resumed.finished_at is not None
    assert set(Delivery.objects.filter(pk__in=dead[50:]).values_list("status", flat=True)) == {DeliveryStatus.PENDING}
    assert set(Delivery.objects.filter(pk__in=dead[:50]).values_list("status", flat=True)) == {DeliveryStatus.DONE}


def test_the_replay_command_draws_a_progress_bar_with_its_rate(capsys):
    _dead_letters(60)
    out = StringIO()
    call_command("events", "replay", "--subscriber", "test.record", "--batch", "25", stdout=out)
    assert "replayed 60 deliveries" in out.getvalue()
    bar = capsys.readouterr().err
    assert "replay" in bar and "60/60" in bar and "/s" in bar


@pytest.mark.parametrize("drains", [0, -1, 1.5, True, "2"])
def test_a_subscriber_declares_at_least_one_drain(drains):
    from events.registry import subscriber

    with pytest.raises(ValueError, match="drains is a whole number of at least 1"):
        subscriber("test.pinged", name="test.bad-drains", drains=drains)
