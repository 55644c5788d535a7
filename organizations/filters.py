"""What every list's filters share: an amount range in the organisation's currency, typed the
organisation's way on its pages (``1,50`` in Berlin, ``1.50`` in London) and as a plain decimal
string in the API, and a range of days counted where the organisation is (its time zone, not the
server's). The expense, reimbursement, payout-batch and ledger filter sets all build on
``OrganizationFilterSet``, so an amount or a day is read one way on every list and in the API."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import django_filters
from django import forms
from django_filters.constants import EMPTY_VALUES
from drf_spectacular.utils import extend_schema_field

from core.amounts import NotAnAmount, parse_decimal_string

from .formats import amount_example, parse_amount

# The largest amount a filter takes: the books' numeric(12, 2) and then some; beyond it nothing
# could match, and the bound keeps the comparison a plain numeric one.
LARGEST = Decimal("999999999999.99")
CENT = Decimal("0.01")


class AmountField(forms.Field):
    """An amount typed in ``locale`` (a page) or, without one, the API's ASCII decimal string.
    A refusal names the field, so a message read away from its input still says which it was."""

    widget = forms.TextInput

    def __init__(self, *, locale: str | None = None, **kwargs):
        self.locale = locale
        super().__init__(**kwargs)

    def widget_attrs(self, widget):
        attrs = {**super().widget_attrs(widget), "inputmode": "decimal", "autocomplete": "off"}
        return {**attrs, "placeholder": amount_example(self.locale)} if self.locale else attrs

    def to_python(self, value) -> Decimal | None:
        if value in self.empty_values:
            return None
        try:
            amount = parse_decimal_string(parse_amount(value, self.locale) if self.locale else value)
        except (NotAnAmount, ValueError) as error:
            # What was typed goes in as a parameter, never into the format: a "%" in it would
            # break the %-formatting django-filter applies to every message (a 500 schemathesis found).
            raise forms.ValidationError("%(label)s: %(error)s", code="invalid_amount",
                                        params={"label": self.label, "error": str(error)}) from None
        if amount > LARGEST or amount != amount.quantize(CENT):
            example = amount_example(self.locale) if self.locale else "12.50"
            raise forms.ValidationError(f"{self.label}: at most two decimals and below a trillion, like {example}.",
                                        code="invalid_amount")
        return amount


@extend_schema_field({"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$", "example": "12.50",
                      "description": "A plain decimal string in the organisation's currency."})
class AmountFilter(django_filters.Filter):
    field_class = AmountField


class DayFilter(django_filters.DateFilter):
    """A day bound on a timestamp, the day as the organisation counts it: ``gte`` from its
    midnight, ``lte`` up to the next one (the set's ``time_zone``)."""

    def filter(self, qs, value):
        if value in EMPTY_VALUES:
            return qs
        zone = zoneinfo.ZoneInfo(self.parent.time_zone)
        if self.lookup_expr == "gte":
            return qs.filter(**{f"{self.field_name}__gte": dt.datetime.combine(value, dt.time.min, zone)})
        return qs.filter(**{f"{self.field_name}__lt": dt.datetime.combine(value + dt.timedelta(days=1),
                                                                        dt.time.min, zone)})


def amount_range(field_name: str) -> tuple[AmountFilter, AmountFilter]:
    """``amount_min`` and ``amount_max`` on ``field_name`` (an amount in the organisation's currency)."""
    return (AmountFilter(field_name=field_name, lookup_expr="gte", label="Amount from"),
            AmountFilter(field_name=field_name, lookup_expr="lte", label="Amount to"))


def day_range(field_name: str, *, timestamp: bool) -> tuple[django_filters.DateFilter, django_filters.DateFilter]:
    """A from/to pair of days on a date field, or on a timestamp counted in the organisation's days."""
    kind = DayFilter if timestamp else django_filters.DateFilter
    bounds = (("gte", "From"), ("lte", "To"))
    return tuple(kind(field_name=field_name, lookup_expr=lookup, label=label,
                      widget=forms.DateInput(attrs={"type": "date"})) for lookup, label in bounds)


class OrganizationFilterSet(django_filters.FilterSet):
    """A filter set for one organisation's rows: amount fields say its currency and, on a page
    (``typed_in_locale``), read what its members type; day bounds on timestamps use its time zone.
    The API's backend passes only the request: the caller's organisation is taken from it."""

    def __init__(self, data=None, queryset=None, *, request=None, organization=None, typed_in_locale: bool = False,
                 **kwargs):
        super().__init__(data, queryset, request=request, **kwargs)
        if organization is None:
            organization = getattr(getattr(request, "membership", None), "organization", None)
        self.time_zone = getattr(organization, "time_zone", "UTC") or "UTC"
        currency = getattr(organization, "currency", "")
        locale = organization.locale if typed_in_locale and organization is not None else None
        for item in self.filters.values():
            if isinstance(item, AmountFilter):
                item.extra["locale"] = locale
                if currency:
                    item.label = f"{item.label} ({currency})"
