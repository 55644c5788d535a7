"""The append-only, hash-chained audit trail (one chain per organisation)."""

from __future__ import annotations

from django.db import models


class AuditEntry(models.Model):
    """One event, as the audit trail records it. PostgreSQL refuses UPDATE and DELETE, and
    TRUNCATE of a non-empty table (see migration 0002)."""

    organization_id = models.BigIntegerField()
    sequence = models.PositiveIntegerField()
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    on_behalf_of_user_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64)
    event_id = models.UUIDField(unique=True)
    correlation_id = models.CharField(max_length=64)
    payload = models.JSONField()
    origin_ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["organization_id", "sequence"]
        verbose_name_plural = "audit entries"
        constraints = [
            models.UniqueConstraint(fields=["organization_id", "sequence"], name="audit_chain_sequence_unique",
                                    violation_error_message="The audit chain cannot fork."),
        ]
        indexes = [
            models.Index(fields=["organization_id", "object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["organization_id", "occurred_at"], name="audit_org_time_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.object_type}:{self.object_id}"


class AuditChainHead(models.Model):
    """The tip of an organisation's chain, locked FOR UPDATE by every append (serialises them)."""

    organization_id = models.BigIntegerField(unique=True)
    last_sequence = models.PositiveIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"chain of {self.organization_id} at #{self.last_sequence}"
