"""Subscribers that exist only in the fault suite: one that fails for a while, one that is slow."""

from __future__ import annotations

import os
import time
from pathlib import Path

from events.registry import subscriber


@subscriber("expense.approved", name="faults.flaky", max_attempts=3, timeout=5)
def flaky(event, envelope) -> None:
    """Fails while the fault suite's flag file exists (a downstream system that is down)."""
    flag = os.environ.get("FAULT_FLAG_FILE")
    if flag and Path(flag).exists():
        raise ConnectionError("downstream system unavailable (fault injected)")


# Eight drains at once, one per thread of its worker (suite.SLOW_THREADS): with one, a backlog
# would be worked off one 100 ms wait at a time.
@subscriber("expense.approved", name="faults.slow", queue="slow", timeout=10, drains=8)
def slow(event, envelope) -> None:
    """A slow integration on its own queue: it lags, the other subscribers do not."""
    time.sleep(0.1)
