"""A worker runs below the web's CPU priority (``WORKER_NICE``): on a host the web shares, the
requests are served first and the side effects take what they leave."""

from __future__ import annotations

import os

import psutil
import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _niceness(worker) -> list[int]:
    main = psutil.Process(worker.proc.pid)
    return [main.nice(), *(child.nice() for child in main.children(recursive=True))]


def test_the_worker_and_its_pool_processes_run_below_the_web(celery_processes):
    own = os.nice(0)
    worker = celery_processes.worker(concurrency=2, WORKER_NICE="7")
    niceness = _niceness(worker)
    assert len(niceness) >= 3, "the main process and its two pool processes"
    assert niceness == [own + 7] * len(niceness)


def test_zero_leaves_the_priority_alone(celery_processes):
    own = os.nice(0)
    worker = celery_processes.worker(concurrency=1, WORKER_NICE="0")
    assert set(_niceness(worker)) == {own}
