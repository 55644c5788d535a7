"""`manage.py events status|catalogue|replay|backfill|prune|sweep` - operate the event bus."""

from __future__ import annotations

import contextlib
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from events import replaying, retention, sending
from events.models import BackfillRun, DeliveryStatus, ReplayRun
from events.queries import catalogue, run_progress, status_counts


def _when(value: str | None):
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"not an ISO 8601 datetime: {value!r}")
    return parsed


class Command(BaseCommand):
    help = "Operate the event bus: status, catalogue, replay, backfill, prune, sweep."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="deliveries per subscriber and status")
        status.add_argument("--json", action="store_true")
        cat = sub.add_parser("catalogue", help="every event type, its fields, publisher and subscribers")
        cat.add_argument("--json", action="store_true")
        replay = sub.add_parser("replay", help="reset dead (or failing) deliveries and send them")
        replay.add_argument("--id", type=int, action="append", dest="ids")
        replay.add_argument("--subscriber")
        replay.add_argument("--event-type")
        replay.add_argument("--status", default=DeliveryStatus.DEAD, choices=["dead", "pending"])
        replay.add_argument("--since")
        replay.add_argument("--until")
        replay.add_argument("--batch", type=int, help="deliveries per statement (OUTBOX_BACKFILL_BATCH)")
        replay.add_argument("--max-waiting", type=int,
                            help="pause while this many of a subscriber's wait (OUTBOX_BACKFILL_MAX_WAITING)")
        replay.add_argument("--no-progress", action="store_true", help="no progress bar, one line at the end")
        backfill = sub.add_parser("backfill", help="deliver past events to a subscriber added later")
        backfill.add_argument("subscriber")
        backfill.add_argument("--since")
        backfill.add_argument("--batch", type=int, help="events per statement (OUTBOX_BACKFILL_BATCH)")
        backfill.add_argument("--max-waiting", type=int,
                              help="pause while this many of its deliveries wait (OUTBOX_BACKFILL_MAX_WAITING)")
        backfill.add_argument("--no-progress", action="store_true", help="no progress bar, one line at the end")
        prune = sub.add_parser("prune", help="delete done deliveries past their retention (the events stay)")
        prune.add_argument("--days", type=float,
                           help="retention in days (OUTBOX_DELIVERY_RETENTION_DAYS); done before that: deleted")
        prune.add_argument("--batch", type=int, help="deliveries per statement (OUTBOX_PRUNE_BATCH)")
        prune.add_argument("--no-progress", action="store_true", help="no progress line, one line at the end")
        sub.add_parser("sweep", help="send due deliveries now (what beat does every few seconds)")

    def handle(self, *args, action, **options):
        getattr(self, f"do_{action}")(**options)

    def do_status(self, json=False, **_):
        rows = status_counts()
        if json:
            self.stdout.write(_dumps(rows))
            return
        self.stdout.write(f"{'subscriber':45} {'pending':>8} {'in_flight':>9} {'done':>8} {'dead':>6} "
                          f"{'oldest pending':>15}")
        for row in rows:
            age = row["oldest_pending_seconds"]
            self.stdout.write(f"{row['subscriber']:45} {row['pending']:>8} {row['in_flight']:>9} {row['done']:>8} "
                              f"{row['dead']:>6} {'-' if age is None else f'{age:.0f}s':>15}")
        self.stdout.write(f"dead letters: {sum(row['dead'] for row in rows)}")
        for run in BackfillRun.objects.filter(finished_at__isnull=True):
            self.stdout.write(f"backfill of {run.subscriber} unfinished: {run.events_done:,} of {run.events_total:,} "
                              f"events ({run.fraction:.0%}); run it again to resume")
        for run in ReplayRun.objects.filter(finished_at__isnull=True):
            self.stdout.write(f"replay of {run.description} unfinished: {run.done:,} of {run.total:,} "
                              f"({run.fraction:.0%}); the same replay command resumes it")

    def do_catalogue(self, json=False, **_):
        entries = catalogue()
        if json:
            self.stdout.write(_dumps(entries))
            return
        for entry in entries:
            self.stdout.write(f"{entry['type']} v{entry['version']}  (published by {entry['publisher']}, "
                              f"aggregate {entry['aggregate']})")
            for field in entry["fields"]:
                self.stdout.write(f"    {field['name']}: {field['type']}")
            names = ", ".join(s["name"] for s in entry["subscribers"]) or "none"
            self.stdout.write(f"  subscribers: {names}")

    def do_replay(self, ids=None, subscriber=None, event_type=None, status="dead", since=None, until=None,
                  batch=None, max_waiting=None, no_progress=False, **_):
        """A mass replay can be stopped at any time too: the same command resumes at its cursor."""
        selection = {"ids": sorted(ids) if ids else None, "subscriber": subscriber, "event_type": event_type,
                     "status": status, "since": since, "until": until}
        qs = replaying.deliveries_matching(ids=ids, subscriber=subscriber, event_type=event_type, status=status,
                                           since=_when(since), until=_when(until))
        described = ", ".join(f"{key}={value}" for key, value in selection.items() if value and key != "ids")
        with contextlib.ExitStack() as stack:
            report = None if no_progress else _progress_bar(stack, "replay")
            count = replaying.replay(qs, selection={k: v for k, v in selection.items() if v is not None},
                                     description=f"{status} deliveries" + (f" ({described})" if described else "")
                                     + (f", {len(ids)} ids" if ids else ""),
                                     batch=batch, max_waiting=max_waiting or settings.OUTBOX_BACKFILL_MAX_WAITING,
                                     progress=report)
        self.stdout.write(f"replayed {count} deliveries")

    def do_backfill(self, subscriber, since=None, batch=None, max_waiting=None, no_progress=False, **_):
        """Stop it at any time (Ctrl-C, or a kill): the same command resumes where it stopped."""
        with contextlib.ExitStack() as stack:
            report = None if no_progress else _progress_bar(stack, f"backfill {subscriber}")
            try:
                count = replaying.backfill(subscriber, since=_when(since), batch=batch, max_waiting=max_waiting,
                                           progress=report)
            except LookupError as exc:
                raise CommandError(str(exc)) from None
        self.stdout.write(f"created {count} deliveries for {subscriber}; they are delivered in batches")

    def do_prune(self, days=None, batch=None, no_progress=False, **_):
        """Stop it at any time: every chunk committed is done, the next run starts again from the oldest."""
        with contextlib.ExitStack() as stack:
            report = None
            if not no_progress:
                bar = stack.enter_context(Progress(
                    TextColumn("prune done deliveries"), TextColumn("{task.fields[deleted]:,} deleted of"),
                    TextColumn("{task.fields[looked_at]:,} looked at"), console=Console(stderr=True)))
                task = bar.add_task("prune", total=None, deleted=0, looked_at=0)

                def report(result):
                    bar.update(task, deleted=result.deleted, looked_at=result.looked_at)
            result = retention.prune_deliveries(days, batch=batch, progress=report)
        self.stdout.write(f"pruned {result.deleted} done deliveries ({result.looked_at} looked at in "
                          f"{result.chunks} chunks); the events stay")

    def do_sweep(self, **_):
        self.stdout.write(f"sent {sending.sweep()} deliveries")


def _progress_bar(stack: contextlib.ExitStack, label: str):
    """A progress bar on stderr (done of total, share, rate, time left) and the callback that
    moves it from a run row (``BackfillRun`` or ``ReplayRun``)."""
    bar = stack.enter_context(Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]}/s"), TimeRemainingColumn(), console=Console(stderr=True)))
    task = bar.add_task(label, total=None, rate="-")

    def report(run):
        progress = run_progress(run)
        bar.update(task, total=progress.total, completed=progress.done,
                   rate="-" if progress.rate is None else f"{progress.rate:,.0f}")
    return report


def _dumps(value) -> str:
    return json.dumps(value, indent=2, default=str)
