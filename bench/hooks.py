"""What the benchmark changes in the processes it starts, installed from here and nowhere in the
product (loaded by ``bench.subscribers``, i.e. through OUTLAY_EXTRA_SUBSCRIBERS, after every app's
subscribers are registered):

* ``BENCH_SUBSCRIBER_IO_MS=N``: every handler first sleeps N ms, inside its transaction (the
  simulated I/O of a subscriber that calls out), by wrapping the registered handlers.
* ``BENCH_SYNC_DELIVERY=1`` (web process): the naive synchronous design the outbox is compared
  with: at the commit, every delivery runs inside the request, before its response, instead of
  one fan-out message.
* ``BENCH_NO_BATCH_FORMS=1`` (worker): every delivery goes through its subscriber's per-event
  handler (the batch forms are dropped), to compare with the batch forms' drain rate.
* always: ``GET /bench/floor/<expense id>/``, the bare endpoint of ``bench.floor`` (issue 24's floor).
"""

from __future__ import annotations

import functools
import os
import time

from bench import floor
from events.registry import Subscriber, wrap_handlers
from events.running import run_delivery
from events.sending import route_committed_deliveries


def _with_simulated_io(seconds: float):
    def wrap(sub: Subscriber):
        handler = sub.handler

        @functools.wraps(handler)
        def slow(event, envelope):
            time.sleep(seconds)
            return handler(event, envelope)

        return slow

    return wrap


def _run_in_request(deliveries: list[tuple[int, str]]) -> None:
    for delivery_id, _ in deliveries:
        run_delivery(delivery_id)


def install() -> None:
    floor.mount()
    io_ms = float(os.environ.get("BENCH_SUBSCRIBER_IO_MS", "0") or 0)
    if io_ms:
        wrap_handlers(_with_simulated_io(io_ms / 1000))
    elif os.environ.get("BENCH_NO_BATCH_FORMS", "").lower() in ("1", "true", "yes", "on"):
        wrap_handlers(lambda sub: sub.handler)  # the same handlers, without their batch forms
    if os.environ.get("BENCH_SYNC_DELIVERY", "").lower() in ("1", "true", "yes", "on"):
        # at the commit, before the response: the caller waits for every subscriber (what the
        # design is compared with), not after it as the product's own sends go
        route_committed_deliveries(_run_in_request, before_the_response=True)
