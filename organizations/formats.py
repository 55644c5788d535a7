"""Amounts and dates in an organisation's locale (Babel, CLDR data): an organisation in Berlin
types ``1,50`` and reads ``30.11.2026``; one in London types ``1.50``. Only the pages use these;
the API keeps plain decimal strings and ISO dates. Every amount on a page goes through
``format_amount``, so showing an original and a converted amount side by side is one change."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton
from babel.numbers import NumberFormatError, format_decimal, parse_decimal, parse_pattern
from django.core.exceptions import ValidationError

AMOUNT_PATTERN = "#,##0.00"
WHOLE_PATTERN = "#,##0"
# Parsed once: Babel parses a pattern given as text, and looks the locale up, on every call
# (20 us an amount, 8 us with both parsed; a page of 20 expenses writes 40 amounts).
_PATTERNS = {False: parse_pattern(AMOUNT_PATTERN), True: parse_pattern(WHOLE_PATTERN)}


@functools.lru_cache(maxsize=256)
def _locale(name: str) -> Locale:
    return Locale.parse(name)


def validate_locale(value: str) -> None:
    try:
        Locale.parse(value)
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValidationError(f"{value!r} is not a locale (e.g. en_GB, de_DE).", code="invalid_locale") from None


def format_amount(amount: Decimal | int | str | None, currency: str, locale: str) -> str:
    """``1.234,50 EUR`` in de_DE, ``1,234.50 EUR`` in en_GB: the number as the locale writes
    it, the ISO code after it (unambiguous for every currency)."""
    if amount is None or amount == "":
        return ""
    return f"{format_number(amount, locale)} {currency}".strip()


def format_number(amount: Decimal | int | str | None, locale: str, *, whole: bool = False) -> str:
    """``1.234,50`` in de_DE, ``1,234.50`` in en_GB (``whole``: ``1.235``, for a chart's axis),
    where a heading already names the currency."""
    if amount is None or amount == "":
        return ""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    return format_decimal(value, format=_PATTERNS[whole], locale=_locale(locale))


def format_day(day: dt.date | None, locale: str) -> str:
    """``30.11.2026`` in de_DE, ``30 Nov 2026`` in en_GB."""
    return "" if day is None else format_date(day, format="medium", locale=locale)


def format_month(day: dt.date, locale: str, *, short: bool = False) -> str:
    """``November 2026`` / ``Nov. 2026`` in de_DE, ``November 2026`` / ``Nov ’26`` in en_GB (CLDR's
    year-month skeletons, so each locale orders and abbreviates its own way)."""
    return format_skeleton("MMMyy" if short else "yMMMM", day, locale=locale)


def parse_amount(text: str, locale: str) -> str:
    """What a member typed, in their organisation's locale, as a plain decimal string for the
    commands ("1,50" in de_DE is "1.50"). Raises ValueError, with an example, for anything else."""
    value = (text or "").strip().replace("\u00a0", " ")
    # Babel hands the digits to Decimal(), which also takes other scripts' digits ("١٢") and
    # underscores ("1_000"): only 0-9 are digits in an amount (issue 17; core.amounts for the API).
    if "_" in value or any(char.isdigit() and char not in "0123456789" for char in value):
        raise ValueError(f"{text!r} is not an amount; write it like {amount_example(locale)}.")
    try:
        return str(parse_decimal(value, locale=locale, strict=True))
    except NumberFormatError:
        raise ValueError(f"{text!r} is not an amount; write it like {amount_example(locale)}.") from None


def amount_example(locale: str) -> str:
    return format_decimal(Decimal("12.50"), format=AMOUNT_PATTERN, locale=locale)
