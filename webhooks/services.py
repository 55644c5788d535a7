"""Commands: manage endpoints and secrets, create webhooks for events, replay and re-send.

Only these write webhook rows (the API, the pages and the admin call them). A webhook for an
event is created by ``webhooks_enqueue`` inside the bus delivery of that event (see
``subscribers.py``), so it commits exactly when the bus marks that delivery done: never for an
event that rolled back, never lost, never twice (one row per event x endpoint).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from events.publishing import publish

from . import secrets
from .events import WebhookEndpointDisabled, WebhookTestRequested
from .models import Endpoint, EndpointSecret, WebhookDelivery, WebhookStatus
from .queries import eligible_event_types
from .transport import url_refusal


def check_endpoint_fields(*, url: str | None, event_types: list[str] | None) -> None:
    errors = {}
    if url is not None:
        refusal = url_refusal(url) if len(url) <= 1000 else "the URL is longer than 1000 characters"
        if refusal:
            errors["url"] = [refusal]
    if event_types is not None:
        unknown = sorted(set(event_types) - set(eligible_event_types()))
        if unknown:
            errors["event_types"] = [f"not an event type an endpoint can receive: {', '.join(unknown)}"]
    if errors:
        raise ValidationFailed("The webhook endpoint is not valid.", code="invalid_endpoint", details=errors)


def _add_secret(endpoint: Endpoint, now: datetime) -> str:
    secret = secrets.new_secret()
    EndpointSecret.objects.create(endpoint=endpoint, encrypted=secrets.encrypt(secret), created_at=now)
    return secret


@transaction.atomic
def endpoint_create(*, organization_id: int, created_by_id: int | None, url: str, event_types: list[str],
                    description: str = "", enabled: bool = True) -> tuple[Endpoint, str]:
    """Create an endpoint and its first signing secret; return both. The secret is returned
    here only: it is stored encrypted and never shown again. Refuses a non-https URL (unless
    WEBHOOK_ALLOW_HTTP), a private literal address, and unknown event types."""
    check_endpoint_fields(url=url, event_types=event_types)
    now = timezone.now()
    endpoint = Endpoint.objects.create(organization_id=organization_id, url=url, event_types=sorted(set(event_types)),
                                       description=description, enabled=enabled, created_by_id=created_by_id,
                                       created_at=now)
    return endpoint, _add_secret(endpoint, now)


@transaction.atomic
def endpoint_update(*, endpoint: Endpoint, **changes) -> Endpoint:
    """Change url, event_types, description or enabled. Enabling clears the system's reason and
    its failure clock, so a repaired receiver starts with a closed breaker."""
    allowed = {"url", "event_types", "description", "enabled"}
    changes = {k: v for k, v in changes.items() if k in allowed}
    check_endpoint_fields(url=changes.get("url"), event_types=changes.get("event_types"))
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    if "event_types" in changes:
        changes["event_types"] = sorted(set(changes["event_types"]))
    for name, value in changes.items():
        setattr(endpoint, name, value)
    fields = list(changes)
    if changes.get("enabled") is True:
        endpoint.disabled_reason, endpoint.disabled_at = "", None
        endpoint.consecutive_failures, endpoint.failing_since, endpoint.breaker_open_until = 0, None, None
        fields += ["disabled_reason", "disabled_at", "consecutive_failures", "failing_since", "breaker_open_until"]
    elif changes.get("enabled") is False:
        endpoint.disabled_at = timezone.now()
        fields.append("disabled_at")
    if fields:
        endpoint.save(update_fields=fields)
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: Endpoint) -> None:
    """Delete an endpoint with its secrets and its delivery history. A send in flight finds its
    row gone and stops."""
    endpoint.delete()


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: Endpoint, overlap_seconds: float | None = None) -> str:
    """Add a new secret; the live ones keep signing for ``overlap_seconds`` (default
    WEBHOOK_SECRET_OVERLAP_SECONDS, 24 h), so receivers can switch without a gap. Returns the
    new secret, once."""
    overlap = settings.WEBHOOK_SECRET_OVERLAP_SECONDS if overlap_seconds is None else overlap_seconds
    now = timezone.now()
    Endpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
    live = EndpointSecret.objects.filter(endpoint=endpoint).exclude(expires_at__lte=now)
    live.filter(expires_at__isnull=True).update(expires_at=now + timedelta(seconds=overlap))
    live.filter(expires_at__gt=now + timedelta(seconds=overlap)).update(expires_at=now + timedelta(seconds=overlap))
    return _add_secret(endpoint, now)


def signing_secrets(endpoint_id, now: datetime) -> list[str]:
    """The secrets that sign now, newest first."""
    rows = (EndpointSecret.objects.filter(endpoint_id=endpoint_id).exclude(expires_at__lte=now)
            .order_by("-created_at", "-id").values_list("encrypted", flat=True))
    return [secrets.decrypt(row) for row in rows]


@transaction.atomic
def endpoint_send_test(*, endpoint: Endpoint, user_id: int | None) -> WebhookDelivery:
    """Publish a ``webhook.test`` event and queue its webhook to this one endpoint (even if the
    endpoint does not subscribe to it, and even while disabled: a test is how one checks)."""
    event = publish(WebhookTestRequested(endpoint_id=endpoint.pk, organization_id=endpoint.organization_id,
                                         url=endpoint.url, requested_by_user_id=user_id),
                    organization_id=endpoint.organization_id, actor_id=user_id)
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_id=event.id, webhook_id=_webhook_id(), organization_id=endpoint.organization_id,
        event_type=event.type, aggregate_key=f"{event.aggregate_type}:{event.aggregate_id}", sequence=event.sequence,
        occurred_at=event.occurred_at, next_attempt_at=now, created_at=now)
    transaction.on_commit(kick_scheduler, robust=True)
    return delivery


def _webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


# One statement: the webhooks of these events for every matching enabled endpoint of their
# organisations, and, for the ordering rule, those of each aggregate's earlier events that an
# endpoint should have had but has not yet (their own bus deliveries may still be retrying: an
# aggregate's events commit in sequence order, so they are all visible here). Events older
# than the endpoint are not sent to it. Several events of one aggregate in a batch need only
# its highest sequence: "every event up to each of them" is "every event up to the last". The
# rows go in in (aggregate, sequence, endpoint) order, so two batches that share rows take
# their index locks in the same order.
_ENQUEUE = """
INSERT INTO webhooks_webhookdelivery (endpoint_id, event_id, webhook_id, organization_id, event_type, aggregate_key,
                                      sequence, occurred_at, status, attempts, next_attempt_at, last_error, created_at)
