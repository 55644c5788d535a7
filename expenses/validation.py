"""Input rules shared by the expense commands: amounts, dates, free text. Each refusal is a
domain error with a stable code (``invalid_amount``, ``amount_too_large``, ``future_date``,
``too_old``, ``invalid``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from . import errors


def clean_amount(value: Any, *, maximum: Decimal) -> Decimal:
    """A positive amount with at most two decimals, not above the organisation's maximum."""
    if isinstance(value, float | bool):
        raise errors.InvalidAmount("Give the amount as a decimal string, e.g. \"12.50\".")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise errors.InvalidAmount(f"{value!r} is not an amount.") from None
    if not amount.is_finite():
        raise errors.InvalidAmount("The amount must be a finite number.")
    if amount <= 0:
        raise errors.InvalidAmount("The amount must be greater than zero.")
    # The maximum first: quantizing a huge value ("1e30") would overflow Decimal's precision.
    if amount > maximum:
        raise errors.AmountTooLarge(f"The amount is above the maximum of {maximum} per expense.",
                                    details={"maximum": str(maximum)})
    if amount != amount.quantize(Decimal("0.01")):
        raise errors.InvalidAmount("The amount can have at most two decimals.")
    return amount.quantize(Decimal("0.01"))


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


def clean_text(value: Any, field: str, *, max_length: int, required: bool) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise errors.InvalidField(f"The {field} is required.", details={"field": field})
    if len(text) > max_length:
        raise errors.InvalidField(f"The {field} is longer than {max_length} characters.", details={"field": field})
    return text
