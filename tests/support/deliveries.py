"""The one way tests run deliveries in-process (no worker): ``run_deliveries``.

For unit tests of subscribers and flows. Anything about delivery guarantees (retries, crashes,
ordering) uses a real worker instead (``tests/support/processes.py``).
"""

from __future__ import annotations

from events.models import Delivery, DeliveryStatus
from events.running import run_delivery


def run_deliveries(*, subscriber: str | None = None, prefix: str | None = None, done_too: bool = False,
                   times: int = 1) -> list[str]:
    """Run the matching deliveries through ``events.running.run_delivery``; return the outcomes.

    By default: every pending delivery (of ``subscriber``, or of subscribers whose name starts
    with ``prefix``), then those that the handlers' own events added, until a round finds no
    pending delivery it has not run yet (a failing one stays pending for its retry and is not run
    again here). ``done_too`` runs every matching delivery once, done ones included (what a
    duplicated message does). ``times`` repeats the whole thing."""
    outcomes: list[str] = []
    for _ in range(times):
        scope = Delivery.objects.order_by("id")
        if subscriber:
            scope = scope.filter(subscriber=subscriber)
        if prefix:
            scope = scope.filter(subscriber__startswith=prefix)
        if done_too:
            outcomes += [run_delivery(pk) for pk in scope.values_list("pk", flat=True)]
            continue
        seen: set[int] = set()
        while batch := [pk for pk in scope.filter(status=DeliveryStatus.PENDING).values_list("pk", flat=True)
                        if pk not in seen]:
            seen.update(batch)
            outcomes += [run_delivery(pk) for pk in batch]
    return outcomes
