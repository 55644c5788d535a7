"""Scheduling and sending webhooks: who goes next, one try, and what its answer means.

**The scheduling round** (``schedule_round``, from beat every WEBHOOK_SCHEDULE_SECONDS and kicked
after every commit that makes a webhook ready) claims, in one statement, the webhooks that may
go now and sends one ``webhooks.send`` task each to the ``webhooks`` queue:

* due (``next_attempt_at`` passed: retries are rows with a time, never Celery countdowns);
* the endpoint is enabled and its circuit breaker closed (or half-open: one probe at a time);
* first in its line: no earlier webhook of the same aggregate to the same endpoint is still
  pending, being sent or retrying (a dead one no longer holds the line). Other aggregates'
  webhooks are not held up;
* at most WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT in flight per endpoint, so a slow endpoint holds
  that many worker slots and no more.

A claim is a lease (``leased_until``, a token). A worker killed mid-send leaves the row
``sending``; once the lease runs out the round puts it back in line and it is sent again with
the same webhook-id (the receiver deduplicates on it).

**One try** (``send_one``) signs and POSTs, then records the attempt and the verdict in one
transaction: 2xx delivered; 410 the endpoint is disabled; another 4xx, except 408, 409, 425 and
429, is dead at once (the receiver refused it: retrying would only be a storm); anything else
(3xx, 5xx, 408/409/425/429, timeouts, refused connections) is retried on WEBHOOK_RETRY_SCHEDULE,
at least Retry-After later for 429 and 503, and dead once the schedule is used up.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from events.models import Event

from . import message, transport
from .models import Endpoint, WebhookAttempt, WebhookDelivery, WebhookStatus
from .services import endpoint_disable, kick_scheduler, signing_secrets

logger = logging.getLogger(__name__)

RETRYABLE_4XX = {408, 409, 425, 429}
RETRY_AFTER_STATUSES = {429, 503}


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + settings.WEBHOOK_LEASE_MARGIN_SECONDS)


# Expired leases first (a worker died mid-send): back in line, their running attempt marked lost.
_RECLAIM = """
WITH lost AS (
    UPDATE webhooks_webhookdelivery SET status = %(failed)s, leased_until = NULL, lease_token = NULL,
                                        last_error = 'worker lost mid-send', next_attempt_at = %(now)s
    WHERE status = %(sending)s AND leased_until < %(now)s
    RETURNING id
)
UPDATE webhooks_webhookattempt SET outcome = 'lost', finished_at = %(now)s, error = 'worker lost mid-send'
WHERE delivery_id IN (SELECT id FROM lost) AND outcome = 'running'
"""

_CLAIM = """
WITH ready AS (
    SELECT d.id, d.endpoint_id, d.next_attempt_at,
           row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS place
    FROM webhooks_webhookdelivery d
    JOIN webhooks_endpoint ep ON ep.id = d.endpoint_id
    WHERE d.status IN (%(pending)s, %(failed)s) AND d.next_attempt_at <= %(now)s
      AND ep.enabled AND (ep.breaker_open_until IS NULL OR ep.breaker_open_until <= %(now)s)
      AND NOT EXISTS (
          SELECT 1 FROM webhooks_webhookdelivery p
          WHERE p.endpoint_id = d.endpoint_id AND p.aggregate_key = d.aggregate_key AND p.sequence < d.sequence
            AND p.status IN (%(pending)s, %(sending)s, %(failed)s))
), busy AS (
    SELECT endpoint_id, count(*) AS n FROM webhooks_webhookdelivery WHERE status = %(sending)s GROUP BY endpoint_id
), chosen AS (
    SELECT r.id FROM ready r
    JOIN webhooks_endpoint ep ON ep.id = r.endpoint_id
    LEFT JOIN busy b ON b.endpoint_id = r.endpoint_id
    WHERE r.place <= (CASE WHEN ep.breaker_open_until IS NULL THEN %(limit)s ELSE 1 END) - COALESCE(b.n, 0)
    ORDER BY r.next_attempt_at
    LIMIT %(batch)s
)
UPDATE webhooks_webhookdelivery d
SET status = %(sending)s, lease_token = gen_random_uuid(), leased_until = %(now)s + %(lease)s
FROM chosen WHERE d.id = chosen.id AND d.status IN (%(pending)s, %(failed)s)
RETURNING d.id, d.lease_token
"""


def claim_ready() -> list[tuple[int, str]]:
    """Put expired leases back in line, then claim what may go now: (webhook id, lease token)."""
    now = timezone.now()
    params = {"now": now, "pending": WebhookStatus.PENDING, "sending": WebhookStatus.SENDING,
              "failed": WebhookStatus.FAILED, "limit": settings.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT,
              "batch": settings.WEBHOOK_SCHEDULE_BATCH, "lease": _lease()}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RECLAIM, params)
        cursor.execute(_CLAIM, params)
        return [(delivery_id, str(token)) for delivery_id, token in cursor.fetchall()]


def schedule_round() -> int:
    """Claim what may go now and send its tasks; return how many. Callers run one round at a
    time (``tasks.schedule`` holds a Redis lock), which is what keeps the per-endpoint bound."""
    from .tasks import send

    claimed = claim_ready()
    if not claimed:
        return 0
    sent = 0
    try:
        with send.app.producer_or_acquire() as producer:
            for delivery_id, token in claimed:
                send.apply_async((delivery_id, token), producer=producer, queue=settings.WEBHOOK_QUEUE, retry=False)
                sent += 1
    except Exception as exc:  # noqa: BLE001 - unsent claims go back in line when their lease ends
        logger.warning("broker unreachable, %d webhooks wait for their lease to end: %s", len(claimed) - sent, exc)
    return sent


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_START = """
WITH d AS (
    UPDATE webhooks_webhookdelivery SET attempts = attempts + 1
    WHERE id = %(id)s AND lease_token = %(token)s AND status = %(sending)s
    RETURNING id, attempts, next_attempt_at, endpoint_id, event_id, webhook_id
), a AS (
    INSERT INTO webhooks_webhookattempt (delivery_id, number, scheduled_for, started_at, outcome, response_body,
                                         error, worker)
    SELECT d.id, COALESCE((SELECT max(number) FROM webhooks_webhookattempt x WHERE x.delivery_id = d.id), 0) + 1,
           d.next_attempt_at, %(now)s, 'running', '', '', %(worker)s
    FROM d RETURNING id
)
SELECT d.attempts, d.endpoint_id, d.event_id, d.webhook_id, a.id FROM d, a
"""


def send_one(delivery_id: int, token: str) -> str:
    """One try of one claimed webhook; return what happened."""
    now = timezone.now()
    with connection.cursor() as cursor:  # autocommit: the attempt is on record before the request
        cursor.execute(_START, {"id": delivery_id, "token": token, "sending": WebhookStatus.SENDING, "now": now,
                                "worker": worker_name()[:200]})
        row = cursor.fetchone()
    if row is None:
        return "skipped: not ours (done, replayed, or the lease was taken over)"
    attempts, endpoint_id, event_id, webhook_id, attempt_id = row
    endpoint = Endpoint.objects.only("url", "organization_id").get(pk=endpoint_id)
    event = Event.objects.get(pk=event_id)
    body = message.body_for(event_type=event.type, occurred_at=event.occurred_at, event_id=event.id,
                            version=event.version, aggregate_type=event.aggregate_type,
                            aggregate_id=event.aggregate_id, sequence=event.sequence,
                            correlation_id=event.correlation_id, causation_id=event.causation_id,
                            payload=event.payload)
    headers = message.headers_for(webhook_id=webhook_id, body=body, secrets=signing_secrets(endpoint_id, now),
                                  now=timezone.now())
    response = transport.post(endpoint.url, body, headers)
    finished = timezone.now()
    verdict = judge(response, attempts, now=finished)
    with transaction.atomic():
        WebhookAttempt.objects.filter(pk=attempt_id).update(
            outcome=verdict.outcome, finished_at=finished, status_code=response.status,
            duration_ms=response.duration_ms, response_body=response.body, error=response.error[:500],
            retry_after_seconds=response.retry_after)
        ours = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id, lease_token=token).first()
        if ours is None:
            return "skipped: lease taken over while sending"
        ours.status, ours.last_status_code = verdict.status, response.status
        ours.last_error = (response.error or (f"HTTP {response.status}" if verdict.outcome != "ok" else ""))[:500]
        ours.leased_until = ours.lease_token = None
        fields = ["status", "last_status_code", "last_error", "leased_until", "lease_token"]
        if verdict.status == WebhookStatus.DELIVERED:
            ours.delivered_at = timezone.now()
            fields.append("delivered_at")
        if verdict.next_attempt_at is not None:
            ours.next_attempt_at = verdict.next_attempt_at
            fields.append("next_attempt_at")
        ours.save(update_fields=fields)
        _endpoint_health(endpoint_id, verdict)
        transaction.on_commit(kick_scheduler, robust=True)
    logger.info("webhook %s to endpoint %s: %s (HTTP %s, %d ms)", webhook_id, endpoint_id, verdict.status,
                response.status, response.duration_ms, extra={"event_id": str(event_id)})
    return verdict.status


@dataclass(frozen=True)
class Verdict:
    status: str
    outcome: str
    next_attempt_at: dt.datetime | None = None
    endpoint_failed: bool = True
    disable_reason: str = ""


def retry_delay(attempts: int, retry_after: float | None = None) -> float | None:
    """Seconds until the next try after ``attempts`` tries, or None when the schedule is used up:
    the schedule's delay, jittered by WEBHOOK_RETRY_JITTER, and never less than Retry-After."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if attempts >= len(schedule):
        return None
    jitter = settings.WEBHOOK_RETRY_JITTER
    delay = schedule[attempts] * random.uniform(1 - jitter, 1 + jitter)  # noqa: S311 - jitter, not security
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.WEBHOOK_RETRY_AFTER_MAX_SECONDS))
    return delay


