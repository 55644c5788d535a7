"""Chart of accounts, the journal (balanced and immutable, enforced by PostgreSQL),
reimbursements and payout batches."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import Q

from organizations.models import Category, Organization


class AccountKind(models.TextChoices):
    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    EXPENSE = "expense", "Expense"
    EQUITY = "equity", "Equity"
    INCOME = "income", "Income"


class Account(models.Model):
    PAYABLE = "2100"  # reimbursements payable
    CASH = "1000"  # cash at bank

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="accounts")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=AccountKind.choices)
    category = models.OneToOneField(Category, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="expense_account")

    class Meta:
        ordering = ["organization", "code"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="account_code_unique",
                                    violation_error_message="This account code is already used."),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class JournalEntry(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="journal_entries")
    date = models.DateField()
    memo = models.CharField(max_length=300)
    source_event_id = models.UUIDField(null=True, blank=True, unique=True,
                                       help_text="The event this entry posts; one entry per event.")
    reversal_of = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="reversed_by")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date", "created_at"]
        verbose_name_plural = "journal entries"
        indexes = [models.Index(fields=["organization", "date"], name="journal_org_date_idx")]

    def __str__(self) -> str:
        return f"{self.date} {self.memo}"


class JournalLine(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lines")
    debit = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    credit = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))

    class Meta:
        ordering = ["entry", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(debit__gte=0) & Q(credit__gte=0), name="journal_line_non_negative",
                                   violation_error_message="Debits and credits are never negative."),
            models.CheckConstraint(condition=(Q(debit=0) & Q(credit__gt=0)) | (Q(credit=0) & Q(debit__gt=0)),
                                   name="journal_line_one_side",
                                   violation_error_message="A line is either a debit or a credit, not both."),
        ]

    def __str__(self) -> str:
        return f"{self.account} Dr {self.debit} Cr {self.credit}"


class ReimbursementState(models.TextChoices):
    QUEUED = "queued", "Queued"
    IN_BATCH = "in_batch", "In batch"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"


class PayoutBatch(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Ready to pay"
        CONFIRMED = "confirmed", "Paid"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="payout_batches")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    payment_file = models.TextField(help_text="CSV: payee name, e-mail, amount, currency, reference.")
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by_user_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "payout batches"

    def __str__(self) -> str:
        return f"batch {str(self.id)[:8]} {self.total} {self.currency} ({self.state})"


class Reimbursement(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="reimbursements")
    expense_id = models.UUIDField(unique=True, help_text="One reimbursement per approved expense.")
    idempotency_key = models.CharField(max_length=100, unique=True)
    employee_user_id = models.BigIntegerField()
    payee_name = models.CharField(max_length=200)
    payee_email = models.CharField(max_length=254, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    merchant = models.CharField(max_length=200, blank=True, help_text="What the expense was, for the employee's "
                                                                          "\"paid\" notice.")
    incurred_on = models.DateField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=ReimbursementState.choices, default=ReimbursementState.QUEUED)
    batch = models.ForeignKey(PayoutBatch, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="reimbursements")
    failure_reason = models.TextField(blank=True)
    source_event_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="reimbursement_amount_positive",
                                   violation_error_message="A reimbursement is for a positive amount."),
        ]
        indexes = [models.Index(fields=["organization", "state"], name="reimbursement_org_state_idx")]

    def __str__(self) -> str:
        return f"{self.payee_name} {self.amount} {self.currency} ({self.state})"
