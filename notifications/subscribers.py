"""Who hears about what. Each handler notifies once per (event, recipient, kind)."""

from __future__ import annotations

from access.events import AccountLockedOut
from accounting.events import ReimbursementPaid
from events.envelope import Envelope
from events.events import DeliveryDead
from events.registry import subscriber, subscriber_batch
from expenses.events import (
    ExpenseApprovalRecorded,
    ExpenseApproved,
    ExpenseCommented,
    ExpenseRejected,
    ExpenseReturned,
    ExpenseSubmitted,
)
from money.events import BankDetailsChanged
from organizations.models import Role
from organizations.queries import finance_approvers, members_with_role
from webhooks.events import WebhookEndpointDisabled

from .digest import wants_digest
from .models import Kind
from .services import Notice, notify, notify_many


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


@subscriber("expense.approval_recorded", name="notifications.finance_approval_needed",
            label="Finance asked for the second approval")
def finance_approval_needed(event: ExpenseApprovalRecorded, envelope) -> None:
    """Tells finance that an expense above the threshold needs the second approval."""
    users = [m.user_id for m in finance_approvers(event.organization_id) if m.user_id != event.employee_user_id]
    notify(user_ids=users, kind=Kind.FINANCE_APPROVAL,
           title=f"Finance approval needed: {_money(event)} for {event.employee_name}",
           body=f"{event.approver_name} approved it as manager.", link=_expense_link(event),
           organization_id=event.organization_id, source_event_id=envelope.event_id)


def _approved(event: ExpenseApproved, envelope) -> Notice:
    return Notice(user_ids=(event.employee_user_id,), kind=Kind.EXPENSE_APPROVED,
                  title=f"Approved: {_money(event)} at {event.merchant}",
                  body=f"Approved by {event.approver_name}. The reimbursement is queued for the next payout run.",
                  link=_expense_link(event), organization_id=event.organization_id,
                  source_event_id=envelope.event_id)


@subscriber("expense.approved", name="notifications.expense_approved", label="Employee notified")
def expense_approved(event: ExpenseApproved, envelope) -> None:
    """Tells the employee their expense was approved."""
    notify_many(notices=[_approved(event, envelope)])


@subscriber_batch("notifications.expense_approved")
def expense_approved_batch(deliveries: list[tuple[ExpenseApproved, Envelope]]) -> None:
    """The same for a batch of deliveries: one read each of users, preferences and what exists,
    one INSERT each of notifications and mails, one hint hop and one mail queueing after commit."""
    notify_many(notices=[_approved(event, envelope) for event, envelope in deliveries])


def _rejected(event: ExpenseRejected, envelope) -> Notice:
    return Notice(user_ids=(event.employee_user_id,), kind=Kind.EXPENSE_REJECTED,
                  title=f"Rejected: {_money(event)} at {event.merchant}",
                  body=f"{event.rejected_by_name}: {event.reason}", link=_expense_link(event),
                  organization_id=event.organization_id, source_event_id=envelope.event_id)


@subscriber("expense.rejected", name="notifications.expense_rejected", label="Employee notified")
def expense_rejected(event: ExpenseRejected, envelope) -> None:
    """Tells the employee their expense was rejected, and why."""
    notify_many(notices=[_rejected(event, envelope)])


@subscriber_batch("notifications.expense_rejected")
def expense_rejected_batch(deliveries: list[tuple[ExpenseRejected, Envelope]]) -> None:
    """The same for a batch of deliveries, in the statements of one (``notify_many``)."""
    notify_many(notices=[_rejected(event, envelope) for event, envelope in deliveries])


@subscriber("expense.commented", name="notifications.expense_commented")
def expense_commented(event: ExpenseCommented, envelope) -> None:
    """Tells the expense's participants (employee, approvers, earlier writers; never the author)
    what was written."""
    notify(user_ids=event.participant_user_ids, kind=Kind.EXPENSE_COMMENTED,
           title=f"{event.author_name} wrote about {_money(event)} at {event.merchant}", body=event.body,
           link=f"{_expense_link(event)}#comments", organization_id=event.organization_id,
           source_event_id=envelope.event_id)


def _returned(event: ExpenseReturned, envelope) -> Notice:
    return Notice(user_ids=(event.employee_user_id,), kind=Kind.EXPENSE_RETURNED,
                  title=f"Question about {_money(event)} at {event.merchant}",
                  body=f"{event.returned_by_name} asks: {event.question}\nAnswer on the expense page and submit it "
                       "again.",
                  link=f"{_expense_link(event)}#comments", organization_id=event.organization_id,
                  source_event_id=envelope.event_id)


@subscriber("expense.returned", name="notifications.expense_returned", label="Employee asked")
def expense_returned(event: ExpenseReturned, envelope) -> None:
    """Tells the employee their expense came back as a draft, with the approver's question."""
    notify_many(notices=[_returned(event, envelope)])


@subscriber_batch("notifications.expense_returned")
def expense_returned_batch(deliveries: list[tuple[ExpenseReturned, Envelope]]) -> None:
    """The same for a batch of deliveries, in the statements of one (``notify_many``)."""
    notify_many(notices=[_returned(event, envelope) for event, envelope in deliveries])


@subscriber("reimbursement.paid", name="notifications.reimbursement_paid")
def reimbursement_paid(event: ReimbursementPaid, envelope) -> None:
    """Tells the employee which expense's reimbursement was paid."""
    what = f" for {event.merchant}" + (f" ({event.incurred_on})" if event.incurred_on else "") if event.merchant else ""
    notify(user_ids=[event.employee_user_id], kind=Kind.REIMBURSEMENT_PAID,
           title=f"Paid: {_money(event)} reimbursed{what}", body="Finance confirmed the payment.",
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


@subscriber("webhook.endpoint_disabled", name="notifications.webhook_endpoint_disabled")
def webhook_endpoint_disabled(event: WebhookEndpointDisabled, envelope) -> None:
    """Tells the organisation's admins that the system disabled a webhook endpoint, and why."""
    admins = [m.user_id for m in members_with_role(envelope.organization_id, Role.ADMIN)]
    notify(user_ids=admins, kind=Kind.DELIVERY_DEAD, title=f"Webhook endpoint disabled: {event.url}"[:200],
           body=f"{event.reason}. Fix the receiver, enable the endpoint again and re-send what it missed.",
           link=f"/webhooks/{event.endpoint_id}/", organization_id=envelope.organization_id,
           source_event_id=envelope.event_id)


@subscriber("account.locked_out", name="notifications.account_locked_out")
def account_locked_out(event: AccountLockedOut, envelope) -> None:
    """Tells the account's owner (in the app and by mail) that their log-in is locked, until
    when, and from which address the failures came: if it was not them, someone guesses."""
    notify(user_ids=[event.user_id], kind=Kind.ACCOUNT_LOCKED,
           title=f"Your log-in is locked until {event.locked_until:%Y-%m-%d %H:%M %Z}",
           body=f"{event.failures} failed log-in attempts from {event.ip_address or 'an unknown address'} "
                f"({event.path}). If that was not you, tell your administrator and change your password "
                "once the lock-out ends.",
           link="/", organization_id=envelope.organization_id, source_event_id=envelope.event_id)


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