def judge(response: transport.Response, attempts: int, *, now: dt.datetime | None = None) -> Verdict:
    """What a try's answer (received at ``now``) means for the webhook and its endpoint."""
    outcome = WebhookAttempt.Outcome
    if response.blocked:
        return Verdict(WebhookStatus.DEAD, outcome.BLOCKED, endpoint_failed=False)
    code = response.status
    if code is not None and 200 <= code < 300:
        return Verdict(WebhookStatus.DELIVERED, outcome.OK, endpoint_failed=False)
    if code == 410:
        return Verdict(WebhookStatus.DEAD, outcome.GONE, disable_reason="the receiver answered 410 Gone")
    if code is not None and 400 <= code < 500 and code not in RETRYABLE_4XX:
        return Verdict(WebhookStatus.DEAD, outcome.REFUSED)
    delay = retry_delay(attempts, response.retry_after if code in RETRY_AFTER_STATUSES else None)
    if delay is None:
        return Verdict(WebhookStatus.DEAD, outcome.FAILED)
    return Verdict(WebhookStatus.FAILED, outcome.FAILED,
                   next_attempt_at=(now or timezone.now()) + dt.timedelta(seconds=delay))


_FAILURE = """
UPDATE webhooks_endpoint
SET consecutive_failures = consecutive_failures + 1, failing_since = COALESCE(failing_since, %(now)s),
    breaker_open_until = CASE WHEN consecutive_failures + 1 >= %(threshold)s OR breaker_open_until IS NOT NULL
                              THEN %(reopen)s ELSE NULL END
WHERE id = %(id)s
RETURNING failing_since
"""


