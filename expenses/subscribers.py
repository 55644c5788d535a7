"""The expenses app's own subscriber: the monthly spend read model (CQRS)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from events.registry import subscriber

from .events import ExpenseApproved, ExpenseEvent, ExpenseRejected, ExpenseSubmitted, ExpenseWithdrawn
from .models import MonthlySpend, ProcessedEvent

PROJECTION = "monthly_spend"

# How each event moves the counters (see MonthlySpend for what they mean).
_CHANGES = {
    ExpenseSubmitted.type: {"submitted_count": 1},
    ExpenseWithdrawn.type: {"submitted_count": -1},
    ExpenseApproved.type: {"submitted_count": -1, "approved_count": 1},
    ExpenseRejected.type: {"submitted_count": -1, "rejected_count": 1},
}


def apply_to_monthly_spend(event: ExpenseEvent, event_id) -> bool:
    """Apply one event to the read model once; return False if it was applied before."""
    try:
        with transaction.atomic():
            ProcessedEvent.objects.create(projection=PROJECTION, event_id=event_id)
    except IntegrityError:
        return False
    row, _ = MonthlySpend.objects.select_for_update().get_or_create(
        organization_id=event.organization_id, month=event.month, cost_center_id=event.cost_center_id,
        category_id=event.category_id,
        defaults={"cost_center_code": event.cost_center_code, "category_name": event.category_name})
    changes = {field: F(field) + delta for field, delta in _CHANGES[event.type].items()}
    if event.type == ExpenseApproved.type:
        changes["approved_total"] = F("approved_total") + event.amount
    MonthlySpend.objects.filter(pk=row.pk).update(**changes)
    return True


@subscriber("expense.submitted", "expense.withdrawn", "expense.approved", "expense.rejected",
            name="expenses.monthly_spend")
def update_monthly_spend(event: ExpenseEvent, envelope) -> None:
    """Keeps the monthly spend read model; a redelivered event changes nothing."""
    apply_to_monthly_spend(event, envelope.event_id)
