"""Frozen clocks for date-sensitive tests (a pytest plugin, loaded by the root conftest).

A test marked ``@pytest.mark.clock`` runs once on the real clock and once more at each moment
in ``CLOCKS``: a month's first and last day, just after and just before midnight where the
organisation is (so its date differs from the server's UTC date), and the night after a DST
change. Organisations the test creates through ``OrganizationFactory`` get that moment's time
zone, so "today" must come from the organisation (``Organization.today()``), never from the
server's ``date.today()``: a test or a view that uses the server's date fails in one of them.

The clock ticks from the chosen moment (``tick=True``), so code that waits or measures still
sees time pass; each moment is minutes away from any date change. The moments lie in the past
so the database's own ``now()`` is never behind Python's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import time_machine


@dataclass(frozen=True)
class Moment:
    local: str  # wall-clock time where the organisation is, ISO 8601
    time_zone: str

    @property
    def utc(self) -> dt.datetime:
        # Handed to time-machine in UTC on purpose: a ZoneInfo datetime would also move the
        # process's TZ, and the server's date.today() would then look right by accident.
        local = dt.datetime.fromisoformat(self.local).replace(tzinfo=zoneinfo.ZoneInfo(self.time_zone))
        return local.astimezone(dt.UTC)


CLOCKS: dict[str, Moment | None] = {
    "real": None,
    "first-day": Moment("2026-02-01T10:00", "Europe/Berlin"),
    "last-day": Moment("2026-02-28T16:00", "Europe/Berlin"),
    # 00:05 on New Year's Day in Auckland is 11:05 on 31 December in UTC: the server is a month
    # (and a year) behind the organisation.
    "org-after-midnight": Moment("2026-01-01T00:05", "Pacific/Auckland"),
    # 23:55 on 31 March in Los Angeles is 06:55 on 1 April in UTC: the server is a month ahead.
    "org-before-midnight": Moment("2026-03-31T23:55", "America/Los_Angeles"),
    # Berlin moved its clocks forward on 29 March 2026: 00:30 on the 30th is 22:30 UTC on the
    # 29th, and 24 hours earlier is 23:30 on the 28th locally, two dates back, not one.
    "after-dst-change": Moment("2026-03-30T00:30", "Europe/Berlin"),
}

_time_zone = ["UTC"]


def organization_time_zone() -> str:
    """The time zone ``OrganizationFactory`` gives new organisations (UTC on the real clock)."""
    return _time_zone[-1]


@contextlib.contextmanager
def frozen_at(moment: Moment) -> Iterator[Moment]:
    """Python's clock at ``moment`` (ticking) and new organisations in its time zone."""
    _time_zone.append(moment.time_zone)
    try:
        with time_machine.travel(moment.utc, tick=True):
            yield moment
    finally:
        _time_zone.pop()


def pytest_generate_tests(metafunc) -> None:
    if metafunc.definition.get_closest_marker("clock") and "frozen_clock" in metafunc.fixturenames:
        metafunc.parametrize("frozen_clock", list(CLOCKS), indirect=True)


@pytest.fixture(autouse=True)
def frozen_clock(request) -> Iterator[Moment | None]:
    """The moment a ``clock``-marked test runs at (None: the real clock). Autouse so that it is
    set up before any fixture that creates an organisation."""
    moment = CLOCKS[getattr(request, "param", "real")]
    if moment is None:
        yield None
        return
    with frozen_at(moment):
        yield moment
