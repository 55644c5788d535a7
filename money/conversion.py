"""Converting an amount as spent into the organisation's currency at the rate of a day.

The rate is the reference rate of that day or, when the day has none (a weekend, a holiday),
of the latest earlier day within ``LOOKBACK_DAYS``; an organisation's own rate for a day wins
over the reference rate of that day. Reference rates are quoted against the base (EUR), so a
pair without the base goes through it: USD -> GBP = (EUR -> GBP) / (EUR -> USD), each leg the
latest within the window (reference legs are published together, so they share their day; a
leg finance set may be of a later day) and ``rate_date`` the earlier of the two. The rate used
is kept to ``RATE_DECIMALS`` decimals (half up) and the converted
amount is the amount times that rate, rounded half up once to the organisation currency's minor
unit: anyone can recompute ``org_amount`` from the stored ``amount`` and ``exchange_rate``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q

from core.currencies import format_rate, plain, round_half_up

from .errors import ExchangeRateMissing
from .models import BASE_CURRENCY, ExchangeRate, RateSource

LOOKBACK_DAYS = 7
RATE_DECIMALS = 10
IDENTITY = "identity"


@dataclass(frozen=True)
class Conversion:
    amount: Decimal
    currency: str
    org_amount: Decimal
    org_currency: str
    exchange_rate: Decimal
    rate_date: dt.date
    rate_source: str  # identity, ecb or manual (manual when any leg was set by finance)

    def describe(self) -> str:
        return describe(self.amount, self.currency, self.org_amount, self.org_currency, self.exchange_rate,
                        self.rate_date)


def describe(amount, currency, org_amount, org_currency, rate, rate_date) -> str:
    """"120.00 USD → 110.43 EUR at 0.9203 on 2026-11-28", or "110.43 EUR" without a conversion."""
    if currency == org_currency:
        return f"{plain(org_amount, org_currency)} {org_currency}"
    return (f"{plain(amount, currency)} {currency} → {plain(org_amount, org_currency)} {org_currency} "
            f"at {format_rate(rate)} on {rate_date.isoformat()}")


def _legs(organization_id: int | None, quotes: set[str], on: dt.date) -> dict[str, tuple] | None:
    """For each quote its latest rate in the look-back window: {quote: (rate, day, source)}, the
    organisation's own rate preferred on a day that has both; None when a quote has none."""
    rows = (ExchangeRate.objects
            .filter(Q(organization__isnull=True) | Q(organization_id=organization_id), base=BASE_CURRENCY,
                    quote__in=quotes, date__lte=on, date__gte=on - dt.timedelta(days=LOOKBACK_DAYS))
            .order_by("quote", "-date", "organization_id")  # NULLS LAST: the organisation's row first
            .values_list("quote", "rate", "date", "source"))
    legs: dict[str, tuple] = {}
    for quote, rate, day, source in rows:
        legs.setdefault(quote, (rate, day, source))
    return legs if set(legs) == quotes else None


def rate_between(*, currency: str, org_currency: str, on: dt.date,
                 organization_id: int | None) -> tuple[Decimal, dt.date, str]:
    """(rate, rate date, source) converting ``currency`` into ``org_currency`` for ``on``.
    Refuses ``exchange_rate_missing`` (400), naming the currency and the date."""
    if currency == org_currency:
        return Decimal(1), on, IDENTITY
    quotes = {currency, org_currency} - {BASE_CURRENCY}
    found = _legs(organization_id, quotes, on)
    if found is None:
        raise ExchangeRateMissing(
            f"No {currency}/{org_currency} exchange rate for {on.isoformat()} or the {LOOKBACK_DAYS} days before.",
            details={"currency": currency, "org_currency": org_currency, "date": on.isoformat()})
    legs = found
    into = legs[org_currency][0] if org_currency != BASE_CURRENCY else Decimal(1)
    out_of = legs[currency][0] if currency != BASE_CURRENCY else Decimal(1)
    rate = (into / out_of).quantize(Decimal(1).scaleb(-RATE_DECIMALS), rounding=ROUND_HALF_UP)
    day = min(day for _, day, _ in legs.values())
    source = RateSource.MANUAL if any(src == RateSource.MANUAL for _, _, src in legs.values()) else RateSource.ECB
    return rate, day, str(source)


def convert(*, amount: Decimal, currency: str, org_currency: str, on: dt.date,
            organization_id: int | None) -> Conversion:
    """``amount`` ``currency`` in ``org_currency`` at the rate of ``on`` (see the module)."""
    rate, day, source = rate_between(currency=currency, org_currency=org_currency, on=on,
                                     organization_id=organization_id)
    return Conversion(amount=amount, currency=currency, org_amount=round_half_up(amount * rate, org_currency),
                      org_currency=org_currency, exchange_rate=rate, rate_date=day, rate_source=source)
