"""Rebuild the monthly spend read model from the event log (in one transaction)."""

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from events.models import Event
from events.types import event_type
from expenses.models import MonthlySpend, ProcessedEvent
from expenses.subscribers import _CHANGES, PROJECTION, apply_to_monthly_spend


class Command(BaseCommand):
    help = "Rebuild the monthly spend read model from the event log (one transaction; identical rows)."

    @transaction.atomic
    def handle(self, *args, **options):
        # Live deliveries wait while the model is rebuilt: one that ran before sees its event
        # already replayed (ProcessedEvent) and skips it; one committed after waits and applies.
        # The lock is taken before the log is read, so no event falls between the two.
        tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in (MonthlySpend, ProcessedEvent))
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        MonthlySpend.objects.all().delete()
        ProcessedEvent.objects.filter(projection=PROJECTION).delete()
        count = 0
        for row in Event.objects.filter(type__in=list(_CHANGES)).order_by("occurred_at", "sequence").iterator():
            apply_to_monthly_spend(event_type(row.type).from_payload(row.payload), row.id)
            count += 1
        self.stdout.write(f"rebuilt monthly spend from {count} events into {MonthlySpend.objects.count()} rows")
