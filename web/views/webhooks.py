"""Webhook endpoint pages (organisation admins): list and add, one endpoint with its deliveries,
edit, rotate the secret, send a test event, replay. A new secret is rendered once in the answer
to the POST that made it, never put in the session or a message store."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.forms import DateTimeField
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import DomainError, NotFound
from organizations.models import Role
from webhooks import queries, services
from webhooks.models import WebhookStatus

from .base import member_required, run_command


def _event_types(request) -> list[str]:
    return [t for t in request.POST.getlist("event_types") if t]


def _endpoint(membership, endpoint_id):
    try:
        return queries.endpoint_for(membership.organization_id, endpoint_id)
    except NotFound as error:
        raise Http404(error.message) from None


@member_required(Role.ADMIN)
def webhook_list(request, membership):
    context = {"health": queries.endpoint_health(membership.organization_id),
               "event_types": queries.eligible_event_types()}
    if request.method == "POST":
        try:
            endpoint, secret = services.endpoint_create(
                organization_id=membership.organization_id, created_by_id=request.user.pk,
                url=request.POST.get("url", "").strip(), event_types=_event_types(request),
                description=request.POST.get("description", "").strip()[:300])
        except DomainError as error:
            context["errors"] = error.details or {"url": [error.message]}
            return render(request, "webhooks/list.html", context, status=400)
        return render(request, "webhooks/secret.html", {"endpoint": endpoint, "secret": secret, "created": True})
    return render(request, "webhooks/list.html", context)


def _when(value: str):
    if not value:
        return None
    try:
        return DateTimeField().clean(value)
    except DjangoValidationError:
        return None


@member_required(Role.ADMIN)
def webhook_detail(request, membership, endpoint_id):
    endpoint = _endpoint(membership, endpoint_id)
    status = request.GET.get("status", "")
    event_type = request.GET.get("event_type", "")
    deliveries = queries.deliveries_for(endpoint, status=status if status in WebhookStatus.values else None,
                                        event_type=event_type[:100] or None, since=_when(request.GET.get("since", "")))
    return render(request, "webhooks/detail.html", {
        "endpoint": endpoint, "deliveries": deliveries.prefetch_related("attempt_log")[:100],
        "statuses": WebhookStatus.choices, "status": status, "event_type": event_type,
        "event_types": queries.eligible_event_types(), "since": request.GET.get("since", "")})


@require_POST
@member_required(Role.ADMIN)
def webhook_update(request, membership, endpoint_id):
    endpoint = _endpoint(membership, endpoint_id)
    run_command(request, services.endpoint_update, success="Endpoint saved.", endpoint=endpoint,
                url=request.POST.get("url", endpoint.url).strip(), event_types=_event_types(request),
                description=request.POST.get("description", "").strip()[:300],
                enabled=request.POST.get("enabled") == "on")
    return redirect("webhook-detail", endpoint_id=endpoint.pk)


@require_POST
@member_required(Role.ADMIN)
def webhook_rotate(request, membership, endpoint_id):
    endpoint = _endpoint(membership, endpoint_id)
    secret = services.endpoint_rotate_secret(endpoint=endpoint)
    return render(request, "webhooks/secret.html", {"endpoint": endpoint, "secret": secret, "created": False})


@require_POST
@member_required(Role.ADMIN)
def webhook_test(request, membership, endpoint_id):
    endpoint = _endpoint(membership, endpoint_id)
    services.endpoint_send_test(endpoint=endpoint, user_id=request.user.pk)
    messages.success(request, "Test event queued; it appears below in a moment.")
    return redirect("webhook-detail", endpoint_id=endpoint.pk)


@require_POST
@member_required(Role.ADMIN)
def webhook_replay(request, membership, endpoint_id):
    endpoint = _endpoint(membership, endpoint_id)
    since = _when(request.POST.get("since", ""))
    if since is None:
        messages.error(request, "Give the time from which to send again.")
        return redirect("webhook-detail", endpoint_id=endpoint.pk)
    count, error = run_command(request, services.endpoint_replay, endpoint=endpoint, since=since,
                               until=_when(request.POST.get("until", "")),
                               only_failed=request.POST.get("only_failed") == "on")
    if error is None:
        messages.success(request, f"{count} webhooks queued again.")
    return redirect("webhook-detail", endpoint_id=endpoint.pk)


@require_POST
@member_required(Role.ADMIN)
def webhook_delivery_replay(request, membership, delivery_id):
    try:
        delivery = queries.delivery_for(membership.organization_id, delivery_id)
    except NotFound as error:
        raise Http404(error.message) from None
    _, error = run_command(request, services.webhook_replay, success="Webhook queued again.", delivery=delivery)
    if error is not None:
        return redirect("webhook-list")
    return redirect("webhook-detail", endpoint_id=delivery.endpoint_id)


@require_POST
@member_required(Role.ADMIN)
def webhook_delete(request, membership, endpoint_id):
    services.endpoint_delete(endpoint=_endpoint(membership, endpoint_id))
    messages.success(request, "Endpoint deleted.")
    return redirect("webhook-list")
