"""Input rules shared by the expense commands: amounts, dates, free text. Each refusal is a
domain error with a stable code (``invalid_amount``, ``amount_too_large``, ``future_date``,
``too_old``, ``invalid``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from core.amounts import NotAnAmount, parse_decimal_string
from core.currencies import exponent, minor_units
from core.text import refuse_invisible_controls

from . import errors


def clean_amount(value: Any, *, maximum: Decimal, currency: str | None = None) -> Decimal:
    """A positive amount, not above ``maximum``, with at most the currency's decimals (two
    without a currency: an amount in the organisation's books).

    ``value`` is an ASCII decimal string (``core.amounts``), or a Decimal that a trusted parser
    (a locale-aware web form) already produced; numbers of other types are refused."""
    if isinstance(value, Decimal):
        amount = value
    else:
        try:
            amount = parse_decimal_string(value)
        except NotAnAmount as refusal:
            raise errors.InvalidAmount(str(refusal)) from None
    if not amount.is_finite():
        raise errors.InvalidAmount("The amount must be a finite number.")
    if amount <= 0:
        raise errors.InvalidAmount("The amount must be greater than zero.")
    # The maximum first: quantizing a huge value ("1e30") would overflow Decimal's precision.
    if amount > maximum:
        raise errors.AmountTooLarge(f"The amount is above the maximum of {maximum} per expense.",
                                    details={"maximum": str(maximum)})
    unit = exponent(currency) if currency else Decimal("0.01")
    if amount != amount.quantize(unit):
        decimals = minor_units(currency) if currency else 2
        raise errors.InvalidAmount(f"The amount can have at most {decimals} decimals"
                                   f"{' in ' + currency if currency else ''}.",
                                   details={"decimals": decimals})
    return amount.quantize(unit)


def clean_incurred_on(value: Any, *, organization) -> dt.date:
    """Not in the future (in the organisation's time zone), not older than its claim window."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise errors.InvalidField(f"{value!r} is not a date (YYYY-MM-DD).",
                                      details={"field": "incurred_on"}) from None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise errors.InvalidField("The date the expense was incurred is required.", details={"field": "incurred_on"})
    today = organization.today()
    if value > today:
        raise errors.FutureDate("An expense cannot be incurred in the future.")
    oldest = today - dt.timedelta(days=organization.expense_window_days)
    if value < oldest:
        raise errors.TooOld(f"Expenses older than {organization.expense_window_days} days cannot be claimed.",
                            details={"oldest_allowed": oldest.isoformat()})
    return value


def clean_text(value: Any, field: str, *, max_length: int, required: bool, multiline: bool = False) -> str:
    """Trimmed text; refuses control characters (line breaks and tabs only where ``multiline``)
    and bidirectional overrides, which make a merchant read differently on screen and in the CSV."""
    text = "" if value is None else str(value).strip()
    try:
        refuse_invisible_controls(text, multiline=multiline)
    except ValueError as refusal:
        raise errors.InvalidField(f"The {field} {refusal}.", details={"field": field}) from None
    if required and not text:
        raise errors.InvalidField(f"The {field} is required.", details={"field": field})
    if len(text) > max_length:
        raise errors.InvalidField(f"The {field} is longer than {max_length} characters.", details={"field": field})
    return text
