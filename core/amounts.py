"""Amounts as text: the one parser every amount input goes through.

An amount is an ASCII decimal string: digits, optionally one point and more digits ("12",
"12.50"). Python's ``Decimal()`` alone is far more lenient: it takes other scripts' digits
("١٢", "１２"), underscores ("1_000"), exponents ("1e3"), signs, "NaN" and "Infinity", and JSON
numbers would arrive as floats. Everything but the plain form is refused here, so a web form
that accepts the organisation's locale format (issue 18) converts to this form first, and a new
amount field (a currency's, issue 19) calls the same function.
"""

from __future__ import annotations

import re
from decimal import Decimal

from rest_framework import serializers

ASCII_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
EXAMPLE = '"12.50"'


class NotAnAmount(ValueError):
    """The value is not an ASCII decimal string (the message says what to send instead)."""


def parse_decimal_string(value: object) -> Decimal:
    """``value`` as a Decimal if it is an ASCII decimal string (surrounding spaces allowed);
    raises ``NotAnAmount`` for anything else, numbers of any type included."""
    if not isinstance(value, str):
        raise NotAnAmount(f"Give the amount as a decimal string, e.g. {EXAMPLE}, not a {type(value).__name__}.")
    text = value.strip(" ")
    if not ASCII_DECIMAL.fullmatch(text):
        raise NotAnAmount(f"{value!r} is not an amount: use the digits 0-9 and a point, e.g. {EXAMPLE}.")
    return Decimal(text)


class DecimalStringField(serializers.CharField):
    """An API amount: a JSON string (a JSON number is refused: as a float it may have lost
    digits already). The text itself is checked by ``parse_decimal_string`` in the command."""

    default_error_messages = {"not_a_string": f"Give the amount as a decimal string, e.g. {EXAMPLE}."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)
