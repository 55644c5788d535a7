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
    SELECT %(id)s::uuid, %(type)s::varchar, %(version)s::smallint, %(now)s::timestamptz, %(org)s::bigint,
           %(agg_type)s::varchar, %(agg_id)s::varchar,
           COALESCE((SELECT MAX(sequence) FROM events_event
                     WHERE aggregate_type = %(agg_type)s::varchar AND aggregate_id = %(agg_id)s::varchar), 0) + 1,
           %(actor)s::integer, %(actor_label)s::varchar, %(correlation)s::varchar, %(causation)s::uuid,
           %(payload)s::jsonb, %(origin)s::jsonb
    RETURNING id, sequence
), d AS (
    INSERT INTO events_delivery (event_id, subscriber, event_type, organization_id, status, attempts,
                                 next_attempt_at, created_at, last_error)
    SELECT ev.id, s.name, %(type)s::varchar, %(org)s::bigint, %(pending)s::varchar, 0, %(due)s::timestamptz,
           %(now)s::timestamptz, ''
    FROM ev, unnest(%(subscribers)s::text[]) AS s(name)
    RETURNING id, subscriber
)
SELECT ev.sequence, d.id, d.subscriber FROM ev LEFT JOIN d ON TRUE
"""

# queries: each subscriber's delivery status for an aggregate's latest event (the effects a
# command's answer and the expense over the API show), one statement: the ORM's subquery form
# cost twice the statement (``bench/profile_reads.py``).
LATEST_EFFECTS = """
SELECT d.subscriber, d.status FROM events_delivery d
WHERE d.event_id = (SELECT e.id FROM events_event e
                    WHERE e.organization_id = %(org)s AND e.aggregate_type = %(agg_type)s
                      AND e.aggregate_id = %(agg_id)s
                    ORDER BY e.sequence DESC LIMIT 1)
ORDER BY d.subscriber
"""

# running: the claim, one statement in autocommit, for one delivery or a batch of one
# subscriber's. Lock the named delivery if it is claimable and nobody holds it (SKIP LOCKED: a
# live handler holds it), and up to %(more)s more of the same subscriber: first those whose
# lease expired (a worker died holding them: a batch takes them back at once instead of one
# sweeper message each), then those waiting (never claimed, or due for their retry; oldest
# first), SKIP LOCKED so that two workers take different rows; each through its own partial
# index (``delivery_lease_idx``, ``delivery_waiting_idx``), so no done row is read. Mark the
# attempts of a worker that lost its lease, take the lease (one token
# for the batch), start an attempt each, and return the events with them. No row back means
# "none for you". ``%(id)s`` may be NULL (a drain of ``%(subscriber)s``).
CLAIM = """
WITH named AS (
    SELECT id, status, subscriber FROM events_delivery
    WHERE id = %(id)s::bigint
      AND (status = %(pending)s OR (status = %(in_flight)s AND (leased_until IS NULL OR leased_until <= %(now)s)))
    FOR UPDATE SKIP LOCKED
), sub AS (
    SELECT COALESCE(%(subscriber)s::text, (SELECT subscriber FROM events_delivery WHERE id = %(id)s::bigint)) AS name
), expired AS (
    SELECT id, status FROM events_delivery
    WHERE subscriber = (SELECT name FROM sub)
      AND status = %(in_flight)s AND leased_until <= %(now)s AND id IS DISTINCT FROM %(id)s::bigint
    ORDER BY leased_until
    LIMIT %(more)s::bigint
    FOR UPDATE SKIP LOCKED
), more AS (
    SELECT id, status FROM events_delivery
    WHERE subscriber = (SELECT name FROM sub)
      AND status = %(pending)s AND id IS DISTINCT FROM %(id)s::bigint
      AND (attempts = 0 OR next_attempt_at <= %(now)s)
    ORDER BY id
    LIMIT GREATEST(%(more)s::bigint - (SELECT count(*) FROM expired), 0)
    FOR UPDATE SKIP LOCKED
), c AS (
    SELECT id, status FROM named UNION ALL SELECT id, status FROM expired UNION ALL SELECT id, status FROM more
), lost AS (
    UPDATE events_attempt SET outcome = %(lost)s, finished_at = %(now)s, error = 'worker lost or lease expired'
    WHERE delivery_id IN (SELECT id FROM c WHERE status = %(in_flight)s) AND outcome = %(running)s::varchar
), d AS (
    UPDATE events_delivery
    SET status = %(in_flight)s, attempts = events_delivery.attempts + 1, leased_at = %(now)s,
        leased_until = %(now)s + make_interval(secs => COALESCE(
            (SELECT s.secs FROM unnest(%(names)s::text[], %(secs)s::float8[]) AS s(name, secs)
             WHERE s.name = events_delivery.subscriber), %(default_secs)s::float8)),
        lease_token = %(token)s
    FROM c WHERE events_delivery.id = c.id
    RETURNING events_delivery.id, events_delivery.subscriber, events_delivery.event_id
), a AS (
    INSERT INTO events_attempt (delivery_id, number, started_at, outcome, error, traceback, worker)
    SELECT d.id, (SELECT count(*) FROM events_attempt x WHERE x.delivery_id = d.id) + 1, %(now)s,
           %(running)s::varchar, '', '', %(worker)s::varchar
    FROM d
    RETURNING id, delivery_id
)
SELECT a.id, d.id, d.subscriber, e.id, e.type, e.version, e.occurred_at, e.organization_id, e.aggregate_type,
       e.aggregate_id, e.sequence, e.actor_id, e.actor_label, e.correlation_id, e.causation_id, e.payload, e.origin
