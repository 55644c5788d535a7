"""``{% money amount currency %}`` and ``{% day date %}``: amounts and dates in the caller's
organisation's locale (``organizations.formats``). Loaded as a builtin (settings.TEMPLATES)."""

from __future__ import annotations

from django import template

from organizations.formats import format_amount, format_day

register = template.Library()
DEFAULT_LOCALE = "en_GB"


def _locale(context) -> str:
    membership = context.get("membership")
    return getattr(getattr(membership, "organization", None), "locale", "") or DEFAULT_LOCALE


@register.simple_tag(takes_context=True)
def money(context, amount, currency) -> str:
    """The amount written the organisation's way, with its ISO currency code."""
    return format_amount(amount, currency, _locale(context))


@register.simple_tag(takes_context=True)
def day(context, value) -> str:
    return format_day(value, _locale(context))
