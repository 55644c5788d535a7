"""Reads of webhook endpoints and deliveries, always scoped to the caller's organisation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from core.errors import NotFound
from events.types import event_types

from .models import Endpoint, WebhookAttempt, WebhookDelivery

# The bus's own events (dead letters) and webhooks' own (test, disabled) are not offered.
_NOT_OFFERED = {"events", "webhooks"}


def eligible_event_types() -> list[str]:
    """Event types an endpoint can subscribe to: every type an installed domain app publishes."""
    domain = {config.name for config in apps.get_app_configs()} - _NOT_OFFERED
    return [name for name, cls in event_types().items() if cls.publisher in domain]


def endpoints_for(organization_id: int) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(organization_id=organization_id).order_by("created_at")


def endpoint_for(organization_id: int, endpoint_id) -> Endpoint:
    """One endpoint of this organisation; another organisation's is NotFound, like a missing one."""
    endpoint = Endpoint.objects.filter(organization_id=organization_id, pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def deliveries_for(endpoint: Endpoint, *, status: str | None = None, event_type: str | None = None,
                   since: datetime | None = None, until: datetime | None = None) -> QuerySet[WebhookDelivery]:
    qs = WebhookDelivery.objects.filter(endpoint=endpoint)
    if status:
        qs = qs.filter(status=status)
    if event_type:
        qs = qs.filter(event_type=event_type)
    if since:
        qs = qs.filter(occurred_at__gte=since)
    if until:
        qs = qs.filter(occurred_at__lt=until)
    return qs


def delivery_for(organization_id: int, delivery_id: int) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.filter(organization_id=organization_id, pk=delivery_id).first()
    if delivery is None:
        raise NotFound("No such webhook delivery.")
    return delivery


def attempts_of(delivery: WebhookDelivery) -> QuerySet[WebhookAttempt]:
    return delivery.attempt_log.order_by("number")


@dataclass(frozen=True)
class EndpointHealth:
    endpoint: Endpoint
    attempts_24h: int
    succeeded_24h: int
    waiting: int
    dead: int
    oldest_waiting_seconds: float | None
    breaker: str  # closed / open / half-open

    @property
    def success_rate(self) -> float | None:
        return None if not self.attempts_24h else self.succeeded_24h / self.attempts_24h


_HEALTH = """
SELECT ep.id,
       (SELECT count(*) FROM webhooks_webhookattempt a JOIN webhooks_webhookdelivery d ON d.id = a.delivery_id
        WHERE d.endpoint_id = ep.id AND a.started_at >= %(day_ago)s AND a.outcome <> 'running'),
       (SELECT count(*) FROM webhooks_webhookattempt a JOIN webhooks_webhookdelivery d ON d.id = a.delivery_id
        WHERE d.endpoint_id = ep.id AND a.started_at >= %(day_ago)s AND a.outcome = 'ok'),
       (SELECT count(*) FROM webhooks_webhookdelivery d
        WHERE d.endpoint_id = ep.id AND d.status IN ('pending', 'sending', 'failed')),
       (SELECT count(*) FROM webhooks_webhookdelivery d WHERE d.endpoint_id = ep.id AND d.status = 'dead'),
       (SELECT min(d.created_at) FROM webhooks_webhookdelivery d
        WHERE d.endpoint_id = ep.id AND d.status IN ('pending', 'sending', 'failed'))
FROM webhooks_endpoint ep WHERE ep.organization_id = %(org)s
"""


def endpoint_health(organization_id: int) -> list[EndpointHealth]:
    """Per endpoint: success rate of the last 24 h of tries, webhooks waiting and the age of the
    oldest (the lag), dead ones, and the circuit breaker's state."""
    now = timezone.now()
    endpoints = {ep.pk: ep for ep in endpoints_for(organization_id)}
    with connection.cursor() as cursor:
        cursor.execute(_HEALTH, {"org": organization_id, "day_ago": now - timedelta(days=1)})
        rows = cursor.fetchall()
    health = []
    for endpoint_id, attempts, ok, waiting, dead, oldest in rows:
        ep = endpoints[endpoint_id]
        breaker = "closed"
        if ep.breaker_open_until is not None:
            breaker = "open" if ep.breaker_open_until > now else "half-open"
        health.append(EndpointHealth(endpoint=ep, attempts_24h=attempts, succeeded_24h=ok, waiting=waiting, dead=dead,
                                     oldest_waiting_seconds=(now - oldest).total_seconds() if oldest else None,
                                     breaker=breaker))
    return sorted(health, key=lambda h: h.endpoint.created_at)
