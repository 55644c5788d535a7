"""Webhook endpoints, their signing secrets, and one delivery per event x endpoint with its attempts."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


class Endpoint(models.Model):
    """Where an organisation wants its events POSTed. No event types means every event type."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE,
                                     related_name="webhook_endpoints")
    url = models.URLField(max_length=1000)
    event_types = ArrayField(models.CharField(max_length=100), default=list, blank=True,
                             help_text="Event types sent here; empty means all.")
    description = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True,
                                       help_text="Why the system disabled it (410 Gone, days of failure).")
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()
    # Health, written by the sender: the circuit breaker and the "disable after days of failure" clock.
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    breaker_open_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["organization", "enabled"], name="webhook_endpoint_org_idx")]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class EndpointSecret(models.Model):
    """A signing secret, stored encrypted (``webhooks.secrets``). The newest has no ``expires_at``;
    a rotation gives the previous ones an expiry, and until then every live secret signs."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="secrets")
    encrypted = models.TextField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"secret of {self.endpoint_id} from {self.created_at:%Y-%m-%d %H:%M}"


class WebhookStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    FAILED = "failed", "Failed, will retry"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead"


# A webhook in one of these states holds back the later webhooks of its aggregate to its endpoint.
IN_LINE = (WebhookStatus.PENDING, WebhookStatus.SENDING, WebhookStatus.FAILED)


class WebhookDelivery(models.Model):
    """One event for one endpoint. ``webhook_id`` is the receiver's dedup key: the same on every
    retry, replay and re-send."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey("events.Event", on_delete=models.PROTECT, related_name="+")
    webhook_id = models.CharField(max_length=64, unique=True)
    organization_id = models.BigIntegerField()
    event_type = models.CharField(max_length=100)
    # Copied from the event: the ordering rule (one aggregate's webhooks in sequence) reads no join.
    aggregate_key = models.CharField(max_length=120)
    sequence = models.PositiveIntegerField()
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Tries in this round (a replay starts anew).")
    next_attempt_at = models.DateTimeField()
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once",
                                    violation_error_message="An event goes to an endpoint as one webhook."),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status__in=["pending", "failed"]),
                         name="webhook_due_idx"),
            models.Index(fields=["leased_until"], condition=Q(status="sending"), name="webhook_lease_idx"),
            models.Index(fields=["endpoint", "aggregate_key", "sequence"], condition=Q(status__in=list(IN_LINE)),
                         name="webhook_in_line_idx"),
            models.Index(fields=["endpoint", "occurred_at"], name="webhook_endpoint_time_idx"),
            models.Index(fields=["endpoint", "status", "created_at"], name="webhook_endpoint_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id} ({self.status})"

    @property
    def last_attempt(self):
        """The latest attempt, from the prefetched ``attempt_log`` (ordered by number) when there is one."""
        attempts = list(self.attempt_log.all())
        return attempts[-1] if attempts else None


class WebhookAttempt(models.Model):
    """One HTTP request (or a refusal to send one): when it was due, when it ran, what came back."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "Accepted (2xx)"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused by the receiver (dead)"
        GONE = "gone", "410 Gone (endpoint disabled)"
        BLOCKED = "blocked", "Not sent (address not allowed)"
        LOST = "lost", "Lost (worker died)"

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    scheduled_for = models.DateTimeField(help_text="When this try was due (Retry-After and the schedule decide).")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first 2 KB of the response.")
    error = models.CharField(max_length=500, blank=True)
    retry_after_seconds = models.FloatField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number_unique")]

    def __str__(self) -> str:
        return f"attempt {self.number} of webhook {self.delivery_id}: {self.outcome}"
