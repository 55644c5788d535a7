"""The one retry back-off: the outbox's deliveries and the notification e-mails both wait by it."""

from __future__ import annotations

import random


def backoff_seconds(attempts: int, *, base: float, cap: float) -> float:
    """Delay before try ``attempts + 1``: exponential from ``base``, capped at ``cap``, jittered
    within its upper half.

    "Equal jitter" rather than full jitter: a full-jitter delay can be ~0, which retries a
    failing dependency at once and lets a later delay be shorter than an earlier one. Keeping
    each delay in [d/2, d] spreads retries out and still makes every gap longer than the last.
    """
    ceiling = min(cap, base * 2 ** (max(attempts, 1) - 1))
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
