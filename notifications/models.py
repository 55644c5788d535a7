"""In-app notifications, per-user preferences, and the e-mail outbox."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Kind(models.TextChoices):
    EXPENSE_SUBMITTED = "expense_submitted", "An expense waits for your approval"
    FINANCE_APPROVAL = "finance_approval", "An expense needs a finance approval"
    EXPENSE_APPROVED = "expense_approved", "Your expense was approved"
    EXPENSE_REJECTED = "expense_rejected", "Your expense was rejected"
    REIMBURSEMENT_PAID = "reimbursement_paid", "Your reimbursement was paid"
    EXPENSE_COMMENTED = "expense_commented", "Someone wrote about an expense of yours or one you approve"
    EXPENSE_RETURNED = "expense_returned", "Your expense was returned with a question"
    DELIVERY_DEAD = "delivery_dead", "A side effect failed"
    APPROVER_DIGEST = "approver_digest", "Daily digest of what waits for your approval"
    ACCOUNT_LOCKED = "account_locked", "Your account was locked after failed log-ins"


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    organization_id = models.BigIntegerField()
    kind = models.CharField(max_length=30, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=300, blank=True)
    source_event_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["source_event_id", "recipient", "kind"], name="notification_once",
                                    violation_error_message="One notification per event, recipient and kind."),
        ]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return f"{self.recipient_id}: {self.title}"


class NotificationPreference(models.Model):
    """A user's choice per kind; without a row, both in-app and e-mail are on."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    in_app = models.BooleanField(default=True)
    email = models.BooleanField(default=True)
    digest = models.BooleanField(
        default=False, help_text="Only for submissions: one daily digest instead of a notification per submission.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_once"),
            models.CheckConstraint(condition=models.Q(digest=False) | models.Q(kind="expense_submitted"),
                                   name="notification_digest_only_for_submissions",
                                   violation_error_message="Only submissions can be collected in a digest."),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: in-app {self.in_app}, e-mail {self.email}"


class EmailMessage(models.Model):
    """One mail to send, written in the same transaction as the notification it belongs to."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    to = models.EmailField()
    kind = models.CharField(max_length=30, choices=Kind.choices)
    subject = models.CharField(max_length=200)
    text = models.TextField()
    html = models.TextField()
    source_event_id = models.UUIDField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_event_id", "recipient", "kind"], name="email_once",
                                    violation_error_message="One mail per event, recipient and kind."),
        ]
        indexes = [models.Index(fields=["next_attempt_at"], condition=models.Q(status="pending"),
                                name="email_due_idx")]

    def __str__(self) -> str:
        return f"mail to {self.to}: {self.subject} ({self.status})"


class DigestSent(models.Model):
    """An approver's daily digest, at most one per (user, day in their organisation's time zone)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    waiting = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="digest_once_a_day",
                                               violation_error_message="One digest per user and day.")]

    def __str__(self) -> str:
        return f"digest for {self.user_id} on {self.day}"