def _endpoint_health(endpoint_id, verdict: Verdict) -> None:
    """Consecutive failures open the breaker (a failed probe reopens it); a success closes it and
    stops the failure clock; continuous failure for WEBHOOK_DISABLE_AFTER_SECONDS disables."""
    now = timezone.now()
    if verdict.disable_reason:
        endpoint_disable(endpoint_id=endpoint_id, reason=verdict.disable_reason)
    if verdict.outcome == WebhookAttempt.Outcome.OK:
        Endpoint.objects.filter(pk=endpoint_id).exclude(consecutive_failures=0, breaker_open_until=None).update(
            consecutive_failures=0, failing_since=None, breaker_open_until=None)
        return
    if not verdict.endpoint_failed:
        return
    with connection.cursor() as cursor:
        cursor.execute(_FAILURE, {"now": now, "threshold": settings.WEBHOOK_BREAKER_THRESHOLD, "id": endpoint_id,
                                  "reopen": now + dt.timedelta(seconds=settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS)})
        row = cursor.fetchone()
    if row and (now - row[0]).total_seconds() >= settings.WEBHOOK_DISABLE_AFTER_SECONDS:
        days = settings.WEBHOOK_DISABLE_AFTER_SECONDS / 86400
        endpoint_disable(endpoint_id=endpoint_id, reason=f"every try failed for {days:g} days")

