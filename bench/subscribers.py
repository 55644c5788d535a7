"""Bench-only subscribers and tasks, loaded through OUTLAY_EXTRA_SUBSCRIBERS=bench.subscribers.

``BENCH_EXTRA_SUBSCRIBERS=N`` registers N more subscribers of ``expense.approved`` (fan-out
scenario); each does nothing but the simulated I/O that every handler gets in a bench run.
``bench.noop`` is the raw Celery no-op task for the "machine's limit" scenario. The measurement
switches (simulated I/O, synchronous baseline) are installed last, by ``bench.hooks``.
"""

from __future__ import annotations

import os

import redis
from celery import shared_task
from django.conf import settings

from bench import hooks
from events.registry import subscriber


def _extra(event, envelope) -> None:
    """A bench subscriber with no effect of its own."""


for _i in range(int(os.environ.get("BENCH_EXTRA_SUBSCRIBERS", "0"))):
    subscriber("expense.approved", name=f"bench.extra_{_i:02d}")(_extra)

hooks.install()  # after the extra subscribers, so that they get the simulated I/O as well


@shared_task(name="bench.noop", ignore_result=True)
def noop() -> None:
    redis.Redis.from_url(settings.REDIS_URL).incr("bench:noop")
