"""Who hears about what. Each handler notifies once per (event, recipient, kind)."""

from __future__ import annotations

from accounting.events import ReimbursementPaid
from events.events import DeliveryDead
from events.registry import subscriber
from expenses.events import ExpenseApprovalRecorded, ExpenseApproved, ExpenseRejected, ExpenseSubmitted
from organizations.models import Role
from organizations.queries import finance_approvers, members_with_role

from .digest import wants_digest
from .models import Kind
from .services import notify


def _expense_link(event) -> str:
    return f"/expenses/{event.expense_id}/"


def _money(event) -> str:
    return f"{event.amount} {event.currency}"


@subscriber("expense.submitted", name="notifications.expense_submitted")
def expense_submitted(event: ExpenseSubmitted, envelope) -> None:
    """Tells the approvers in the reporting line that an expense waits for them; not those who
    chose the daily digest (it lists the expense), and nobody when the policy approved it."""
    if event.policy_outcome == "auto_approved":
        return
    digest = wants_digest(event.approver_user_ids)
    notify(user_ids=[uid for uid in event.approver_user_ids if uid not in digest], kind=Kind.EXPENSE_SUBMITTED,
           title=f"{event.employee_name} submitted {_money(event)} at {event.merchant}",
           body=f"{event.category_name}, {event.cost_center_code}, incurred {event.incurred_on}.",
           link=_expense_link(event), organization_id=event.organization_id, source_event_id=envelope.event_id)


@subscriber("expense.approval_recorded", name="notifications.finance_approval_needed",
            label="Finance asked for the second approval")
def finance_approval_needed(event: ExpenseApprovalRecorded, envelope) -> None:
    """Tells finance that an expense above the threshold needs the second approval."""
    users = [m.user_id for m in finance_approvers(event.organization_id) if m.user_id != event.employee_user_id]
    notify(user_ids=users, kind=Kind.FINANCE_APPROVAL,
           title=f"Finance approval needed: {_money(event)} for {event.employee_name}",
           body=f"{event.approver_name} approved it as manager.", link=_expense_link(event),
           organization_id=event.organization_id, source_event_id=envelope.event_id)


@subscriber("expense.approved", name="notifications.expense_approved", label="Employee notified")
def expense_approved(event: ExpenseApproved, envelope) -> None:
    """Tells the employee their expense was approved."""
    notify(user_ids=[event.employee_user_id], kind=Kind.EXPENSE_APPROVED,
           title=f"Approved: {_money(event)} at {event.merchant}",
           body=f"Approved by {event.approver_name}. The reimbursement is queued for the next payout run.",
           link=_expense_link(event), organization_id=event.organization_id, source_event_id=envelope.event_id)


@subscriber("expense.rejected", name="notifications.expense_rejected", label="Employee notified")
def expense_rejected(event: ExpenseRejected, envelope) -> None:
    """Tells the employee their expense was rejected, and why."""
    notify(user_ids=[event.employee_user_id], kind=Kind.EXPENSE_REJECTED,
           title=f"Rejected: {_money(event)} at {event.merchant}",
           body=f"{event.rejected_by_name}: {event.reason}", link=_expense_link(event),
           organization_id=event.organization_id, source_event_id=envelope.event_id)


@subscriber("reimbursement.paid", name="notifications.reimbursement_paid")
def reimbursement_paid(event: ReimbursementPaid, envelope) -> None:
    """Tells the employee their reimbursement was paid."""
    notify(user_ids=[event.employee_user_id], kind=Kind.REIMBURSEMENT_PAID,
           title=f"Paid: {_money(event)} reimbursed", body="Finance confirmed the payment.",
           link=f"/expenses/{event.expense_id}/", organization_id=event.organization_id,
           source_event_id=envelope.event_id)


@subscriber("delivery.dead", name="notifications.delivery_dead")
def delivery_dead(event: DeliveryDead, envelope) -> None:
    """Tells the organisation's admins that a side effect gave up, with a link to replay it."""
    admins = [m.user_id for m in members_with_role(envelope.organization_id, Role.ADMIN)]
    notify(user_ids=admins, kind=Kind.DELIVERY_DEAD,
           title=f"Side effect failed: {event.subscriber} on {event.event_type}",
           body=f"{event.error}\nReplay it once the cause is fixed.",
           link=f"/admin/events/delivery/{event.delivery_id}/change/", organization_id=envelope.organization_id,
           source_event_id=envelope.event_id)
