"""The expenses app's own subscriber: the monthly spend read model (CQRS)."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection

from events.registry import subscriber

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


# Applying an event is two statements: record it as processed (nothing more happens if it was),
# then add its deltas to its row, created on first use (INSERT ... ON CONFLICT DO UPDATE).
_MARK_PROCESSED = """
INSERT INTO expenses_processedevent (projection, event_id) VALUES (%s, %s)
ON CONFLICT (projection, event_id) DO NOTHING RETURNING 1
"""
_ADD = """
INSERT INTO expenses_monthlyspend (organization_id, month, cost_center_id, cost_center_code, category_id,
                                   category_name, submitted_count, approved_count, rejected_count, approved_total)
VALUES (%(org)s, %(month)s, %(cc)s, %(cc_code)s, %(cat)s, %(cat_name)s, %(submitted)s, %(approved)s,
        %(rejected)s, %(total)s)
ON CONFLICT (organization_id, month, cost_center_id, category_id) DO UPDATE SET
    submitted_count = expenses_monthlyspend.submitted_count + EXCLUDED.submitted_count,
    approved_count = expenses_monthlyspend.approved_count + EXCLUDED.approved_count,
    rejected_count = expenses_monthlyspend.rejected_count + EXCLUDED.rejected_count,
    approved_total = expenses_monthlyspend.approved_total + EXCLUDED.approved_total
"""


def apply_to_monthly_spend(event: ExpenseEvent, event_id) -> bool:
    """Apply one event to the read model once; return False if it was applied before."""
    changes = _CHANGES[event.type]
    with connection.cursor() as cursor:
        cursor.execute(_MARK_PROCESSED, [PROJECTION, event_id])
        if cursor.fetchone() is None:
            return False
        cursor.execute(_ADD, {
            "org": event.organization_id, "month": event.month, "cc": event.cost_center_id,
            "cc_code": event.cost_center_code, "cat": event.category_id, "cat_name": event.category_name,
            "submitted": changes.get("submitted_count", 0), "approved": changes.get("approved_count", 0),
            "rejected": changes.get("rejected_count", 0),
            "total": event.amount if event.type == ExpenseApproved.type else Decimal("0")})
    return True


@subscriber("expense.submitted", "expense.withdrawn", "expense.returned", "expense.approved", "expense.rejected",
            name="expenses.monthly_spend")
def update_monthly_spend(event: ExpenseEvent, envelope) -> None:
    """Keeps the monthly spend read model; a redelivered event changes nothing."""
    apply_to_monthly_spend(event, envelope.event_id)
