"""Events the money app publishes. None carries a bank account number in clear."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from events.types import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ExchangeRateSet(DomainEvent):
    """Finance entered or overrode the organisation's rate of a day (1 ``base`` = ``rate``
    ``quote``), with a reason. Expenses already submitted keep the rate they were converted at."""

    type: ClassVar[str] = "exchange_rate.set"
    aggregate_type: ClassVar[str] = "exchange_rate"
    aggregate_field: ClassVar[str] = "exchange_rate_id"

    exchange_rate_id: int
    organization_id: int
    base: str
    quote: str
    date: dt.date
    rate: Decimal
    previous_rate: Decimal | None
    reference_rate: Decimal | None
    reason: str
    set_by_name: str


@dataclass(frozen=True, kw_only=True)
class BankDetailsChanged(DomainEvent):
    """An employee's bank details were entered or changed (by them or by finance). Carries the
    masked IBAN only: the audit trail records that they changed, never the number."""

    type: ClassVar[str] = "bank_details.changed"
    aggregate_type: ClassVar[str] = "bank_account"
    aggregate_field: ClassVar[str] = "membership_id"

    membership_id: int
    organization_id: int
    employee_user_id: int
    employee_name: str
    changed_by_user_id: int
    changed_by_name: str
    iban_masked: str
    previous_iban_masked: str
    changed_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class DebtorAccountChanged(DomainEvent):
    """Finance changed the organisation's own account, the debtor of its payment files (masked)."""

    type: ClassVar[str] = "debtor_account.changed"
    aggregate_type: ClassVar[str] = "organization"
    aggregate_field: ClassVar[str] = "organization_id"

    organization_id: int
    debtor_name: str
    iban_masked: str
    previous_iban_masked: str
    changed_by_name: str
