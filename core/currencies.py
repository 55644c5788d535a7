"""Currencies from CLDR through Babel: which ISO 4217 codes are in use, their minor units, the one
rounding rule, and the one way an amount is written.

Babel ships the Unicode CLDR currency data (territories, legal tender and its dates, fraction
digits), kept up to date by its maintainers: a hand-made table goes stale (BGN stopped being
legal tender when Bulgaria joined the euro). Every other module asks here; the UI formats amounts
for a locale through ``format_money``.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel import numbers as babel_numbers
from babel.core import get_global


@lru_cache(maxsize=8)
def active_currencies(on: dt.date) -> frozenset[str]:
    """ISO 4217 codes that are legal tender somewhere on ``on`` (CLDR's territory currencies)."""
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(babel_numbers.get_territory_currencies(territory, start_date=on, end_date=on, tender=True))
    return frozenset(codes)


@lru_cache(maxsize=1)
def current_currencies() -> frozenset[str]:
    """ISO 4217 codes that are legal tender somewhere with no end date in CLDR: the list does not
    depend on anyone's clock (a currency whose end CLDR already records is not offered, even in
    its last days), so it reads the same on every server and in every time zone."""
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(item["currency"] for item in babel_numbers.get_territory_currencies(
            territory, start_date=dt.date.min, end_date=dt.date.max, tender=True, include_details=True)
            if item["to"] is None)
    return frozenset(codes)


def is_active(code: str, on: dt.date) -> bool:
    return code in active_currencies(on)


def minor_units(code: str) -> int:
    """Decimals of the currency's minor unit: JPY 0, EUR 2, KWD 3 (CLDR fraction digits)."""
    return babel_numbers.get_currency_precision(code)


def exponent(code: str) -> Decimal:
    """``Decimal('1')``, ``Decimal('0.01')`` or ``Decimal('0.001')``: the currency's minor unit."""
    return Decimal(1).scaleb(-minor_units(code))


def round_half_up(amount: Decimal, code: str) -> Decimal:
    """The one rounding rule: half up (away from zero) to the currency's minor unit."""
    return amount.quantize(exponent(code), rounding=ROUND_HALF_UP)


def has_minor_units_of(amount: Decimal, code: str) -> bool:
    """``amount`` needs no more decimals than the currency has (12.5 JPY does not)."""
    return amount == amount.quantize(exponent(code))


def plain(amount: Decimal, code: str) -> str:
    """The amount with exactly the currency's decimals, ASCII, no grouping: "1500", "12.50",
    "3.125" (API bodies, events, files)."""
    return f"{amount.quantize(exponent(code)):f}"


def format_money(amount: Decimal, code: str, locale: str | None = None) -> str:
    """An amount for people: "120.00 USD" without a locale; with one, Babel's locale format
    ("120,00 $" in de_DE), always with the currency's own decimals."""
    if locale is None:
        return f"{plain(amount, code)} {code}"
    return babel_numbers.format_currency(amount, code, locale=locale, currency_digits=True)


def currency_name(code: str, locale: str = "en") -> str:
    return babel_numbers.get_currency_name(code, locale=locale)


def format_rate(rate: Decimal) -> str:
    """A rate as people read it: at least four decimals, at most ten, no trailing zeros past four."""
    text = f"{rate:.10f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(4, '0')}"
