"""Expenses, their approvals, and the monthly spend read model."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import Q

from core.currencies import format_money
from money.conversion import describe
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


class PolicyOutcome(models.TextChoices):
    """What automatic approval made of a submission (empty: the organisation does not auto-approve)."""

    AUTO_APPROVED = "auto_approved", "Approved by the policy"
    SAMPLED = "sampled", "Picked for a random check"
    NOT_ELIGIBLE = "not_eligible", "Not eligible for automatic approval"


class Expense(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="expenses")
    employee = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="expenses")
    cost_center = models.ForeignKey(CostCenter, on_delete=models.PROTECT, related_name="expenses")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="expenses")
    # As spent, on the receipt: any active currency, with its own minor units (JPY 0, KWD 3).
    amount = models.DecimalField(max_digits=15, decimal_places=3)
    currency = models.CharField(max_length=3)
    # Converted once, at the rate of the date incurred (money.conversion), and used by every rule
    # and book after: budgets, policy limits, the second approval, ledger, payouts, read model.
    org_amount = models.DecimalField(max_digits=12, decimal_places=2,
                                     help_text="The amount in the organisation's currency (half up, once).")
    org_currency = models.CharField(max_length=3)
    exchange_rate = models.DecimalField(max_digits=20, decimal_places=10, default=Decimal(1),
                                        help_text="1 unit of currency = this many units of org_currency.")
    rate_date = models.DateField(help_text="The day whose rate was used (the date incurred, or up to 7 days before).")
    rate_source = models.CharField(max_length=10, default="identity", help_text="identity, ecb or manual")
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
    flags = models.JSONField(default=list, blank=True,
                             help_text="What the policy found at submission, for the approver: "
                                       "[{code, message, twin_id?}].")
    duplicate_confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the employee confirmed it is not a duplicate of a similar expense.")
    policy_version = models.PositiveIntegerField(null=True, blank=True,
                                                 help_text="The policy version the expense was submitted under.")
    policy_outcome = models.CharField(max_length=20, choices=PolicyOutcome.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=Decimal("0")), name="expense_amount_positive",
                                   violation_error_message="An expense amount must be greater than zero."),
            models.CheckConstraint(condition=Q(org_amount__gt=Decimal("0")), name="expense_org_amount_positive",
                                   violation_error_message="The converted amount must be greater than zero."),
        ]
        indexes = [
            models.Index(fields=["organization", "state", "submitted_at"], name="expense_org_state_idx"),
            # The budget check sums approved amounts of a cost centre's month: an index-only scan.
            models.Index(fields=["cost_center", "state", "incurred_on"], include=["org_amount"],
                         name="expense_budget_idx"),
            models.Index(fields=["employee", "created_at"], name="expense_employee_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} {self.amount_as_spent} ({self.state})"

    @property
    def amount_as_spent(self) -> str:
        """"120.00 USD", "1500 JPY": the amount with its currency's own decimals."""
        return format_money(self.amount, self.currency)

    @property
    def conversion_text(self) -> str:
        """"120.00 USD → 110.43 EUR at 0.9203 on 2026-11-28" (just "110.43 EUR" in the org's currency)."""
        return describe(self.amount, self.currency, self.org_amount, self.org_currency, self.exchange_rate,
                        self.rate_date)

    @property
    def month(self) -> str:
        return self.incurred_on.strftime("%Y-%m")

    @property
    def awaiting(self) -> str:
        """The approval step a submitted expense waits for (``manager`` or ``finance``), else "".
        Reads the approvals: prefetch them for a list, or read ``manager_approved`` with the row
        (``queries.approval_queue``)."""
        if self.state != ExpenseState.SUBMITTED:
            return ""
        manager_approved = self.__dict__.get("manager_approved")
        if manager_approved is None:
            manager_approved = any(approval.step == ApprovalStep.MANAGER for approval in self.approvals.all())
        return ApprovalStep.FINANCE if manager_approved else ApprovalStep.MANAGER

    @property
    def state_label(self) -> str:
        """What the state is called on every page and in the API: "Waiting for finance" once the
        manager approved an expense that needs the second, finance approval."""
        if self.awaiting == ApprovalStep.FINANCE:
            return "Waiting for finance"
        return self.get_state_display()


class CommentKind(models.TextChoices):
    COMMENT = "comment", "Comment"
    QUESTION = "question", "Returned with a question"