SELECT ep.id, e.id, 'msg_' || replace(gen_random_uuid()::text, '-', ''), e.organization_id, e.type,
       e.aggregate_type || ':' || e.aggregate_id, e.sequence, e.occurred_at, %(pending)s, 0, %(now)s, '', %(now)s
FROM (SELECT org, agg_type, agg_id, max(seq) AS seq
      FROM unnest(%(org)s::bigint[], %(agg_type)s::text[], %(agg_id)s::text[], %(seq)s::int[])
           AS batch(org, agg_type, agg_id, seq)
      GROUP BY org, agg_type, agg_id) AS agg
JOIN webhooks_endpoint ep ON ep.organization_id = agg.org AND ep.enabled
JOIN events_event e ON e.aggregate_type = agg.agg_type AND e.aggregate_id = agg.agg_id AND e.sequence <= agg.seq
                   AND e.organization_id = ep.organization_id AND e.occurred_at >= ep.created_at
WHERE e.type = ANY(%(eligible)s) AND (cardinality(ep.event_types) = 0 OR e.type = ANY(ep.event_types))
ORDER BY e.organization_id, e.aggregate_type, e.aggregate_id, e.sequence, ep.id
ON CONFLICT (endpoint_id, event_id) DO NOTHING
"""


@dataclass(frozen=True)
class EnqueuedEvent:
    """Where an event sits: what ``webhooks_enqueue_many`` needs of each."""

    organization_id: int
    aggregate_type: str
    aggregate_id: str
    sequence: int


def webhooks_enqueue(*, organization_id: int, aggregate_type: str, aggregate_id: str, sequence: int) -> int:
    """Create the webhooks of one event (and any missing earlier ones of its aggregate); return
    how many. Runs inside the bus delivery's transaction; sends are kicked after it commits."""
    return webhooks_enqueue_many(events=[EnqueuedEvent(organization_id, aggregate_type, aggregate_id, sequence)])


def webhooks_enqueue_many(*, events: Sequence[EnqueuedEvent]) -> int:
    """``webhooks_enqueue`` for several events (a batch of deliveries) in one statement: the same
    rows as one event after the other, none twice (a redelivered event adds nothing), and one
    kick of the scheduler after commit. Returns how many were created."""
    if not events:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_ENQUEUE, {
            "pending": WebhookStatus.PENDING, "now": timezone.now(), "eligible": eligible_event_types(),
            "org": [e.organization_id for e in events], "agg_type": [e.aggregate_type for e in events],
            "agg_id": [e.aggregate_id for e in events], "seq": [e.sequence for e in events]})
        created = cursor.rowcount
    if created:
        transaction.on_commit(kick_scheduler, robust=True)
    return created


