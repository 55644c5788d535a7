"""The events the expenses app publishes.

Each carries everything its subscribers need (who, how much, where it is booked), so no
subscriber reads the expense table to do its job. ``month`` is the month the expense was
incurred (``YYYY-MM``): budgets and the monthly read model both count by it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
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


@dataclass(frozen=True, kw_only=True)
class ExpenseWithdrawn(ExpenseEvent):
    """The employee took a submitted expense back to draft."""

    type: ClassVar[str] = "expense.withdrawn"


@dataclass(frozen=True, kw_only=True)
class ExpenseApprovalRecorded(ExpenseEvent):
    """One required approval was given but another is still needed (e.g. finance above the threshold)."""

    type: ClassVar[str] = "expense.approval_recorded"
    approver_user_id: int | None
    approver_name: str
    step: str
    on_behalf_of_user_id: int | None = None
    remaining_steps: list[str]


@dataclass(frozen=True, kw_only=True)
class ExpenseApproved(ExpenseEvent):
    """The last required approval was given: the company owes the employee ``amount``."""

    type: ClassVar[str] = "expense.approved"
    approver_user_id: int | None
    approver_name: str
    on_behalf_of_user_id: int | None = None
    approved_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class ExpenseRejected(ExpenseEvent):
    """An approver rejected the expense, with a reason the employee sees."""

    type: ClassVar[str] = "expense.rejected"
    rejected_by_user_id: int | None
    rejected_by_name: str
    reason: str
