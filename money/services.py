"""Money commands: loading reference rates, finance's own rates, employees' bank details."""

from __future__ import annotations

import datetime as dt
import logging
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.currencies import is_active
from core.errors import PermissionDenied, ValidationFailed
from events.publishing import publish
from organizations.models import Membership, Organization, Role

from . import ecb
from .bank import clean_bank_details, mask_iban
from .errors import InvalidCurrency, InvalidRate, MemberNotFound, RatesFileInvalid
from .events import BankDetailsChanged, DebtorAccountChanged, ExchangeRateSet
from .models import BASE_CURRENCY, BankAccount, ExchangeRate, RateSource

logger = logging.getLogger(__name__)

# Real ECB reference rates, 2026-08-03 to 2026-10-30 (eurofxref-hist.csv, cut to those days): the
# demo data loads them, and tests convert at them.
DEMO_RATES_FILE = Path(__file__).resolve().parent / "fixtures" / "eurofxref-hist-2026-q3.csv"


# --- reference rates ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportResult:
    rates: int
    days: int
    first_day: dt.date | None
    last_day: dt.date | None


@transaction.atomic
def rates_import(*, rates: Iterable[ecb.ReferenceRate]) -> ImportResult:
    """Write ECB reference rates (EUR base) in one transaction: a rate already stored for the day
    and currency is replaced by the file's, so importing the same file twice changes nothing.
    Expenses keep the rate they were converted at."""
    rows = {(r.date, r.quote): r.rate for r in rates if r.quote != BASE_CURRENCY}
    if not rows:
        raise RatesFileInvalid("The file holds no rate.")
    ExchangeRate.objects.bulk_create(
        [ExchangeRate(organization=None, base=BASE_CURRENCY, quote=quote, date=day, rate=rate, source=RateSource.ECB)
         for (day, quote), rate in sorted(rows.items())],
        update_conflicts=True, unique_fields=["organization", "base", "date", "quote"],
        update_fields=["rate", "source", "updated_at"], batch_size=2000)
    days = sorted({day for day, _ in rows})
    return ImportResult(rates=len(rows), days=len(days), first_day=days[0], last_day=days[-1])


def rates_import_file(*, data: bytes, name: str = "") -> ImportResult:
    """Parse a whole ECB file (refusing a malformed one before anything is written), then import it."""
    return rates_import(rates=ecb.parse(data, name=name))


