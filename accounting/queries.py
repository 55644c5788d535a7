"""Ledger reports and finance lists, scoped to the caller's organisation."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DecimalField, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from organizations.models import Membership

from .models import Account, AccountKind, JournalLine, PayoutBatch, Reimbursement

ZERO = Value(Decimal("0"), output_field=DecimalField(max_digits=14, decimal_places=2))


@dataclass(frozen=True)
class TrialBalanceRow:
    account: Account
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        """Positive on the account's normal side (debit for assets and expenses)."""
        if self.account.kind in (AccountKind.ASSET, AccountKind.EXPENSE):
            return self.debit - self.credit
        return self.credit - self.debit


def trial_balance(organization_id: int) -> list[TrialBalanceRow]:
    """Totals by account; the debit and credit columns always add up to the same sum."""
    accounts = (Account.objects.filter(organization_id=organization_id)
                .annotate(d=Coalesce(Sum("lines__debit"), ZERO), c=Coalesce(Sum("lines__credit"), ZERO))
                .order_by("code"))
    return [TrialBalanceRow(account=a, debit=a.d, credit=a.c) for a in accounts]


def account_ledger(organization_id: int, account_id: int) -> tuple[Account, list[dict]]:
    """An account's lines in order with a running balance (on the account's normal side)."""
    account = Account.objects.get(pk=account_id, organization_id=organization_id)
    sign = 1 if account.kind in (AccountKind.ASSET, AccountKind.EXPENSE) else -1
    running = Decimal("0")
    rows = []
    for line in (JournalLine.objects.filter(account=account).select_related("entry")
                 .order_by("entry__date", "entry__created_at", "id")):
        running += sign * (line.debit - line.credit)
        rows.append({"date": line.entry.date, "memo": line.entry.memo, "entry_id": line.entry_id,
                     "debit": line.debit, "credit": line.credit, "balance": running})
    return account, rows


def payable_balance(organization_id: int) -> Decimal:
    """What the company owes its employees: the credit balance of reimbursements payable."""
    totals = JournalLine.objects.filter(account__organization_id=organization_id,
                                        account__code=Account.PAYABLE).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (totals["c"] or Decimal("0")) - (totals["d"] or Decimal("0"))


def reimbursements_for(membership: Membership) -> QuerySet[Reimbursement]:
    """Finance sees the organisation's reimbursements; everyone else their own."""
    qs = Reimbursement.objects.filter(organization_id=membership.organization_id)
    if not membership.is_finance:
        qs = qs.filter(employee_user_id=membership.user_id)
    return qs.order_by("-created_at")


def reimbursement_states(organization_id: int, expense_ids) -> dict:
    """{expense_id: reimbursement state} for the expenses that have one."""
    return dict(Reimbursement.objects.filter(organization_id=organization_id, expense_id__in=list(expense_ids))
                .values_list("expense_id", "state"))


def payout_batches_for(membership: Membership) -> QuerySet[PayoutBatch]:
    return PayoutBatch.objects.filter(organization_id=membership.organization_id).order_by("-created_at")
