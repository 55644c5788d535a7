from __future__ import annotations

from django.db.models import QuerySet

from .models import Kind, Notification, NotificationPreference


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notifications_for(user, *, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(recipient=user)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at")


def preferences_table(user) -> list[dict]:
    saved = {p.kind: p for p in NotificationPreference.objects.filter(user=user)}
    return [{"kind": kind, "label": label, "in_app": saved[kind].in_app if kind in saved else True,
             "email": saved[kind].email if kind in saved else True,
             "digest": saved[kind].digest if kind in saved else False,
             "can_digest": kind == Kind.EXPENSE_SUBMITTED} for kind, label in Kind.choices]
