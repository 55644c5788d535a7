from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from core import prepared

from .models import Kind, Notification, NotificationPreference

_UNREAD = (f"SELECT COUNT(*) FROM {prepared.table(Notification)} WHERE {prepared.column(Notification, 'recipient')}"
           f" = %s AND {prepared.column(Notification, 'read_at')} IS NULL")


def unread_of_the_user_sql() -> str:
    """``unread_count`` as SQL on the user ``t0``: read with the session's user on every page
    (``organizations.authentication.read_with_the_session_user``), not in a statement of its own."""
    user = get_user_model()
    return (f"SELECT COUNT(*) FROM {prepared.table(Notification)} WHERE {prepared.column(Notification, 'recipient')}"
            f" = t0.{prepared.column(user, user._meta.pk.name)} AND {prepared.column(Notification, 'read_at')} IS NULL")


def unread_count(user) -> int:
    """The bell's number, on every page: ``notifications_for(user, unread_only=True).count()``
    as a fixed statement, prepared (``core.prepared``); the ORM's count cost 0.6 ms a page, this
    0.3 (scratch timing in process)."""
    with prepared.cursor() as cursor:
        cursor.execute(_UNREAD, [user.pk])
        (count,) = cursor.fetchone()
    return count


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
