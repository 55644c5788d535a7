"""The outbox per minute: what the operations page's charts draw (issue 22)."""

from __future__ import annotations

from django.db import models


class OutboxMinute(models.Model):
    """One organisation's subscriber in one minute: deliveries done and attempts failed in it, and
    (sampled when the minute was rolled up) the lag and the dead letters waiting. Written only by
    ``observability.rollup.roll_up``; pruned after ``OUTBOX_ROLLUP_RETENTION_HOURS``."""

    minute = models.DateTimeField(help_text="Start of the minute (UTC).")
    organization_id = models.BigIntegerField()
    subscriber = models.CharField(max_length=100)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    lag_seconds = models.FloatField(null=True, help_text="Age of the oldest waiting delivery at the minute's end.")
    dead = models.PositiveIntegerField(null=True, help_text="Dead letters waiting at the minute's end.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization_id", "minute", "subscriber"], name="outbox_minute_key",
                                    violation_error_message="One row per organisation, minute and subscriber."),
        ]
        indexes = [models.Index(fields=["minute"], name="outbox_minute_time_idx")]

    def __str__(self) -> str:
        return f"{self.subscriber} {self.minute:%Y-%m-%d %H:%M}: {self.done} done"
