from __future__ import annotations

from django.db.models import QuerySet

from .models import AuditEntry


def audit_trail(organization_id: int, *, actor_id=None, action=None, since=None, until=None) -> QuerySet[AuditEntry]:
    qs = AuditEntry.objects.filter(organization_id=organization_id)
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    if action:
        qs = qs.filter(action=action)
    if since:
        qs = qs.filter(occurred_at__gte=since)
    if until:
        qs = qs.filter(occurred_at__lt=until)
    return qs.order_by("-sequence")
