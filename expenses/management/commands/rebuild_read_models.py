"""Rebuild the monthly spend read model from the event log (in one transaction)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from events.models import Event
from events.types import event_type
from expenses.models import MonthlySpend, ProcessedEvent
from expenses.subscribers import _CHANGES, PROJECTION, apply_to_monthly_spend


class Command(BaseCommand):
    help = "Rebuild the monthly spend read model from the event log."

    @transaction.atomic
    def handle(self, *args, **options):
        MonthlySpend.objects.all().delete()
        ProcessedEvent.objects.filter(projection=PROJECTION).delete()
        count = 0
        for row in Event.objects.filter(type__in=list(_CHANGES)).order_by("occurred_at", "sequence").iterator():
            apply_to_monthly_spend(event_type(row.type).from_payload(row.payload), row.id)
            count += 1
        self.stdout.write(f"rebuilt monthly spend from {count} events into {MonthlySpend.objects.count()} rows")
