"""Retention: what the outbox forgets once it is no longer needed. Events stay (they are the log)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import Attempt, DeliveryStatus


def prune_attempts(older_than_days: int | None = None) -> int:
    """Delete attempt rows of done deliveries finished before the retention age. Events stay."""
    days = settings.OUTBOX_ATTEMPT_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = Attempt.objects.filter(delivery__status=DeliveryStatus.DONE, finished_at__lt=cutoff).delete()
    return deleted
