"""Amounts and dates in the organisation's locale, through Babel."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from organizations.formats import format_amount, format_day, parse_amount, validate_locale


@pytest.mark.parametrize(("text", "locale", "plain"), [
    ("1,50", "de_DE", "1.50"), ("1.234,50", "de_DE", "1234.50"), ("1.50", "en_GB", "1.50"),
    ("1,234.50", "en_GB", "1234.50"), (" 12 ", "de_DE", "12")])
def test_parse_amount_reads_what_the_locale_writes(text, locale, plain):
    assert parse_amount(text, locale) == plain


@pytest.mark.parametrize(("text", "locale"), [("1.50", "de_DE"), ("abc", "de_DE"), ("", "en_GB"),
                                              ("1,5,0", "en_GB")])
def test_parse_amount_refuses_what_the_locale_would_not_write(text, locale):
    with pytest.raises(ValueError, match="write it like"):
        parse_amount(text, locale)


def test_amounts_and_dates_are_written_the_locale_way():
    assert format_amount(Decimal("1234.5"), "EUR", "de_DE") == "1.234,50 EUR"
    assert format_amount(Decimal("1234.5"), "GBP", "en_GB") == "1,234.50 GBP"
    assert format_day(dt.date(2026, 11, 30), "de_DE") == "30.11.2026"
    assert format_day(dt.date(2026, 11, 30), "en_GB") == "30 Nov 2026"


def test_a_locale_babel_does_not_know_is_refused():
    with pytest.raises(ValidationError):
        validate_locale("xx_NOPE")
