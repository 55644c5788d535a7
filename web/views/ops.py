"""Operations pages: delivery counts and dead letters (admins), the event catalogue."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from events import delivery as bus
from events.models import DeliveryStatus
from events.queries import catalogue, dead_letters, status_counts
from organizations.models import Role

from .base import member_required


@member_required(Role.ADMIN)
def operations(request, membership):
    return render(request, "ops/operations.html", {
        "rows": status_counts(organization_id=membership.organization_id),
        "dead": dead_letters(organization_id=membership.organization_id)[:100]})


@require_POST
@member_required(Role.ADMIN)
def replay(request, membership):
    ids = [int(i) for i in request.POST.getlist("delivery") if i.isdigit() and len(i) < 18]
    scope = (bus.deliveries_matching(ids=ids or None, status=DeliveryStatus.DEAD)
             .filter(organization_id=membership.organization_id))
    count = bus.replay(scope)
    messages.success(request, f"{count} deliveries replayed.")
    return redirect("operations")


@member_required()
def event_catalogue(request, membership):
    return render(request, "ops/catalogue.html", {"entries": catalogue()})
