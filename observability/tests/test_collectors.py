"""The scrape-time collectors read the tables: webhooks per endpoint, business counters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from observability.metrics import BusinessCollector, WebhookCollector
from organizations.tests.factories import OrganizationFactory
from webhooks.models import Endpoint, WebhookDelivery, WebhookStatus

pytestmark = pytest.mark.django_db


def _samples(collector) -> dict:
    registry = CollectorRegistry()
    registry.register(collector)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(generate_latest(registry).decode()) for s in family.samples}


def _webhook(endpoint, status, n):
    """``n`` webhooks of real events in ``status`` (the sender's states, set as it would leave them)."""
    from django.db import transaction

    from events.publishing import publish
    from tests.support.subscribers import Pinged

    for i in range(n):
        with transaction.atomic():
            event = publish(Pinged(key=f"{endpoint.pk}-{status}-{i}"), organization_id=endpoint.organization_id)
        WebhookDelivery.objects.create(
            endpoint=endpoint, event=event, webhook_id=f"msg_{event.pk}", organization_id=endpoint.organization_id,
            event_type=event.type, aggregate_key=event.aggregate_id, sequence=1, occurred_at=event.occurred_at,
            status=status, next_attempt_at=timezone.now(), created_at=timezone.now())


def test_webhooks_per_endpoint_with_the_breaker_state():
    org = OrganizationFactory()
    healthy = Endpoint.objects.create(organization=org, url="https://a.example/hook", created_at=timezone.now())
    broken = Endpoint.objects.create(organization=org, url="https://b.example/hook", created_at=timezone.now(),
                                     breaker_open_until=timezone.now() + timedelta(minutes=5))
    _webhook(healthy, WebhookStatus.DELIVERED, 3)
    _webhook(broken, WebhookStatus.DEAD, 2)

    samples = _samples(WebhookCollector())

    def value(name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))))

    assert value("outlay_webhook_deliveries", endpoint=str(healthy.pk), status="delivered") == 3
    assert value("outlay_webhook_deliveries", endpoint=str(healthy.pk), status="dead") == 0
    assert value("outlay_webhook_deliveries", endpoint=str(broken.pk), status="dead") == 2
    assert value("outlay_webhook_breaker_open", endpoint=str(broken.pk)) == 1
    assert value("outlay_webhook_breaker_open", endpoint=str(healthy.pk)) == 0
    assert value("outlay_webhook_endpoint_enabled", endpoint=str(healthy.pk)) == 1
    assert "https://" not in str(samples)  # the address (it may hold a secret) is never a label


def test_business_counters_count_decisions_from_the_event_log():
    from expenses import services
    from expenses.tests.factories import make_team

    team = make_team()
    for amount in ("10.00", "20.00"):
        services.expense_approve(actor=team.manager, expense_id=team.expense(amount=amount, submit=True).pk)
    services.expense_reject(actor=team.manager, expense_id=team.expense(submit=True).pk, reason="no")

    samples = _samples(BusinessCollector())

    assert samples[("outlay_expenses_approved_total", ())] == 2
    assert samples[("outlay_expenses_rejected_total", ())] == 1
    assert samples[("outlay_reimbursements_paid_total", ())] == 0
