"""The bus's hand-written SQL statements, in one place.

Each is one round trip where the ORM would need several (see the modules that run them). No
status value is typed into a statement: they are parameters, filled from ``DeliveryStatus`` and
``AttemptOutcome`` by ``with_statuses``, so renaming a status is one change in ``events.models``.
"""

from __future__ import annotations

from typing import Any

from .models import AttemptOutcome, DeliveryStatus

STATUSES: dict[str, str] = {
    "pending": DeliveryStatus.PENDING.value,
    "in_flight": DeliveryStatus.IN_FLIGHT.value,
    "done": DeliveryStatus.DONE.value,
    "dead": DeliveryStatus.DEAD.value,
    "running": AttemptOutcome.RUNNING.value,
    "ok": AttemptOutcome.OK.value,
    "error": AttemptOutcome.ERROR.value,
    "lost": AttemptOutcome.LOST.value,
}


def with_statuses(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` plus every status value under its own name (``%(pending)s``, ``%(lost)s``, ...)."""
    return {**STATUSES, **params}


# publishing: the event row and one pending delivery per subscriber, in one statement.
INSERT_EVENT_AND_DELIVERIES = """
WITH ev AS (
    INSERT INTO events_event (id, type, version, occurred_at, organization_id, aggregate_type,
                              aggregate_id, sequence, actor_id, actor_label, correlation_id,
                              causation_id, payload, origin)
    SELECT %(id)s, %(type)s, %(version)s, %(now)s, %(org)s, %(agg_type)s, %(agg_id)s,
           COALESCE((SELECT MAX(sequence) FROM events_event
                     WHERE aggregate_type = %(agg_type)s AND aggregate_id = %(agg_id)s), 0) + 1,
           %(actor)s, %(actor_label)s, %(correlation)s, %(causation)s, %(payload)s::jsonb, %(origin)s::jsonb
    RETURNING id, sequence
), d AS (
    INSERT INTO events_delivery (event_id, subscriber, event_type, organization_id, status, attempts,
                                 next_attempt_at, created_at, last_error)
    SELECT ev.id, s.name, %(type)s, %(org)s, %(pending)s, 0, %(due)s, %(now)s, ''
    FROM ev, unnest(%(subscribers)s::text[]) AS s(name)
    RETURNING id, subscriber
)
SELECT ev.sequence, d.id, d.subscriber FROM ev LEFT JOIN d ON TRUE
"""

# running: the claim, one statement in autocommit. Lock the row if it is claimable and nobody
# holds it (SKIP LOCKED: a live handler holds it), mark the attempts of a worker that lost its
# lease, take the lease, start an attempt, and return the event with it. No row back means
# "not yours".
CLAIM = """
WITH c AS (
    SELECT id, status FROM events_delivery
    WHERE id = %(id)s
      AND (status = %(pending)s OR (status = %(in_flight)s AND (leased_until IS NULL OR leased_until <= %(now)s)))
    FOR UPDATE SKIP LOCKED
), lost AS (
    UPDATE events_attempt SET outcome = %(lost)s, finished_at = %(now)s, error = 'worker lost or lease expired'
    WHERE delivery_id IN (SELECT id FROM c WHERE status = %(in_flight)s) AND outcome = %(running)s
), d AS (
    UPDATE events_delivery
    SET status = %(in_flight)s, attempts = events_delivery.attempts + 1, leased_at = %(now)s,
        leased_until = %(now)s + make_interval(secs => COALESCE(
            (SELECT s.secs FROM unnest(%(names)s::text[], %(secs)s::float8[]) AS s(name, secs)
             WHERE s.name = events_delivery.subscriber), %(default_secs)s)),
        lease_token = %(token)s
    FROM c WHERE events_delivery.id = c.id
    RETURNING events_delivery.id, events_delivery.subscriber, events_delivery.event_id
), a AS (
    INSERT INTO events_attempt (delivery_id, number, started_at, outcome, error, traceback, worker)
    SELECT d.id, (SELECT count(*) FROM events_attempt x WHERE x.delivery_id = d.id) + 1, %(now)s, %(running)s,
           '', '', %(worker)s
    FROM d
    RETURNING id
)
SELECT a.id, d.subscriber, e.id, e.type, e.version, e.occurred_at, e.organization_id, e.aggregate_type,
       e.aggregate_id, e.sequence, e.actor_id, e.actor_label, e.correlation_id, e.causation_id, e.payload, e.origin
FROM d CROSS JOIN a JOIN events_event e ON e.id = d.event_id
"""

# running: the handler's transaction starts by locking the delivery, and only if the lease is still ours.
LOCK_OWN_LEASE = "SELECT 1 FROM events_delivery WHERE id = %(id)s AND lease_token = %(token)s FOR UPDATE"

# running: "done" and the attempt's outcome in one statement, in the handler's transaction.
MARK_DONE = """
WITH a AS (
    UPDATE events_attempt SET outcome = %(ok)s, finished_at = %(now)s WHERE id = %(attempt)s
)
UPDATE events_delivery SET status = %(done)s, done_at = %(now)s, leased_until = NULL, lease_token = NULL,
                           last_error = ''
WHERE id = %(id)s
"""