FROM d JOIN a ON a.delivery_id = d.id JOIN events_event e ON e.id = d.event_id
ORDER BY d.id
"""

# running: the handlers' transaction starts by locking the claimed deliveries whose lease is still ours.
LOCK_OWN_LEASES = """
SELECT id FROM events_delivery WHERE id = ANY(%(ids)s::bigint[]) AND lease_token = %(token)s FOR UPDATE
"""

# running, after each handler of a batch, inside its savepoint: the checks PostgreSQL defers to
# commit (foreign keys, the ledger's balance trigger) run now, so that a violation fails this
# handler's savepoint only, not the whole batch at commit; then they are deferred again.
CHECK_DEFERRED_CONSTRAINTS = "SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED"

# running: deliveries a batch claimed but had no time to start go back as they were (their attempt
# rows removed, the attempt not counted), for the next claim to take.
RELEASE = """
WITH a AS (
    DELETE FROM events_attempt WHERE id = ANY(%(attempts)s::bigint[])
)
UPDATE events_delivery SET status = %(pending)s, attempts = attempts - 1, leased_at = NULL, leased_until = NULL,
                           lease_token = NULL
WHERE id = ANY(%(ids)s::bigint[]) AND lease_token = %(token)s
"""

# running: "done" and the attempts' outcome in one statement, in the handlers' transaction.
MARK_DONE = """
WITH a AS (
    UPDATE events_attempt SET outcome = %(ok)s, finished_at = %(now)s WHERE id = ANY(%(attempts)s::bigint[])
)
UPDATE events_delivery SET status = %(done)s, done_at = %(now)s, leased_until = NULL, lease_token = NULL,
                           last_error = ''
WHERE id = ANY(%(ids)s::bigint[])
"""

# replaying: one chunk of a backfill. The next ``%(batch)s`` events of the subscriber's types after
# the cursor (occurred_at, id), one pending delivery each unless it has one already (or had one,
# pruned since: see ``PrunedDeliveries``); returns how
# many events the chunk covered, how many deliveries it created, and the new cursor.
BACKFILL_CHUNK = """
WITH chunk AS (
    SELECT e.id, e.type, e.organization_id, e.occurred_at FROM events_event e
    WHERE (%(all_types)s OR e.type = ANY(%(types)s::text[]))
      AND (%(since)s::timestamptz IS NULL OR e.occurred_at >= %(since)s::timestamptz)
      AND (%(after_at)s::timestamptz IS NULL OR (e.occurred_at, e.id) > (%(after_at)s::timestamptz, %(after_id)s::uuid))
    ORDER BY e.occurred_at, e.id
    LIMIT %(batch)s
), created AS (
    INSERT INTO events_delivery (event_id, subscriber, event_type, organization_id, status, attempts,
                                 next_attempt_at, created_at, last_error)
    SELECT id, %(subscriber)s, type, organization_id, %(pending)s, 0, %(due)s, %(now)s, ''
    FROM chunk
    -- an event inside a span of the subscriber's pruned deliveries had one: done, and pruned
    WHERE NOT EXISTS (
        SELECT 1 FROM events_pruneddeliveries p
        WHERE p.subscriber = %(subscriber)s AND p.event_type = chunk.type
          AND (chunk.occurred_at, chunk.id) >= (p.first_occurred_at, p.first_event_id)
          AND (chunk.occurred_at, chunk.id) <= (p.last_occurred_at, p.last_event_id))
    ORDER BY occurred_at, id
    ON CONFLICT (event_id, subscriber) DO NOTHING
    RETURNING 1
), last AS (
    SELECT occurred_at, id FROM chunk ORDER BY occurred_at DESC, id DESC LIMIT 1
)
SELECT (SELECT count(*) FROM chunk), (SELECT count(*) FROM created), (SELECT occurred_at FROM last),
       (SELECT id FROM last)
