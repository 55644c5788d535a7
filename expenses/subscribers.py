"""The expenses app's own subscriber: the monthly spend read model (CQRS)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import connection

from events.envelope import Envelope
from events.registry import subscriber, subscriber_batch

from .events import (
    ExpenseApproved,
    ExpenseEvent,
    ExpenseRejected,
    ExpenseReturned,
    ExpenseSubmitted,
    ExpenseWithdrawn,
)

PROJECTION = "monthly_spend"

# How each event moves the counters (see MonthlySpend for what they mean).
_CHANGES = {
    ExpenseSubmitted.type: {"submitted_count": 1},
    ExpenseWithdrawn.type: {"submitted_count": -1},
    ExpenseReturned.type: {"submitted_count": -1},  # back to draft: no longer waiting
    ExpenseApproved.type: {"submitted_count": -1, "approved_count": 1},
    ExpenseRejected.type: {"submitted_count": -1, "rejected_count": 1},
}


# Applying events is two statements, however many: record them as processed (those that were
# already are left out), then add the new ones' deltas, summed per row, to their rows, created on
# first use (INSERT ... ON CONFLICT DO UPDATE; one input row per key, since one statement cannot
# update a row twice).
_MARK_PROCESSED = """
INSERT INTO expenses_processedevent (projection, event_id)
SELECT %(projection)s, e.id FROM unnest(%(ids)s::uuid[]) AS e(id)
ON CONFLICT (projection, event_id) DO NOTHING RETURNING event_id
"""
_ADD = """
INSERT INTO expenses_monthlyspend (organization_id, month, cost_center_id, cost_center_code, category_id,
                                   category_name, submitted_count, approved_count, rejected_count, approved_total)
SELECT * FROM unnest(%(org)s::bigint[], %(month)s::text[], %(cc)s::bigint[], %(cc_code)s::text[], %(cat)s::bigint[],
                     %(cat_name)s::text[], %(submitted)s::int[], %(approved)s::int[], %(rejected)s::int[],
                     %(total)s::numeric[])
ON CONFLICT (organization_id, month, cost_center_id, category_id) DO UPDATE SET
    submitted_count = expenses_monthlyspend.submitted_count + EXCLUDED.submitted_count,
    approved_count = expenses_monthlyspend.approved_count + EXCLUDED.approved_count,
    rejected_count = expenses_monthlyspend.rejected_count + EXCLUDED.rejected_count,
    approved_total = expenses_monthlyspend.approved_total + EXCLUDED.approved_total
"""
_COUNTERS = ("submitted_count", "approved_count", "rejected_count")


def apply_to_monthly_spend(event: ExpenseEvent, event_id) -> bool:
    """Apply one event to the read model once; return False if it was applied before."""
    return apply_many_to_monthly_spend([(event, event_id)]) == 1


def apply_many_to_monthly_spend(events: list[tuple[ExpenseEvent, object]]) -> int:
    """Apply each (event, event id) to the read model once, in two statements; return how many
    were new (an event applied before changes nothing, as with one at a time).

    The rows are written in key order, so two workers applying batches that share rows take
    their row locks in the same order and never deadlock."""
    with connection.cursor() as cursor:
        cursor.execute(_MARK_PROCESSED, {"projection": PROJECTION, "ids": [event_id for _, event_id in events]})
        new = {row[0] for row in cursor.fetchall()}
        rows: dict[tuple, dict] = {}
        for event, event_id in events:
            if _as_uuid(event_id) not in new:
                continue
            key = (event.organization_id, event.month, event.cost_center_id, event.category_id)
            # A row created here keeps its first event's code and name, as one at a time would.
            row = rows.setdefault(key, {"cc_code": event.cost_center_code, "cat_name": event.category_name,
                                        **dict.fromkeys(_COUNTERS, 0), "total": Decimal("0")})
            for counter, delta in _CHANGES[event.type].items():
                row[counter] += delta
            if event.type == ExpenseApproved.type:
                row["total"] += event.booked_amount
        if rows:
            keys = sorted(rows)
            cursor.execute(_ADD, {
                "org": [k[0] for k in keys], "month": [k[1] for k in keys], "cc": [k[2] for k in keys],
                "cat": [k[3] for k in keys], "cc_code": [rows[k]["cc_code"] for k in keys],
                "cat_name": [rows[k]["cat_name"] for k in keys],
                "submitted": [rows[k]["submitted_count"] for k in keys],
                "approved": [rows[k]["approved_count"] for k in keys],
                "rejected": [rows[k]["rejected_count"] for k in keys], "total": [rows[k]["total"] for k in keys]})
    return len(new)


def _as_uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


@subscriber("expense.submitted", "expense.withdrawn", "expense.returned", "expense.approved", "expense.rejected",
            name="expenses.monthly_spend", label="Dashboard updated")
def update_monthly_spend(event: ExpenseEvent, envelope) -> None:
    """Keeps the monthly spend read model; a redelivered event changes nothing."""
    apply_to_monthly_spend(event, envelope.event_id)


@subscriber_batch("expenses.monthly_spend")
def update_monthly_spend_batch(deliveries: list[tuple[ExpenseEvent, Envelope]]) -> None:
    """The same for a batch of deliveries: two statements for all of them (one upsert per month,
    cost centre and category), instead of two per event."""
    apply_many_to_monthly_spend([(event, envelope.event_id) for event, envelope in deliveries])
