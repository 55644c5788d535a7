"""``{% money amount currency %}``, ``{% amount value %}`` (no currency code, where the heading
names it), ``{% day date %}`` and ``{% month date %}``: amounts and dates in the caller's
organisation's locale (``organizations.formats``). Loaded as a builtin (settings.TEMPLATES)."""

from __future__ import annotations

from django import template

from organizations.formats import format_amount, format_day, format_month, format_number

register = template.Library()
DEFAULT_LOCALE = "en_GB"


def locale_of(context) -> str:
    membership = context.get("membership")
    return getattr(getattr(membership, "organization", None), "locale", "") or DEFAULT_LOCALE


@register.simple_tag(takes_context=True)
def money(context, amount, currency) -> str:
    """The amount written the organisation's way, with its ISO currency code."""
    return format_amount(amount, currency, locale_of(context))


@register.simple_tag(takes_context=True)
def day(context, value) -> str:
    return format_day(value, locale_of(context))


@register.simple_tag(takes_context=True)
def amount(context, value, whole: bool = False) -> str:
    """The number the organisation's way (``whole``: no decimals, for a chart's axis)."""
    return format_number(value, locale_of(context), whole=whole)


@register.simple_tag(takes_context=True)
def month(context, value) -> str:
    return format_month(value, locale_of(context))
