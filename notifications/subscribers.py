"""Who hears about what. Each handler notifies once per (event, recipient, kind)."""

from __future__ import annotations

from accounting.events import ReimbursementPaid
from events.events import DeliveryDead
from events.registry import subscriber
from expenses.events import ExpenseApprovalRecorded, ExpenseApproved, ExpenseRejected, ExpenseSubmitted
from money.events import BankDetailsChanged
from organizations.models import Role
from organizations.queries import finance_approvers, members_with_role

from .digest import wants_digest
from .models import Kind
from .services import notify


def _expense_link(event) -> str:
    return f"/expenses/{event.expense_id}/"


def _money(event) -> str:
    """As spent, and converted when the currency differs: "120.00 USD (110.43 EUR)"."""
    spent = f"{event.amount} {event.currency}"
    org_amount = getattr(event, "org_amount", None)  # expense events; reimbursements are in the org's currency
    if org_amount is None or event.org_currency == event.currency:
        return spent
    return f"{spent} ({org_amount} {event.org_currency})"


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


@subscriber("expense.approval_recorded", name="notifications.finance_approval_needed")
def finance_approval_needed(event: ExpenseApprovalRecorded, envelope) -> None:
    """Tells finance that an expense above the threshold needs the second approval."""
    users = [m.user_id for m in finance_approvers(event.organization_id) if m.user_id != event.employee_user_id]
    notify(user_ids=users, kind=Kind.FINANCE_APPROVAL,
           title=f"Finance approval needed: {_money(event)} for {event.employee_name}",
           body=f"{event.approver_name} approved it as manager.", link=_expense_link(event),
           organization_id=event.organization_id, source_event_id=envelope.event_id)


@subscriber("expense.approved", name="notifications.expense_approved")
def expense_approved(event: ExpenseApproved, envelope) -> None:
    """Tells the employee their expense was approved."""
    notify(user_ids=[event.employee_user_id], kind=Kind.EXPENSE_APPROVED,
           title=f"Approved: {_money(event)} at {event.merchant}",
           body=f"Approved by {event.approver_name}. The reimbursement is queued for the next payout run.",
           link=_expense_link(event), organization_id=event.organization_id, source_event_id=envelope.event_id)


@subscriber("expense.rejected", name="notifications.expense_rejected")
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


@subscriber("bank_details.changed", name="notifications.bank_details_changed")
def bank_details_changed(event: BankDetailsChanged, envelope) -> None:
    """Tells the employee their bank details changed, whoever changed them: an unexpected change
    is the classic sign of payout fraud, and the employee is the one who knows."""
    by = "you" if event.changed_by_user_id == event.employee_user_id else event.changed_by_name
    before = f" (before: {event.previous_iban_masked})" if event.previous_iban_masked else ""
    notify(user_ids=[event.employee_user_id], kind=Kind.BANK_DETAILS_CHANGED,
           title=f"Your bank details were changed to {event.iban_masked}",
           body=f"Changed by {by} at {event.changed_at:%Y-%m-%d %H:%M} UTC{before}. If this was not you, tell "
                "finance at once: reimbursements are paid to this account.",
           link="/", organization_id=event.organization_id, source_event_id=envelope.event_id)
