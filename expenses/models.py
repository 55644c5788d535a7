"""Expenses, their approvals, and the monthly spend read model."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import Q

from organizations.models import Category, CostCenter, Membership, Organization


class ExpenseState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


def receipt_path(instance: Expense, filename: str) -> str:
    """Receipts are stored under generated names: the uploader's file name never reaches the disk."""
    extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(
        instance.receipt_content_type, "bin")
    return f"receipts/{instance.organization_id}/{uuid.uuid4().hex}.{extension}"


class Expense(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="expenses")
    employee = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="expenses")
    cost_center = models.ForeignKey(CostCenter, on_delete=models.PROTECT, related_name="expenses")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="expenses")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    merchant = models.CharField(max_length=200)
    incurred_on = models.DateField()
    description = models.TextField(blank=True)
    receipt = models.FileField(upload_to=receipt_path, blank=True)
    receipt_content_type = models.CharField(max_length=50, blank=True)
    receipt_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    state = models.CharField(max_length=10, choices=ExpenseState.choices, default=ExpenseState.DRAFT)
    rejection_reason = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, help_text="Bumped by every change (optimistic concurrency).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=Decimal("0")), name="expense_amount_positive",
                                   violation_error_message="An expense amount must be greater than zero."),
        ]
        indexes = [
            models.Index(fields=["organization", "state", "submitted_at"], name="expense_org_state_idx"),
            models.Index(fields=["cost_center", "state", "incurred_on"], name="expense_budget_idx"),
            models.Index(fields=["employee", "created_at"], name="expense_employee_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} {self.amount} ({self.state})"

    @property
    def month(self) -> str:
        return self.incurred_on.strftime("%Y-%m")


class ApprovalStep(models.TextChoices):
    MANAGER = "manager", "Manager"
    FINANCE = "finance", "Finance"


class Approval(models.Model):
    """One required approval step, given by a member or — without one — by a named actor such
    as an organisation policy (``actor_label``), so automatic approvals fit the same table."""

    expense = models.ForeignKey(Expense, on_delete=models.CASCADE, related_name="approvals")
    step = models.CharField(max_length=10, choices=ApprovalStep.choices)
    approver = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    actor_label = models.CharField(max_length=40, blank=True,
                                   help_text="Who approved when no member did (e.g. \"policy\").")
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["decided_at"]
        constraints = [
            models.UniqueConstraint(fields=["expense", "step"], name="approval_one_per_step",
                                    violation_error_message="This approval step was already given."),
            models.CheckConstraint(condition=Q(approver__isnull=False) | ~Q(actor_label=""),
                                   name="approval_has_an_actor",
                                   violation_error_message="An approval names its approver or its actor."),
        ]

    def __str__(self) -> str:
        return f"{self.step} approval of {self.expense_id}"

    @property
    def approver_name(self) -> str:
        return self.approver.display_name if self.approver_id else self.actor_label


class MonthlySpend(models.Model):
    """Read model: spend per organisation x month x cost centre x category.

    ``submitted_count`` counts expenses currently waiting (submitted, not yet decided or
    withdrawn); ``approved_count`` / ``approved_total`` and ``rejected_count`` count decisions.
    Maintained only by the ``expenses.monthly_spend`` subscriber; rebuilt from the event log by
    ``manage.py rebuild_read_models``.
    """

    organization_id = models.BigIntegerField()
    month = models.CharField(max_length=7)
    cost_center_id = models.BigIntegerField()
    cost_center_code = models.CharField(max_length=20)
    category_id = models.BigIntegerField()
    category_name = models.CharField(max_length=100)
    submitted_count = models.IntegerField(default=0)
    approved_count = models.IntegerField(default=0)
    rejected_count = models.IntegerField(default=0)
    approved_total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization_id", "month", "cost_center_id", "category_id"],
                                    name="monthly_spend_key"),
        ]
        indexes = [models.Index(fields=["organization_id", "month"], name="monthly_spend_org_month_idx")]

    def __str__(self) -> str:
        return f"{self.month} {self.cost_center_code}/{self.category_name}"


class ProcessedEvent(models.Model):
    """Events a read model has applied (its idempotency record: a redelivery changes nothing)."""

    event_id = models.UUIDField()
    projection = models.CharField(max_length=50)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["projection", "event_id"], name="processed_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.projection}: {self.event_id}"
