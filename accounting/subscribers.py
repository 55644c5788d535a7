"""Accounting reacts to approvals and payments. Each handler is idempotent on its own (unique
source event / expense), on top of the delivery's exactly-once bookkeeping.

The two subscribers of ``expense.approved`` have batch forms (a backlog drains in a few statements
per batch instead of several per event). Neither publishes an event nor queues work after commit,
so running under no one delivery's trace context (``events.running._handle_as_one_batch``) loses
nothing."""

from __future__ import annotations

from events.envelope import Envelope
from events.registry import subscriber, subscriber_batch
from expenses.events import ExpenseApproved

from . import services
from .events import ReimbursementPaid


@subscriber("expense.approved", name="accounting.post_approved_expense", label="Ledger posted")
def post_approved_expense(event: ExpenseApproved, envelope) -> None:
    """Posts Dr expense:<category> / Cr reimbursements payable, once per approval."""
    services.post_approved_expense(event=event, event_id=envelope.event_id)


@subscriber_batch("accounting.post_approved_expense")
def post_approved_expense_batch(deliveries: list[tuple[ExpenseApproved, Envelope]]) -> None:
    """The same for a batch of deliveries, in their order: five statements for all of them (the
    accounts, the time zones, the entries already posted, the entries, their lines)."""
    services.post_approved_expenses(events=[(event, envelope.event_id) for event, envelope in deliveries])


@subscriber("expense.approved", name="accounting.queue_reimbursement", label="Reimbursement queued")
def queue_reimbursement(event: ExpenseApproved, envelope) -> None:
    """Queues one reimbursement per approved expense (idempotency key reimburse-<expense id>)."""
    services.reimbursement_queue(event=event, event_id=envelope.event_id)


@subscriber_batch("accounting.queue_reimbursement")
def queue_reimbursement_batch(deliveries: list[tuple[ExpenseApproved, Envelope]]) -> None:
    """The same for a batch of deliveries: one insert for all of them, those already queued left
    out by the unique key."""
    services.reimbursement_queue_many(events=[(event, envelope.event_id) for event, envelope in deliveries])


@subscriber("reimbursement.paid", name="accounting.post_reimbursement_paid")
def post_reimbursement_paid(event: ReimbursementPaid, envelope) -> None:
    """Posts Dr reimbursements payable / Cr cash at bank, once per payment."""
    services.post_reimbursement_paid(event=event, event_id=envelope.event_id, paid_at=envelope.occurred_at)
