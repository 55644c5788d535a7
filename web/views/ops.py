"""Operations pages: delivery counts and dead letters (admins), the event catalogue."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from events import replaying
from events.models import DeliveryStatus
from events.queries import catalogue, catch_up_runs, dead_letters, status_counts
from observability.queries import DAY, HOUR, outbox_history
from organizations.models import Role
from webhooks.queries import endpoint_health

from ..forms import DeliveryReplayForm
from .base import member_required

SPARK_WIDTH = 300
SPARK_HEIGHT = 36


def sparkline(values: list[float], kind: str, unit: str) -> dict:
    """A small line-and-area chart's geometry (the SVG template only places it: CSP, no script),
    with its peak and latest value for the text beside it."""
    peak = max(values) if values else 0.0
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    scale = (SPARK_HEIGHT - 2) / peak if peak else 0.0
    points = " ".join(f"{i * step:.1f},{SPARK_HEIGHT - 1 - v * scale:.1f}" for i, v in enumerate(values))
    return {"points": points, "area": f"M0,{SPARK_HEIGHT} L{points.replace(' ', ' L')} L{SPARK_WIDTH},{SPARK_HEIGHT} Z",
            "peak": peak, "last": values[-1] if values else 0.0, "kind": kind, "unit": unit,
            "width": SPARK_WIDTH, "height": SPARK_HEIGHT}


def history_charts(organization_id: int) -> tuple[list[dict], list[dict]]:
    """Per subscriber its lag and throughput over the last hour and day, and the dead letters
    over both windows (all subscribers together), from the bus's per-minute rollup."""
    history = outbox_history(organization_id=organization_id, now=timezone.now())
    charts = [{"subscriber": h.subscriber, "windows": [
        {"name": w.name, "lag": sparkline(h.lag[w.name], "lag", "s"),
         "throughput": sparkline(h.throughput[w.name], "throughput", "/min")} for w in (HOUR, DAY)]}
        for h in history]
    dead = []
    for w in (HOUR, DAY):
        total = [sum(column) for column in zip(*(h.dead[w.name] for h in history), strict=True)] if history else []
        dead.append({"name": w.name, "chart": sparkline(total, "dead", "")})
    return charts, dead


def _operations_page(request, membership, *, status: int = 200):
    charts, dead_over_time = history_charts(membership.organization_id)
    return render(request, "ops/operations.html", {
        "rows": status_counts(organization_id=membership.organization_id),
        "dead": dead_letters(organization_id=membership.organization_id)[:100],
        "charts": charts, "dead_over_time": dead_over_time,
        "runs": catch_up_runs(organization_id=membership.organization_id),
        "webhooks": endpoint_health(membership.organization_id)}, status=status)


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
    scope = replaying.deliveries_matching(ids=ids or None, status=DeliveryStatus.DEAD).filter(
        organization_id=membership.organization_id)
    # "all": a mass replay a stopped request resumes; a selection is what it is
    count = replaying.replay(scope, organization_id=membership.organization_id,
                             selection=None if ids else {"status": DeliveryStatus.DEAD.value},
                             description=f"{len(ids)} selected dead letters" if ids else "every dead letter")
    messages.success(request, f"{count} deliveries replayed.")
    return redirect("operations")


@member_required()
def event_catalogue(request, membership):
    return render(request, "ops/catalogue.html", {"entries": catalogue()})