def kick_scheduler() -> None:
    """After commit: ask for a scheduling round now instead of at the next beat tick."""
    from .tasks import schedule

    with contextlib.suppress(Exception):  # beat runs the scheduler anyway; a lost kick costs a tick
        schedule.apply_async(retry=False)


# --- replay and re-send --------------------------------------------------------------------------

_REPLAYABLE = (WebhookStatus.DEAD, WebhookStatus.FAILED, WebhookStatus.DELIVERED)


def _send_again(qs) -> int:
    """Put these webhooks back in line for a new round of tries (same webhook-id), sent now."""
    now = timezone.now()
    return qs.filter(status__in=_REPLAYABLE).update(status=WebhookStatus.PENDING, attempts=0, next_attempt_at=now,
                                                    leased_until=None, lease_token=None)


@transaction.atomic
def webhook_replay(*, delivery: WebhookDelivery) -> int:
    """Send one webhook again, whatever became of it (same webhook-id: a receiver that already
    has it drops it). Refuses one that is still waiting or being sent (it will go anyway)."""
    if delivery.status in (WebhookStatus.PENDING, WebhookStatus.SENDING):
        raise Conflict("This webhook is still waiting to be sent.", code="webhook_in_line")
    replayed = _send_again(WebhookDelivery.objects.filter(pk=delivery.pk))
    transaction.on_commit(kick_scheduler, robust=True)
    return replayed


_BACKFILL = """
INSERT INTO webhooks_webhookdelivery (endpoint_id, event_id, webhook_id, organization_id, event_type, aggregate_key,
                                      sequence, occurred_at, status, attempts, next_attempt_at, last_error, created_at)
SELECT %(endpoint)s, e.id, 'msg_' || replace(gen_random_uuid()::text, '-', ''), e.organization_id, e.type,
       e.aggregate_type || ':' || e.aggregate_id, e.sequence, e.occurred_at, %(pending)s, 0, %(now)s, '', %(now)s
FROM events_event e
WHERE e.organization_id = %(org)s AND e.occurred_at >= %(since)s
  AND (%(until)s::timestamptz IS NULL OR e.occurred_at < %(until)s)
  AND e.type = ANY(%(types)s)
ON CONFLICT (endpoint_id, event_id) DO NOTHING
"""


@transaction.atomic
def endpoint_replay(*, endpoint: Endpoint, since: datetime, until: datetime | None = None,
                    only_failed: bool = False) -> int:
    """Send again this endpoint's webhooks of events that occurred in [since, until).

    ``only_failed``: the dead and failing ones. Otherwise **everything** in the window (the
    receiver lost a day): its delivered webhooks too, and the events of the window it never got a
    webhook for (it was disabled, or created later) are added, in the set-based statement above.
    Each keeps its webhook-id; per-aggregate order holds as for first sends. Returns how many."""
    if until is not None and until <= since:
        raise ValidationFailed("'until' must be after 'since'.", code="invalid_window")
    added = 0
    if not only_failed:
        types = [t for t in eligible_event_types() if endpoint.wants(t)]
        with connection.cursor() as cursor:
            cursor.execute(_BACKFILL, {"endpoint": endpoint.pk, "pending": WebhookStatus.PENDING, "now": timezone.now(),
                                       "org": endpoint.organization_id, "since": since, "until": until, "types": types})
            added = cursor.rowcount
    qs = WebhookDelivery.objects.filter(endpoint=endpoint, occurred_at__gte=since)
    if until is not None:
        qs = qs.filter(occurred_at__lt=until)
    if only_failed:
        qs = qs.filter(status__in=[WebhookStatus.DEAD, WebhookStatus.FAILED])
    replayed = _send_again(qs) + added
    transaction.on_commit(kick_scheduler, robust=True)
    return replayed


# --- endpoint health, written by the sender -------------------------------------------------------

def endpoint_disable(*, endpoint_id, reason: str) -> None:
    """The system disables an endpoint (410 Gone, days of failure) and tells the admins through
    a ``webhook.endpoint_disabled`` event. Runs inside the sender's transaction."""
    now = timezone.now()
    updated = Endpoint.objects.filter(pk=endpoint_id, enabled=True).update(enabled=False, disabled_reason=reason[:300],
                                                                            disabled_at=now)
    if not updated:
        return
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    publish(WebhookEndpointDisabled(endpoint_id=endpoint.pk, organization_id=endpoint.organization_id,
                                    url=endpoint.url, reason=reason[:300]),
            organization_id=endpoint.organization_id, actor_label="webhooks")

