"""Reads of rates and bank details, scoped to the caller's organisation."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from organizations.models import Membership

from .bank import mask_iban
from .models import BankAccount, ExchangeRate
from .services import may_see_bank_details


def rates_for(membership: Membership, *, on: dt.date | None = None, quote: str | None = None
              ) -> QuerySet[ExchangeRate]:
    """The reference rates and the organisation's own rates (never another organisation's)."""
    qs = ExchangeRate.objects.filter(Q(organization__isnull=True) | Q(organization_id=membership.organization_id))
    if on is not None:
        qs = qs.filter(date=on)
    if quote:
        qs = qs.filter(quote=quote.upper())
    return qs.order_by("-date", "quote", "organization_id")


def bank_account_of(membership: Membership) -> BankAccount | None:
    return BankAccount.objects.filter(membership=membership).first()


def bank_details_view(viewer: Membership, owner: Membership) -> dict:
    """What ``viewer`` may see of ``owner``'s bank details: in clear for finance and the owner,
    masked (no BIC) for everyone else."""
    account = bank_account_of(owner)
    clear = may_see_bank_details(viewer, owner)
    if account is None:
        return {"membership_id": owner.pk, "holder": "", "iban": "", "bic": "", "masked": not clear,
                "updated_at": None, "has_bank_details": False}
    return {"membership_id": owner.pk, "holder": account.holder,
            "iban": account.iban if clear else mask_iban(account.iban), "bic": account.bic if clear else "",
            "masked": not clear, "updated_at": account.updated_at, "has_bank_details": True}
