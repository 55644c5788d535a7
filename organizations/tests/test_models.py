"""The organisation's own calendar and the currencies it may keep its books in."""

from __future__ import annotations

import datetime as dt

import pytest

from organizations.models import Organization, organization_currencies


def test_book_currencies_do_not_depend_on_any_date():
    codes = {code for code, _ in organization_currencies()}
    assert {"EUR", "GBP", "USD", "CHF"} <= codes
    assert "BGN" not in codes  # CLDR records its end (2026-01-31), whatever today is on this server
    assert "KWD" not in codes and "JPY" in codes  # books are kept to the cent at most (yen have no cents)


@pytest.mark.parametrize(("time_zone", "day"), [("Pacific/Auckland", dt.date(2026, 1, 1)),
                                                ("America/Los_Angeles", dt.date(2025, 12, 31))])
def test_date_of_is_the_date_where_the_organisation_is(time_zone, day):
    moment = dt.datetime(2026, 1, 1, 7, 30, tzinfo=dt.UTC)  # 20:30 in Auckland, 23:30 the day before in LA
    assert Organization(time_zone=time_zone).date_of(moment) == day