class Comment(models.Model):
    """One message in an expense's thread: a comment by anyone who may see the expense, or the
    question an approver returned it with. Written only by ``expenses.comments``."""

    expense = models.ForeignKey(Expense, on_delete=models.CASCADE, related_name="comments")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=CommentKind.choices, default=CommentKind.COMMENT)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["expense", "created_at"], name="comment_expense_idx")]
        constraints = [models.CheckConstraint(condition=~Q(body=""), name="comment_not_empty",
                                              violation_error_message="A comment says something.")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.expense_id}"


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
    on_behalf_of = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+", null=True, blank=True,
                                     help_text="The manager whose delegate gave this approval.")
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
        name = self.approver.display_name if self.approver_id else self.actor_label
        if self.on_behalf_of_id:
            return f"{name} on behalf of {self.on_behalf_of.display_name}"
        return name


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


# --- policy --------------------------------------------------------------------------------------

class RuleAction(models.TextChoices):
    BLOCK = "block", "Block the submission"
    FLAG = "flag", "Flag it for the approver"


class CategoryRule(models.Model):
    """An organisation's limits for one category. A limit left empty does not apply. A violation
    blocks the submission (with the rule's code) or flags the expense, as ``on_violation`` says."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="category_rules")
    category = models.OneToOneField(Category, on_delete=models.CASCADE, related_name="rule")
    max_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True,
                                     help_text="Largest amount per expense in this category.")
    receipt_required_above = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True,
                                                 help_text="A receipt is needed above this amount.")
    max_age_days = models.PositiveIntegerField(null=True, blank=True,
                                               help_text="Expenses older than this many days break the rule.")
    on_violation = models.CharField(max_length=5, choices=RuleAction.choices, default=RuleAction.BLOCK)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "category__name"]
        constraints = [
            models.CheckConstraint(condition=Q(max_amount__isnull=True) | Q(max_amount__gt=0),
                                   name="category_rule_max_amount_positive",
                                   violation_error_message="The maximum amount must be greater than zero."),
            models.CheckConstraint(condition=Q(receipt_required_above__isnull=True) | Q(receipt_required_above__gte=0),
                                   name="category_rule_receipt_non_negative",
                                   violation_error_message="The receipt threshold cannot be negative."),
        ]

    def __str__(self) -> str:
        return f"rule for {self.category}"


class PolicySettings(models.Model):
    """An organisation's automatic approval, and the number of its current policy version."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="policy")
    auto_approve_under = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True,
        help_text="Compliant expenses under this amount are approved by the policy; empty: never.")
    auto_approve_sample_percent = models.PositiveSmallIntegerField(
        default=10, help_text="This share (0-100) of the expenses the policy could approve still go to the manager.")
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "policy settings"
        constraints = [
            models.CheckConstraint(condition=Q(auto_approve_sample_percent__lte=100), name="policy_sample_percent",
                                   violation_error_message="The sample is a percentage (0-100)."),
            models.CheckConstraint(condition=Q(auto_approve_under__isnull=True) | Q(auto_approve_under__gt=0),
                                   name="policy_auto_approve_positive",
                                   violation_error_message="The auto-approval limit must be greater than zero."),
        ]

    def __str__(self) -> str:
        return f"policy of {self.organization} (v{self.version})"


class PolicyVersion(models.Model):
    """What the policy was after each change: expenses record the version they were submitted
    under, so a later change never alters an expense already in flight."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="policy_versions")
    number = models.PositiveIntegerField()
    rules = models.JSONField()
    change = models.CharField(max_length=200)
    changed_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "-number"]
        constraints = [models.UniqueConstraint(fields=["organization", "number"], name="policy_version_once")]

    def __str__(self) -> str:
        return f"{self.organization} policy v{self.number}"


class Delegation(models.Model):
    """A manager's stand-in while away: from ``starts_on`` to ``ends_on`` (both included, in the
    organisation's time zone) the delegate may approve in the delegator's place. Ending it early
    sets ``ended_at``; a delegator has at most one open delegation."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="delegations")
    delegator = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="delegations_given")
    delegate = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="delegations_received")
    starts_on = models.DateField()
    ends_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(delegator=models.F("delegate")), name="delegation_not_to_self",
                                   violation_error_message="Nobody delegates to themselves."),
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="delegation_ends_after_start",
                                   violation_error_message="A delegation ends on or after its first day."),
            models.UniqueConstraint(fields=["delegator"], condition=Q(ended_at__isnull=True),
                                    name="delegation_one_open",
                                    violation_error_message="End the current delegation before naming another."),
        ]
        indexes = [models.Index(fields=["delegate", "ends_on"], name="delegation_delegate_idx")]

    def __str__(self) -> str:
        return f"{self.delegator} -> {self.delegate} until {self.ends_on}"

