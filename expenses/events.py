"""The events the expenses app publishes.

Each carries everything its subscribers need (who, how much, where it is booked), so no
subscriber reads the expense table to do its job. ``month`` is the month the expense was
incurred (``YYYY-MM``): budgets and the monthly read model both count by it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from events.types import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ExpenseEvent(DomainEvent):
    """Facts shared by every expense event."""

    aggregate_type: ClassVar[str] = "expense"
    aggregate_field: ClassVar[str] = "expense_id"

    expense_id: UUID
    organization_id: int
    employee_user_id: int
    employee_membership_id: int
    employee_name: str
    employee_email: str
    cost_center_id: int
    cost_center_code: str
    category_id: int
    category_code: str
    category_name: str
    amount: Decimal
    currency: str
    merchant: str
    incurred_on: dt.date
    month: str


@dataclass(frozen=True, kw_only=True)
class ExpenseSubmitted(ExpenseEvent):
    """An employee submitted an expense; it waits for its approvers."""

    type: ClassVar[str] = "expense.submitted"
    approver_user_ids: list[int]
    needs_finance_approval: bool
    # Policy (v1 events stored before the policy existed decode with these defaults)
    policy_version: int | None = None
    flags: list[str] = field(default_factory=list)
    duplicate_confirmed: bool = False
    policy_outcome: str = ""


@dataclass(frozen=True, kw_only=True)
class ExpenseWithdrawn(ExpenseEvent):
    """The employee took a submitted expense back to draft."""

    type: ClassVar[str] = "expense.withdrawn"


@dataclass(frozen=True, kw_only=True)
class ExpenseDeleted(ExpenseEvent):
    """The employee deleted a draft (never a submitted or decided expense). The expense row is
    gone; the event and its audit entry keep that it existed."""

    type: ClassVar[str] = "expense.deleted"


@dataclass(frozen=True, kw_only=True)
class ExpenseCommented(ExpenseEvent):
    """Someone who may see the expense wrote in its thread. ``participant_user_ids``: who should
    hear about it (the employee, its approvers, earlier writers), the author left out."""

    type: ClassVar[str] = "expense.commented"
    comment_id: int
    author_user_id: int
    author_name: str
    body: str
    participant_user_ids: list[int]


@dataclass(frozen=True, kw_only=True)
class ExpenseReturned(ExpenseEvent):
    """An approver sent a submitted expense back to its employee as a draft, with a question;
    the employee answers in the thread and submits again."""

    type: ClassVar[str] = "expense.returned"
    comment_id: int
    returned_by_user_id: int
    returned_by_name: str
    on_behalf_of_user_id: int | None = None
    on_behalf_of_name: str = ""
    question: str


@dataclass(frozen=True, kw_only=True)
class ExpenseApprovalRecorded(ExpenseEvent):
    """One required approval was given but another is still needed (e.g. finance above the threshold)."""

    type: ClassVar[str] = "expense.approval_recorded"
    approver_user_id: int | None
    approver_name: str
    step: str
    on_behalf_of_user_id: int | None = None
    on_behalf_of_name: str = ""
    remaining_steps: list[str]


@dataclass(frozen=True, kw_only=True)
class ExpenseApproved(ExpenseEvent):
    """The last required approval was given: the company owes the employee ``amount``."""

    type: ClassVar[str] = "expense.approved"
    approver_user_id: int | None
    approver_name: str
    on_behalf_of_user_id: int | None = None
    on_behalf_of_name: str = ""
    approved_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class ExpenseRejected(ExpenseEvent):
    """An approver rejected the expense, with a reason the employee sees."""

    type: ClassVar[str] = "expense.rejected"
    rejected_by_user_id: int | None
    rejected_by_name: str
    on_behalf_of_user_id: int | None = None
    on_behalf_of_name: str = ""
    reason: str


@dataclass(frozen=True, kw_only=True)
class PolicyChanged(DomainEvent):
    """An organisation admin changed the expense policy; ``rules`` is the whole policy after the
    change, ``policy_version`` its number. It applies to expenses submitted from now on."""

    type: ClassVar[str] = "policy.changed"
    aggregate_type: ClassVar[str] = "policy"
    aggregate_field: ClassVar[str] = "organization_id"

    organization_id: int
    policy_version: int
    change: str
    changed_by: str
    rules: dict

    @classmethod
    def upcast(cls, payload: dict) -> dict:
        # Rows stored before the field was renamed say "version" (and their envelope's version
        # is the policy number too); the log is immutable, so they are read in the new shape.
        if "version" in payload and "policy_version" not in payload:
            payload["policy_version"] = payload.pop("version")
        return payload


@dataclass(frozen=True, kw_only=True)
class DelegationEvent(DomainEvent):
    aggregate_type: ClassVar[str] = "delegation"
    aggregate_field: ClassVar[str] = "delegation_id"

    delegation_id: int
    organization_id: int
    delegator_user_id: int
    delegator_name: str
    delegate_user_id: int
    delegate_name: str
    starts_on: dt.date
    ends_on: dt.date


@dataclass(frozen=True, kw_only=True)
class DelegationGranted(DelegationEvent):
    """A manager named a delegate who may approve in their place from ``starts_on`` to ``ends_on``."""

    type: ClassVar[str] = "delegation.granted"


@dataclass(frozen=True, kw_only=True)
class DelegationEnded(DelegationEvent):
    """A delegation was ended before its last day."""

    type: ClassVar[str] = "delegation.ended"
