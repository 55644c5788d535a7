"""The bus's own Prometheus instruments, counted by the processes that do the work (workers,
beat). They are exported by ``/metrics`` (``observability``) through prometheus_client's
multiprocess files; the gauges of the outbox's state are read from the tables at scrape time
instead. Labels are subscriber names, outcomes and reasons: never an id."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone
from prometheus_client import Counter, Histogram

DELIVERY_SECONDS = Histogram(
    "outlay_outbox_delivery_seconds", "From the event's commit to its delivery done.", ["subscriber"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, float("inf")))
ATTEMPTS = Counter("outlay_outbox_attempts_total", "Delivery attempts by subscriber and outcome.",
                   ["subscriber", "outcome"])
SWEEPER_RESENDS = Counter("outlay_outbox_sweeper_resends_total", "Deliveries the sweeper sent again, by reason.",
                          ["reason"])


def _on() -> bool:
    # Counting is on with /metrics (METRICS_TOKEN set): otherwise these return at once.
    return bool(settings.METRICS_TOKEN)


def attempt_finished(subscriber: str, outcome: str, occurred_at: datetime) -> None:
    """One delivery attempt ended: ``outcome`` is what ``run_delivery`` answered ("done",
    "failed", "dead"; "skipped: ..." is no attempt and is not counted)."""
    if not _on() or outcome.startswith("skipped"):
        return
    ATTEMPTS.labels(subscriber, "ok" if outcome == "done" else outcome).inc()
    if outcome == "done":
        DELIVERY_SECONDS.labels(subscriber).observe(max((timezone.now() - occurred_at).total_seconds(), 0.0))


def sweeper_resent(*, retries: int, lost_messages: int, lease_expired: int) -> None:
    """What one sweep sent again, by reason: a retry that came due, a never-claimed delivery
    whose message the broker lost, a delivery whose worker died or whose lease ran out."""
    if not _on():
        return
    for reason, count in (("retry", retries), ("lost_message", lost_messages), ("lease_expired", lease_expired)):
        if count:
            SWEEPER_RESENDS.labels(reason).inc(count)
