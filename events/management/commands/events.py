"""`manage.py events status|catalogue|replay|backfill|sweep` - operate the event bus."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from events import replaying, sending
from events.models import DeliveryStatus
from events.queries import catalogue, status_counts


def _when(value: str | None):
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"not an ISO 8601 datetime: {value!r}")
    return parsed


class Command(BaseCommand):
    help = "Operate the event bus: status, catalogue, replay, backfill, sweep."

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
        backfill = sub.add_parser("backfill", help="deliver past events to a subscriber added later")
        backfill.add_argument("subscriber")
        backfill.add_argument("--since")
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

    def do_replay(self, ids=None, subscriber=None, event_type=None, status="dead", since=None, until=None, **_):
        qs = replaying.deliveries_matching(ids=ids, subscriber=subscriber, event_type=event_type, status=status,
                                              since=_when(since), until=_when(until))
        count = replaying.replay(qs)
        self.stdout.write(f"replayed {count} deliveries")

    def do_backfill(self, subscriber, since=None, **_):
        try:
            count = replaying.backfill(subscriber, since=_when(since))
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"created {count} deliveries for {subscriber}; the sweeper sends them")

    def do_sweep(self, **_):
        self.stdout.write(f"sent {sending.sweep()} deliveries")


def _dumps(value) -> str:
    return json.dumps(value, indent=2, default=str)
