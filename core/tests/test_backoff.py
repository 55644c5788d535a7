"""The one back-off: every delay within the upper half of its capped exponential ceiling."""

from __future__ import annotations

from core.backoff import backoff_seconds


def test_each_delay_lies_in_the_upper_half_of_its_ceiling_and_the_ceiling_caps_it():
    for attempts, ceiling in ((1, 2), (2, 4), (3, 8), (9, 512), (10, 600), (40, 600)):
        delays = [backoff_seconds(attempts, base=2, cap=600) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempts, min(delays), max(delays))


def test_every_gap_is_longer_than_the_one_before_until_the_cap():
    # Up to the last uncapped ceiling (30 * 2**6 = 1920 s): each delay's lower bound is then the
    # one before's ceiling. The next ceiling, capped at 3600 s, starts at 1800 s, below 1920 s,
    # so a comparison across the cap held only by chance (it failed once in a full run).
    for attempts in range(1, 7):
        assert backoff_seconds(attempts + 1, base=30, cap=3600) >= backoff_seconds(attempts, base=30, cap=3600)
