"""Events the accounting app publishes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from events.types import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ReimbursementEvent(DomainEvent):
    aggregate_type: ClassVar[str] = "reimbursement"
    aggregate_field: ClassVar[str] = "reimbursement_id"

    reimbursement_id: UUID
    expense_id: UUID
    organization_id: int
    employee_user_id: int
    payee_name: str
    amount: Decimal
    currency: str
    # What the expense was (events stored before these fields decode with the defaults)
    merchant: str = ""
    incurred_on: dt.date | None = None


@dataclass(frozen=True, kw_only=True)
class ReimbursementPaid(ReimbursementEvent):
    """Finance confirmed the payment of a reimbursement (part of a payout batch)."""

    type: ClassVar[str] = "reimbursement.paid"
    batch_id: UUID


@dataclass(frozen=True, kw_only=True)
class ReimbursementFailed(ReimbursementEvent):
    """A payment did not go through; the reimbursement can be queued again."""

    type: ClassVar[str] = "reimbursement.failed"
    batch_id: UUID | None
    reason: str


@dataclass(frozen=True, kw_only=True)
class PayoutBatchConfirmed(DomainEvent):
    """Finance confirmed a payout batch as paid."""

    type: ClassVar[str] = "payout_batch.confirmed"
    aggregate_type: ClassVar[str] = "payout_batch"
    aggregate_field: ClassVar[str] = "batch_id"

    batch_id: UUID
    organization_id: int
    total: Decimal
    currency: str
    reimbursement_count: int
