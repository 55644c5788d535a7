"""A populated organisation for API tests: a team, expenses in every state, reimbursements in
every state, a payout batch, ledger entries, notifications, a dead delivery and a webhook endpoint
with a dead webhook."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from accounting import services as accounting
from accounting.models import Account, Reimbursement
from events.models import Delivery
from expenses import delegation, policy, services
from expenses.models import Delegation
from expenses.tests.factories import Team, make_team
from money import services as money
from notifications.models import Notification
from tests.support.deliveries import run_deliveries
from webhooks import services as webhooks
from webhooks.models import Endpoint, WebhookDelivery


@dataclass
class Scenario:
    team: Team
    draft: object
    submitted: object
    in_batch: Reimbursement
    failed: Reimbursement
    batch: object
    account: Account
    notification: Notification
    dead_delivery: Delivery
    delegation: Delegation
    webhook_endpoint: Endpoint
    webhook_delivery: WebhookDelivery

    @property
    def category(self):
        return self.team.category

    @property
    def employee_membership(self):
        return self.team.employee

    def member(self, role: str):
        return {"employee": self.team.employee, "manager": self.team.manager, "finance": self.team.finance,
                "admin": self.team.admin}[role]


def build() -> Scenario:
    team = make_team(budget="100000.00")
    endpoint, _ = webhooks.endpoint_create(organization_id=team.org.pk, created_by_id=team.admin.user_id,
                                           url="https://hooks.example.com/outlay", event_types=["expense.approved"])
    draft = team.expense(amount="30.00")
    submitted = team.expense(amount="45.00", submit=True)
    paid_ids = []
    for amount in ("60.00", "70.00"):
        e = team.expense(employee=team.colleague, amount=amount, submit=True)
        services.expense_approve(actor=team.manager, expense_id=e.pk)
        paid_ids.append(e.pk)
    # the organisation's own account and the colleague's bank details: the batch makes a SEPA file
    money.debtor_account_set(actor=team.finance, name="Scenario GmbH", iban="DE02120300000000202051")
    money.bank_details_set(actor=team.colleague, membership_id=team.colleague.pk, holder="Colleague",
                           iban="DE89370400440532013000")
    run_deliveries()
    batch = accounting.payout_run(organization=team.org)
    in_batch, failed = Reimbursement.objects.filter(batch=batch).order_by("amount")
    accounting.reimbursement_mark_failed(actor=team.finance, reimbursement_id=failed.pk, reason="bounced")
    queued = team.expense(employee=team.colleague, amount="80.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=queued.pk)
    run_deliveries()
    # the policy has a (flagging, generous) rule and the manager a delegate, so both can be read and changed
    policy.category_rule_set(actor=team.admin, category_id=team.category.pk,
                             data={"max_amount": "5000.00", "on_violation": "flag"})
    standing_in = delegation.delegation_create(actor=team.manager, delegate_id=team.colleague.pk,
                                               ends_on=team.org.today() + dt.timedelta(days=14))
    run_deliveries()
    dead = Delivery.objects.filter(organization_id=team.org.pk).first()
    Delivery.objects.filter(pk=dead.pk).update(status="pending")  # made dead below, not done
    Delivery.objects.filter(pk=dead.pk).update(status="dead", done_at=None)
    webhook = WebhookDelivery.objects.filter(endpoint=endpoint).first()
    WebhookDelivery.objects.filter(pk=webhook.pk).update(status="dead", attempts=8)
    return Scenario(team=team, draft=draft, submitted=submitted, in_batch=Reimbursement.objects.get(pk=in_batch.pk),
                    failed=Reimbursement.objects.get(pk=failed.pk), batch=batch,
                    account=Account.objects.get(organization=team.org, code=Account.PAYABLE),
                    notification=Notification.objects.filter(recipient=team.manager.user).first(),
                    dead_delivery=dead, delegation=standing_in,
                    webhook_endpoint=endpoint, webhook_delivery=webhook)