"""

# replaying: how many events a backfill covers.
BACKFILL_TOTAL = """
SELECT count(*) FROM events_event e
WHERE (%(all_types)s OR e.type = ANY(%(types)s::text[]))
  AND (%(since)s::timestamptz IS NULL OR e.occurred_at >= %(since)s::timestamptz)
"""

# replaying: deliveries of a subscriber never run yet, counted up to %(cap)s (the backfill's throttle;
# failing ones waiting for their retry do not hold it up).
WAITING = """
SELECT count(*) FROM (
    SELECT 1 FROM events_delivery
    WHERE subscriber = %(subscriber)s AND status = %(pending)s AND attempts = 0 LIMIT %(cap)s
) w
"""

# retention: one chunk of a prune of done deliveries. The next %(batch)s deliveries after the
# cursor in id order (the primary key's order, so a chunk reads that many index entries, never a
# scan of the table: every later step looks rows up by id, ``= ANY(ARRAY(...))``, so that the
# planner cannot pick a hash join over the whole table); of them, those done before %(cutoff)s
# are deleted with their attempts, and the span of the log they covered is added to their
# subscriber's ``PrunedDeliveries`` row.
# Returns how many rows the chunk looked at and deleted, its last id (the next cursor), and the
# oldest creation time in it (once that is past the cutoff, no later row can be due for pruning).
PRUNE_CHUNK = """
WITH win AS (
    SELECT id, created_at FROM events_delivery WHERE id > %(after)s ORDER BY id LIMIT %(batch)s
), doomed AS (
    SELECT d.id, d.subscriber, d.event_type, d.event_id,
           (SELECT e.occurred_at FROM events_event e WHERE e.id = d.event_id) AS occurred_at
    FROM events_delivery d
    WHERE d.id = ANY(ARRAY(SELECT id FROM win)) AND d.status = %(done)s AND d.done_at < %(cutoff)s
    FOR UPDATE OF d SKIP LOCKED
), attempts AS (
    DELETE FROM events_attempt WHERE delivery_id = ANY(ARRAY(SELECT id FROM doomed))
), gone AS (
    DELETE FROM events_delivery WHERE id = ANY(ARRAY(SELECT id FROM doomed)) RETURNING id
), spans AS (
    SELECT subscriber, event_type, count(*) AS n,
           (array_agg(occurred_at ORDER BY occurred_at, event_id))[1] AS first_at,
           (array_agg(event_id ORDER BY occurred_at, event_id))[1] AS first_id,
           (array_agg(occurred_at ORDER BY occurred_at DESC, event_id DESC))[1] AS last_at,
           (array_agg(event_id ORDER BY occurred_at DESC, event_id DESC))[1] AS last_id
    FROM doomed GROUP BY subscriber, event_type
), recorded AS (
    INSERT INTO events_pruneddeliveries AS p (subscriber, event_type, first_occurred_at, first_event_id,
                                              last_occurred_at, last_event_id, deliveries, updated_at)
    SELECT subscriber, event_type, first_at, first_id, last_at, last_id, n, %(now)s FROM spans
    ON CONFLICT (subscriber, event_type) DO UPDATE SET
        first_occurred_at = CASE WHEN (EXCLUDED.first_occurred_at, EXCLUDED.first_event_id)
                                      < (p.first_occurred_at, p.first_event_id)
                                 THEN EXCLUDED.first_occurred_at ELSE p.first_occurred_at END,
        first_event_id = CASE WHEN (EXCLUDED.first_occurred_at, EXCLUDED.first_event_id)
                                   < (p.first_occurred_at, p.first_event_id)
                              THEN EXCLUDED.first_event_id ELSE p.first_event_id END,
        last_occurred_at = CASE WHEN (EXCLUDED.last_occurred_at, EXCLUDED.last_event_id)
                                     > (p.last_occurred_at, p.last_event_id)
                                THEN EXCLUDED.last_occurred_at ELSE p.last_occurred_at END,
        last_event_id = CASE WHEN (EXCLUDED.last_occurred_at, EXCLUDED.last_event_id)
                                  > (p.last_occurred_at, p.last_event_id)
                             THEN EXCLUDED.last_event_id ELSE p.last_event_id END,
        deliveries = p.deliveries + EXCLUDED.deliveries,
        updated_at = EXCLUDED.updated_at
)
SELECT (SELECT count(*) FROM win), (SELECT count(*) FROM gone), (SELECT max(id) FROM win),
       (SELECT min(created_at) FROM win)
"""
