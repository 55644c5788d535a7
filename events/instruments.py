"""The bus's own Prometheus instruments, counted by the processes that do the work (workers,
beat). They are exported by ``/metrics`` (``observability``) through prometheus_client's
multiprocess files; the gauges of the outbox's state are read from the tables at scrape time
instead. Labels are subscriber names, outcomes and reasons: never an id."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DELIVERY_SECONDS = Histogram(
    "outlay_outbox_delivery_seconds", "From the event's commit to its delivery done.", ["subscriber"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, float("inf")))
ATTEMPTS = Counter("outlay_outbox_attempts_total", "Delivery attempts by subscriber and outcome.",
                   ["subscriber", "outcome"])
SWEEPER_RESENDS = Counter("outlay_outbox_sweeper_resends_total", "Deliveries the sweeper sent again, by reason.",
                          ["reason"])