def rates_fetch(*, url: str | None = None) -> ImportResult | None:
    """Fetch the ECB daily XML from ``EXCHANGE_RATES_URL`` and import it; None when no URL is set.
    A file that does not parse is refused whole (``rates_file_invalid``): nothing is written."""
    url = url if url is not None else settings.EXCHANGE_RATES_URL
    if not url:
        return None
    if not url.startswith(("https://", "http://")):
        raise ValidationFailed("EXCHANGE_RATES_URL must be an http(s) URL.", code="invalid_rates_url")
    request = urllib.request.Request(url, headers={"User-Agent": "Outlay exchange-rate fetch"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=settings.EXCHANGE_RATES_TIMEOUT_SECONDS) as response:  # noqa: S310
        data = response.read(ecb.MAX_FILE_BYTES + 1)
    return rates_import_file(data=data, name=url)


# --- an organisation's own rates ---------------------------------------------------------------

def _require_finance(actor: Membership) -> None:
    if actor.role not in (Role.FINANCE, Role.ADMIN):
        raise PermissionDenied("Only finance can do this.")


def clean_currency(value: Any, *, on: dt.date, field: str = "currency") -> str:
    """An ISO 4217 code in use on ``on`` (CLDR, through Babel)."""
    code = str(value or "").strip().upper()
    if len(code) != 3 or not is_active(code, on):
        raise InvalidCurrency(f"{str(value)[:10]!r} is not an ISO 4217 currency in use.", details={"field": field})
    return code


def _clean_rate(value: Any) -> Decimal:
    if isinstance(value, float | bool):
        raise InvalidRate("Give the rate as a decimal string, e.g. \"1.0856\".", details={"field": "rate"})
    try:
        rate = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidRate(f"{str(value)[:20]!r} is not a rate.", details={"field": "rate"}) from None
    if not rate.is_finite() or rate <= 0 or rate >= Decimal("1e10") or -rate.as_tuple().exponent > 10:
        raise InvalidRate("A rate is positive, below 10^10, with at most 10 decimals.", details={"field": "rate"})
    return rate


def _trimmed(rate: Decimal) -> Decimal:
    """A stored rate (10 decimal places) as it was given: 0.3412000000 -> 0.3412."""
    return rate.quantize(Decimal(1)) if rate == rate.to_integral_value() else rate.normalize()


@transaction.atomic
def exchange_rate_set(*, actor: Membership, quote: str, on: dt.date, rate: Any, reason: str) -> ExchangeRate:
    """Finance sets the organisation's own rate of a day, 1 EUR = ``rate`` ``quote`` (for a
    currency the ECB does not publish, or to override its rate), with a reason; publishes
    ``exchange_rate.set`` (the audit trail records it). Expenses already submitted keep their
    rate; drafts pick it up when next saved or submitted.

    Refuses: not finance, a currency not in use, the base itself, a rate that is not a positive
    decimal, a day in the future (organisation's time zone), an empty reason."""
    _require_finance(actor)
    today = actor.organization.today()
    quote = clean_currency(quote, on=min(on, today), field="quote")
    if quote == BASE_CURRENCY:
        raise InvalidCurrency(f"Rates are quoted against {BASE_CURRENCY}; give another currency.",
                              details={"field": "quote"})
    if on > today:
        raise ValidationFailed("A rate cannot be set for a day in the future.", code="future_date",
                               details={"field": "date"})
    value = _clean_rate(rate)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why this rate is set.", code="reason_required", details={"field": "reason"})
    if len(reason) > 500:
        raise ValidationFailed("The reason is longer than 500 characters.", code="invalid", details={"field": "reason"})
    existing = (ExchangeRate.objects.select_for_update()
                .filter(organization_id=actor.organization_id, base=BASE_CURRENCY, quote=quote, date=on).first())
    previous = _trimmed(existing.rate) if existing else None
    row = existing or ExchangeRate(organization_id=actor.organization_id, base=BASE_CURRENCY, quote=quote, date=on)
    row.rate, row.source, row.reason, row.set_by_user_id = value, RateSource.MANUAL, reason, actor.user_id
    row.save()
    reference = (ExchangeRate.objects.filter(organization__isnull=True, base=BASE_CURRENCY, quote=quote, date=on)
                 .values_list("rate", flat=True).first())
    reference = _trimmed(reference) if reference is not None else None
    publish(ExchangeRateSet(exchange_rate_id=row.pk, organization_id=actor.organization_id, base=BASE_CURRENCY,
                            quote=quote, date=on, rate=value, previous_rate=previous, reference_rate=reference,
                            reason=reason, set_by_name=actor.display_name),
            organization_id=actor.organization_id, actor_id=actor.user_id)
    return row


# --- bank details -------------------------------------------------------------------------------

def member_of(actor: Membership, membership_id: Any) -> Membership:
    """A member of the actor's organisation (``not_found`` for anyone else)."""
    try:
        return (Membership.objects.select_related("user")
                .get(pk=int(membership_id), organization_id=actor.organization_id))
    except (Membership.DoesNotExist, TypeError, ValueError):
        raise MemberNotFound("No such member.") from None


def may_see_bank_details(viewer: Membership, owner: Membership) -> bool:
    """Finance and the owner see the number in clear; everyone else sees it masked."""
    return viewer.is_finance or viewer.pk == owner.pk


@transaction.atomic
def bank_details_set(*, actor: Membership, membership_id: Any, holder: str, iban: str, bic: str = "") -> BankAccount:
    """Enter or change a member's bank details: the member themselves or finance. Checked by
    schwifty (``invalid_bank_details``); publishes ``bank_details.changed`` with the masked IBAN
    only (the employee is notified, the audit trail records the change, a payout batch within
    24 hours flags the payee). Saving the same details again changes and publishes nothing."""
    member = member_of(actor, membership_id)
    if not may_see_bank_details(actor, member):
        raise PermissionDenied("Only the member themselves or finance can change bank details.")
    clean = clean_bank_details(holder=holder, iban=iban, bic=bic)
    account = BankAccount.objects.select_for_update().filter(membership=member).first()
    if account and (account.holder, account.iban, account.bic) == (clean.holder, clean.iban, clean.bic):
        return account
    previous = mask_iban(account.iban) if account else ""
    now = timezone.now()
    account = account or BankAccount(membership=member)
    account.holder, account.iban, account.bic = clean.holder, clean.iban, clean.bic
    account.updated_at, account.updated_by_user_id = now, actor.user_id
    account.save()
    publish(BankDetailsChanged(membership_id=member.pk, organization_id=member.organization_id,
                               employee_user_id=member.user_id, employee_name=member.display_name,
                               changed_by_user_id=actor.user_id, changed_by_name=actor.display_name,
                               iban_masked=mask_iban(clean.iban), previous_iban_masked=previous, changed_at=now),
            organization_id=member.organization_id, actor_id=actor.user_id)
    logger.info("bank details of member %s changed by user %s", member.pk, actor.user_id)
    return account


@transaction.atomic
def debtor_account_set(*, actor: Membership, name: str, iban: str, bic: str = "") -> Organization:
    """Finance sets the organisation's own account (the debtor of its SEPA files); all three
    empty clears it. Checked with schwifty like any bank details; publishes
    ``debtor_account.changed`` with the masked IBAN (audited)."""
    _require_finance(actor)
    org = Organization.objects.select_for_update().get(pk=actor.organization_id)
    if not (name or iban or bic):
        clean_name, clean_iban, clean_bic = "", "", ""
    else:
        clean = clean_bank_details(holder=name, iban=iban, bic=bic)
        clean_name, clean_iban, clean_bic = clean.holder, clean.iban, clean.bic
    previous = mask_iban(org.debtor_iban) if org.debtor_iban else ""
    org.debtor_name, org.debtor_iban, org.debtor_bic = clean_name, clean_iban, clean_bic
    org.save(update_fields=["debtor_name", "debtor_iban", "debtor_bic"])
    publish(DebtorAccountChanged(organization_id=org.pk, debtor_name=clean_name,
                                 iban_masked=mask_iban(clean_iban) if clean_iban else "",
                                 previous_iban_masked=previous, changed_by_name=actor.display_name),
            organization_id=org.pk, actor_id=actor.user_id)
    return org
