"""The outbox: events (the log), deliveries (event x subscriber) and attempts (each try)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from uuid_utils.compat import uuid7


class Event(models.Model):
    """An immutable envelope around one domain event. The database refuses UPDATE and DELETE."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)  # time-ordered: see publishing
    type = models.CharField(max_length=100)
    version = models.PositiveSmallIntegerField()
    occurred_at = models.DateTimeField()
    # Plain ids, not foreign keys: the bus knows no domain app (import contract).
    organization_id = models.BigIntegerField()
    aggregate_type = models.CharField(max_length=50)
    aggregate_id = models.CharField(max_length=64)
    sequence = models.PositiveIntegerField(help_text="Position in the aggregate's own history, from 1.")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", db_constraint=False)
    actor_label = models.CharField(max_length=150, blank=True,
                                   help_text="Who acted when it was not a user (e.g. 'policy'), or their name.")
    correlation_id = models.CharField(max_length=64)
    causation_id = models.UUIDField(null=True, blank=True)
    payload = models.JSONField()
    origin = models.JSONField(default=dict, blank=True, help_text="IP and user agent of the request, if any.")

    class Meta:
        ordering = ["occurred_at", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["aggregate_type", "aggregate_id", "sequence"],
                                    name="event_aggregate_sequence_unique",
                                    violation_error_message="An aggregate's event sequence cannot fork."),
        ]
        indexes = [
            models.Index(fields=["organization_id", "occurred_at"], name="event_org_time_idx"),
            models.Index(fields=["type", "occurred_at"], name="event_type_time_idx"),
            models.Index(fields=["correlation_id"], name="event_correlation_idx"),
            # A backfill walks the log in this order, after a cursor, one chunk at a time.
            models.Index(fields=["occurred_at", "id"], name="event_log_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.aggregate_type}:{self.aggregate_id}#{self.sequence}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_FLIGHT = "in_flight", "In flight"
    DONE = "done", "Done"
    DEAD = "dead", "Dead"


class Delivery(models.Model):
    """One subscriber's handling of one event: the unit that is retried, leased and replayed."""

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    subscriber = models.CharField(max_length=100)
    # Copied from the event so the sweeper and the dashboards never join.
    event_type = models.CharField(max_length=100)
    organization_id = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(help_text="When the sweeper (re)sends it if it is still pending.")
    leased_at = models.DateTimeField(null=True, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "subscriber"], name="delivery_event_subscriber_unique",
                                    violation_error_message="An event is delivered once per subscriber."),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(done_at__isnull=False),
                name="delivery_done_has_time",
                violation_error_message="A done delivery records when it was done.",
            ),
        ]
        indexes = [
            # The sweeper's two scans stay small at millions of rows: partial indexes hold only
            # the rows that can still need work.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="delivery_due_idx"),
            # A batch claim takes one subscriber's waiting deliveries oldest first: only pending
            # rows are in it, so its cost does not grow with the done ones.
            models.Index(fields=["subscriber", "id"], condition=Q(status="pending"), name="delivery_waiting_idx"),
            models.Index(fields=["leased_until"], condition=Q(status="in_flight"), name="delivery_lease_idx"),
            models.Index(fields=["subscriber", "status"], name="delivery_subscriber_status_idx"),
            models.Index(fields=["status", "created_at"], name="delivery_status_created_idx"),
            models.Index(fields=["organization_id", "status"], name="delivery_org_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber} <- {self.event_type} ({self.status})"


class AttemptOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    ERROR = "error", "Error"
    LOST = "lost", "Lost (worker died or lease expired)"


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        indexes = [models.Index(fields=["finished_at"], name="attempt_finished_idx")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.outcome}"


class BackfillRun(models.Model):
    """One backfill of a subscriber from the log (``events backfill``): how far it got, so that a
    run killed mid-way resumes at its cursor, and its progress for the operator."""

    subscriber = models.CharField(max_length=100)
    since = models.DateTimeField(null=True, blank=True)
    events_total = models.BigIntegerField(help_text="Events of the subscriber's types when the run started.")
    events_done = models.BigIntegerField(default=0)
    created = models.BigIntegerField(default=0, help_text="Deliveries created (events that had none).")
    cursor_occurred_at = models.DateTimeField(null=True, blank=True)
    cursor_event_id = models.UUIDField(null=True, blank=True)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"backfill of {self.subscriber}: {self.events_done}/{self.events_total}"

    @property
    def fraction(self) -> float:
        return 1.0 if not self.events_total else min(1.0, self.events_done / self.events_total)


class ReplayRun(models.Model):
    """One replay of more deliveries than one batch (``events replay``, the operations page, the
    admin, the API): which ones, how far it got (a cursor over delivery ids, so that a run killed
    mid-way resumes where it stopped) and its progress for the operator."""

    organization_id = models.BigIntegerField(null=True, blank=True,
                                             help_text="Only this organisation's deliveries; empty: all.")
    selection = models.JSONField(null=True, blank=True,
                                 help_text="The filter as given; an unfinished run with the same one is resumed. "
                                           "Empty: not resumable (an admin selection).")
    description = models.CharField(max_length=300)
    total = models.BigIntegerField(help_text="Deliveries to replay when the run started.")
    done = models.BigIntegerField(default=0, help_text="Deliveries reset to pending so far.")
    cursor_id = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["organization_id", "finished_at"], name="replayrun_org_open_idx")]

    def __str__(self) -> str:
        return f"replay of {self.description}: {self.done}/{self.total}"

    @property
    def fraction(self) -> float:
        if self.finished_at or not self.total:
            return 1.0
        return min(1.0, self.done / self.total)


class PrunedDeliveries(models.Model):
    """What is left of a subscriber's done deliveries of one event type once they are pruned
    (``events.retention.prune_deliveries``): the span of the log they covered, in the log's order
    (occurred_at, event id), and how many there were.

    A backfill reads it as "delivered": an event of this type inside the span that has no
    delivery row had one, pruned, so none is created again (``events.sql.BACKFILL_CHUNK``). Events
    outside every span are backfilled as before. The span only grows (each prune widens it)."""

    subscriber = models.CharField(max_length=100)
    event_type = models.CharField(max_length=100)
    first_occurred_at = models.DateTimeField()
    first_event_id = models.UUIDField()
    last_occurred_at = models.DateTimeField()
    last_event_id = models.UUIDField()
    deliveries = models.BigIntegerField(help_text="Done deliveries pruned so far.")
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "pruned deliveries"
        ordering = ["subscriber", "event_type"]
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "event_type"], name="pruned_deliveries_once",
                                    violation_error_message="A subscriber's pruned deliveries of a type are one span."),
        ]

    def __str__(self) -> str:
        return f"{self.deliveries} pruned deliveries of {self.event_type} to {self.subscriber}"
