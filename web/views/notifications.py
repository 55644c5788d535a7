from __future__ import annotations

from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.errors import NotFound
from notifications import queries, services

from .base import member_required


@member_required()
def notification_list(request, membership):
    return render(request, "notifications/list.html", {
        "notifications": queries.notifications_for(request.user)[:200],
        "preferences": queries.preferences_table(request.user)})


@require_GET
@member_required()
def unread_count(request, membership):
    return render(request, "notifications/_badge.html", {"unread_count": queries.unread_count(request.user)})


@require_POST
@member_required()
def mark_read(request, membership, notification_id):
    try:
        services.notification_mark_read(user=request.user, notification_id=notification_id)
    except NotFound:
        if request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse({"code": "not_found", "message": "No such notification."}, status=404)
        raise Http404("No such notification.") from None
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"unread": queries.unread_count(request.user)})
    return redirect("notification-list")


@require_POST
@member_required()
def mark_all_read(request, membership):
    services.notification_mark_all_read(user=request.user)
    return redirect("notification-list")


@require_POST
@member_required()
def preferences(request, membership):
    for row in queries.preferences_table(request.user):
        kind = row["kind"]
        services.preference_set(user=request.user, kind=kind, in_app=f"{kind}:in_app" in request.POST,
                                email=f"{kind}:email" in request.POST,
                                digest=row["can_digest"] and request.POST.get(f"{kind}:delivery") == "digest")
    return redirect("notification-list")
