"""Bulk decisions: each expense goes through the one approve or reject command, in its own
transaction with its own checks, so one refusal (insufficient budget, say) never undoes the
others and nothing is half-done. The request itself is refused whole, writing nothing, when its
input is bad (no ids, too many, a malformed id, a missing reason)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from core.errors import DomainError
from organizations.models import Membership

from . import errors
from .services import expense_approve, expense_reject

BULK_MAX = 100


@dataclass(frozen=True)
class BulkResult:
    """One expense's answer in a bulk decision: ``ok``, or the refusal's code and message."""

    id: str
    ok: bool
    code: str = ""
    message: str = ""


def check_bulk_ids(ids: Any) -> list[UUID]:
    """1 to BULK_MAX distinct expense ids, each a UUID; anything else refuses the whole request."""
    if not isinstance(ids, list | tuple) or not ids:
        raise errors.InvalidField("Choose at least one expense.", details={"field": "ids"})
    if len(ids) > BULK_MAX:
        raise errors.InvalidField(f"At most {BULK_MAX} expenses at a time.", details={"field": "ids"})
    parsed = []
    for value in ids:
        try:
            parsed.append(value if isinstance(value, UUID) else UUID(str(value)))
        except (TypeError, ValueError):
            raise errors.InvalidField(f"{str(value)[:40]!r} is not an expense id.", details={"field": "ids"}) from None
    return list(dict.fromkeys(parsed))


def _each(ids: list[UUID], decide) -> list[BulkResult]:
    results = []
    for expense_id in ids:
        try:
            decide(expense_id)  # its own transaction: one refusal never undoes another's approval
        except DomainError as error:
            results.append(BulkResult(id=str(expense_id), ok=False, code=error.code, message=error.message))
        else:
            results.append(BulkResult(id=str(expense_id), ok=True))
    return results


def expense_bulk_approve(*, actor: Membership, ids: Any) -> list[BulkResult]:
    """Approve each expense through ``expense_approve``, each in its own transaction with its own
    checks (budget, approver, state), and answer one result per id in the order given. Refuses
    the whole request, writing nothing, when ``ids`` is not 1-100 expense ids."""
    checked = check_bulk_ids(ids)
    return _each(checked, lambda expense_id: expense_approve(actor=actor, expense_id=expense_id))


def expense_bulk_reject(*, actor: Membership, ids: Any, reason: str) -> list[BulkResult]:
    """Reject each expense through ``expense_reject`` with the one ``reason``; as bulk approve.
    A missing or too long reason refuses the whole request before any expense is touched."""
    checked = check_bulk_ids(ids)
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise errors.ReasonRequired("Say why the expenses are rejected.")
    if len(reason) > 2000:
        raise errors.InvalidField("The reason is longer than 2000 characters.", details={"field": "reason"})
    return _each(checked, lambda expense_id: expense_reject(actor=actor, expense_id=expense_id, reason=reason))
