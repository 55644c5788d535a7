"""After a prune of done deliveries the pages that read the outbox still work: the operations page
lists what is left (the dead letter stays, replayable), and an expense's page and timeline render
with its pruned effects gone from the timeline."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from events import retention
from events.models import Delivery, DeliveryStatus, PrunedDeliveries
from expenses import services
from expenses.tests.factories import make_team
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db


def test_the_operations_and_expense_pages_render_after_a_prune():
    # given an approved expense whose effects all ran but one, which is dead
    team = make_team()
    expense = team.expense(amount="42.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    dead = Delivery.objects.get(subscriber="notifications.expense_approved")
    Delivery.objects.filter(pk=dead.pk).update(status=DeliveryStatus.DEAD, last_error="SMTP down")
    run_deliveries()
    done = Delivery.objects.filter(status=DeliveryStatus.DONE).count()
    assert done > 0

    # when every done delivery is pruned
    assert retention.prune_deliveries(0, pause=0).deleted == done
    assert list(Delivery.objects.values_list("pk", flat=True)) == [dead.pk]
    assert PrunedDeliveries.objects.exists()

    # then the operations page lists the dead letter, with nothing done left to count
    admin = Client()
    admin.force_login(team.admin.user)
    response = admin.get(reverse("operations"))
    assert response.status_code == 200
    assert response.context["dead"][0].pk == dead.pk
    assert all(row["done"] == 0 for row in response.context["rows"])
    # and the expense page and its timeline render, the timeline showing only what is left
    owner = Client()
    owner.force_login(team.employee.user)
    assert owner.get(reverse("expense-detail", kwargs={"expense_id": expense.pk})).status_code == 200
    manager = Client()
    manager.force_login(team.manager.user)
    page = manager.get(reverse("expense-timeline", kwargs={"expense_id": expense.pk}))
    assert page.status_code == 200
    lines = [line for entry in page.context["timeline"] for line in entry.deliveries]
    assert [line.id for line in lines] == [dead.pk]
