"""Amounts and dates in an organisation's locale (Babel, CLDR data): an organisation in Berlin
types ``1,50`` and reads ``30.11.2026``; one in London types ``1.50``. Only the pages use these;
the API keeps plain decimal strings and ISO dates. Every amount on a page goes through
``format_amount``, so showing an original and a converted amount side by side is one change."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import NumberFormatError, format_decimal, parse_decimal
from django.core.exceptions import ValidationError

AMOUNT_PATTERN = "#,##0.00"


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
    return f"{format_decimal(Decimal(str(amount)), format=AMOUNT_PATTERN, locale=locale)} {currency}".strip()


def format_day(day: dt.date | None, locale: str) -> str:
    """``30.11.2026`` in de_DE, ``30 Nov 2026`` in en_GB."""
    return "" if day is None else format_date(day, format="medium", locale=locale)


def parse_amount(text: str, locale: str) -> str:
    """What a member typed, in their organisation's locale, as a plain decimal string for the
    commands ("1,50" in de_DE is "1.50"). Raises ValueError, with an example, for anything else."""
    value = (text or "").strip().replace("\u00a0", " ")
    try:
        return str(parse_decimal(value, locale=locale, strict=True))
    except NumberFormatError:
        raise ValueError(f"{text!r} is not an amount; write it like {amount_example(locale)}.") from None


def amount_example(locale: str) -> str:
    return format_decimal(Decimal("12.50"), format=AMOUNT_PATTERN, locale=locale)
