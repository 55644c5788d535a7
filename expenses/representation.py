"""An expense as the API answers it, built as a plain dictionary.

``ExpenseOut`` and ``ExpenseDetailOut`` (expenses/api.py) stay the schema of record: drf-spectacular
documents the API from them, and ``expenses/tests/test_representation.py`` proves that these
functions answer exactly what they would, field for field, for every kind of expense. The request
path uses these instead because a DRF serializer cost more than the rest of a command: in
``bench/profile_approve.py`` the serializer and its two queries were a third of the approve request.

The command responses also skip those two queries: a command that decided an expense hands its
approvals and the effects it just published (``events.publish`` returns the subscribers it wrote
a delivery for) to ``expense_detail_data``; only a caller that has neither reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from core.currencies import plain

from .models import Approval, ApprovalStep, Expense, ExpenseState

_CENTS = Decimal("0.01")
_RATE = Decimal("1E-10")


def _datetime(value: datetime | None) -> str | None:
    """As DRF's DateTimeField: in the current time zone, ISO 8601, UTC written as ``Z``."""
    if value is None:
        return None
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _decimal(value: Decimal | None, quantum: Decimal) -> str | None:
    return None if value is None else f"{value.quantize(quantum):f}"


def decimal_data(value: Decimal | None) -> str | None:
    """As DRF's DecimalField with two decimal places (an amount in the organisation's currency)."""
    return _decimal(value, _CENTS)


def _flags(flags: Iterable[dict]) -> list[dict]:
    out = []
    for flag in flags or ():
        item = {"code": flag["code"], "label": flag["label"], "message": flag["message"]}
        if "twin_id" in flag:
            item["twin_id"] = None if flag["twin_id"] is None else str(flag["twin_id"])
        out.append(item)
    return out


def _awaiting(expense: Expense, approvals: list[Approval]) -> str:
    """``Expense.awaiting`` from approvals already at hand."""
    if expense.state != ExpenseState.SUBMITTED:
        return ""
    return ApprovalStep.FINANCE if any(a.step == ApprovalStep.MANAGER for a in approvals) else ApprovalStep.MANAGER


def expense_data(expense: Expense, approvals: list[Approval] | None = None) -> dict:
    """``ExpenseOut(expense).data``. Needs ``employee__user``, ``cost_center`` and ``category``
    loaded; ``approvals`` (all of the expense's) saves reading them again."""
    awaiting = expense.awaiting if approvals is None else _awaiting(expense, approvals)
    return {
        "id": str(expense.pk),
        "state": expense.state,
        "state_label": "Waiting for finance" if awaiting == ApprovalStep.FINANCE else expense.get_state_display(),
        "awaiting": awaiting,
        "employee": expense.employee.display_name,
        "employee_id": expense.employee.pk,
        "cost_center": expense.cost_center.code,
        "cost_center_id": expense.cost_center_id,
        "category": expense.category.name,
        "category_id": expense.category_id,
        "amount": plain(expense.amount, expense.currency),
        "currency": expense.currency,
        "org_amount": _decimal(expense.org_amount, _CENTS),
        "org_currency": expense.org_currency,
        "exchange_rate": _decimal(expense.exchange_rate, _RATE),
        "rate_date": expense.rate_date.isoformat() if expense.rate_date else None,
        "rate_source": expense.rate_source,
        "conversion": expense.conversion_text,
        "merchant": expense.merchant,
        "incurred_on": expense.incurred_on.isoformat() if expense.incurred_on else None,
        "description": expense.description,
        "has_receipt": bool(expense.receipt),
        "rejection_reason": expense.rejection_reason,
        "submitted_at": _datetime(expense.submitted_at),
        "decided_at": _datetime(expense.decided_at),
        "flags": _flags(expense.flags),
        "duplicate_confirmed_at": _datetime(expense.duplicate_confirmed_at),
        "policy_version": expense.policy_version,
        "policy_outcome": expense.policy_outcome,
        "version": expense.version,
        "created_at": _datetime(expense.created_at),
        "updated_at": _datetime(expense.updated_at),
    }


def approval_data(approval: Approval) -> dict:
    """``ApprovalOut(approval).data``; needs ``approver__user`` and ``on_behalf_of__user`` loaded."""
    return {
        "step": approval.step,
        "approver": approval.approver_name,
        "on_behalf_of": approval.on_behalf_of.display_name if approval.on_behalf_of_id else None,
        "decided_at": _datetime(approval.decided_at),
    }


def expense_detail_data(expense: Expense, approvals: list[Approval], effects: dict[str, str]) -> dict:
    """``ExpenseDetailOut(expense).data`` from the approvals (in decision order) and the latest
    event's effects (subscriber -> delivery status)."""
    data = expense_data(expense, approvals)
    data["approvals"] = [approval_data(a) for a in approvals]
    data["effects"] = dict(sorted(effects.items()))
    return data
