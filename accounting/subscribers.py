"""Accounting reacts to approvals and payments. Each handler is idempotent on its own (unique
source event / expense), on top of the delivery's exactly-once bookkeeping."""

from __future__ import annotations

from events.registry import subscriber
from expenses.events import ExpenseApproved

from . import services
from .events import ReimbursementPaid


@subscriber("expense.approved", name="accounting.post_approved_expense", label="Ledger posted")
def post_approved_expense(event: ExpenseApproved, envelope) -> None:
    """Posts Dr expense:<category> / Cr reimbursements payable, once per approval."""
    services.post_approved_expense(event=event, event_id=envelope.event_id)


@subscriber("expense.approved", name="accounting.queue_reimbursement", label="Reimbursement queued")
def queue_reimbursement(event: ExpenseApproved, envelope) -> None:
    """Queues one reimbursement per approved expense (idempotency key reimburse-<expense id>)."""
    services.reimbursement_queue(event=event, event_id=envelope.event_id)


@subscriber("reimbursement.paid", name="accounting.post_reimbursement_paid")
def post_reimbursement_paid(event: ReimbursementPaid, envelope) -> None:
    """Posts Dr reimbursements payable / Cr cash at bank, once per payment."""
    services.post_reimbursement_paid(event=event, event_id=envelope.event_id, paid_at=envelope.occurred_at)
