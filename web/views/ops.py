"""Operations pages: delivery counts and dead letters (admins), the event catalogue."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from events import delivery as bus
from events.queries import catalogue, dead_letters, status_counts
from organizations.models import Role

from ..forms import DeliveryReplayForm
from .base import member_required


def _operations_page(request, membership, *, status: int = 200):
    return render(request, "ops/operations.html", {
        "rows": status_counts(organization_id=membership.organization_id),
        "dead": dead_letters(organization_id=membership.organization_id)[:100]}, status=status)


@member_required(Role.ADMIN)
def operations(request, membership):
    return _operations_page(request, membership)


@require_POST
@member_required(Role.ADMIN)
def replay(request, membership):
    form = DeliveryReplayForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Those are not delivery ids; nothing was replayed.")
        return _operations_page(request, membership, status=400)
    ids = form.cleaned_data["delivery"]
    scope = bus.deliveries_matching(ids=ids or None, status="dead").filter(organization_id=membership.organization_id)
    count = bus.replay(scope)
    messages.success(request, f"{count} deliveries replayed.")
    return redirect("operations")


@member_required()
def event_catalogue(request, membership):
    return render(request, "ops/catalogue.html", {"entries": catalogue()})
