"""Notifications: written by subscribers, read and marked read by their recipients.

E-mail is a separate step after the notification commits (``send_email``), with its own
retries. Delivery guarantee for mail: **at least once**. A mail row is committed together with
its notification, so no mail is lost; but if the worker dies after the mail server accepted a
message and before the row is marked sent, that one message is sent again on retry. SMTP offers
no way to make that window zero.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from core.after_commit import send_on_commit
from core.errors import NotFound, ValidationFailed
from events.hints import push_hint_rollback_unsafe

from .models import EmailMessage, Kind, Notification, NotificationPreference

logger = logging.getLogger(__name__)
EMAIL_MAX_ATTEMPTS = 8


def preferences_for(user_ids: Iterable[int], kind: str) -> dict[int, NotificationPreference]:
    return {p.user_id: p for p in NotificationPreference.objects.filter(user_id__in=list(user_ids), kind=kind)}


def notify(*, user_ids: Iterable[int], kind: str, title: str, body: str, link: str, organization_id: int,
           source_event_id) -> list[Notification]:
    """Create one notification (and one mail, where the user wants it) per recipient, once per
    source event; push a live hint and queue the mails after commit.

    Who already has one for this event is read first and the rest written in one INSERT each for
    notifications and mails (no savepoint per row). In a delivery nobody else writes them at the
    same time; if somebody did, the unique constraint fails this transaction and its retry skips
    the rows that landed."""
    users = list(get_user_model().objects.filter(pk__in=set(user_ids), is_active=True))
    prefs = preferences_for([u.pk for u in users], kind)
    in_app = [u for u in users if prefs.get(u.pk) is None or prefs[u.pk].in_app]
    by_mail = [u for u in users if (prefs.get(u.pk) is None or prefs[u.pk].email) and u.email]
    in_app = _not_yet(Notification, in_app, kind, source_event_id)
    by_mail = _not_yet(EmailMessage, by_mail, kind, source_event_id)
    created = Notification.objects.bulk_create([
        Notification(recipient=user, organization_id=organization_id, kind=kind, title=title[:200], body=body,
                     link=link, source_event_id=source_event_id) for user in in_app])
    mails = [mail.pk for mail in EmailMessage.objects.bulk_create(
        [_mail_row(user, kind, title, body, link, source_event_id) for user in by_mail])]
    if created:
        recipients = sorted({n.recipient_id for n in created})
        send_on_commit(_push_unread_rollback_unsafe, recipients)
    if mails:
        send_on_commit(_queue_mails_rollback_unsafe, mails)
    return created


def _not_yet(model, users: list, kind: str, source_event_id) -> list:
    """Those of ``users`` who have no ``model`` row (notification or mail) for this event and kind."""
    if not users:
        return []
    done = set(model.objects.filter(source_event_id=source_event_id, kind=kind, recipient__in=users)
               .values_list("recipient_id", flat=True))
    return [user for user in users if user.pk not in done]


def _mail_row(user, kind, title, body, link, source_event_id) -> EmailMessage:
    absolute = f"{settings.OUTLAY_BASE_URL.rstrip('/')}{link}" if link else ""
    context = {"notification": {"title": title, "body": body}, "link": absolute, "kind_label": Kind(kind).label}
    return EmailMessage(
        # A header may not contain a line break; titles quote user input.
        recipient=user, to=user.email, kind=kind, subject=" ".join(f"[Outlay] {title}".split())[:200],
        text=render_to_string("notifications/email/notification.txt", context),
        html=render_to_string("notifications/email/notification.html", context),
        source_event_id=source_event_id,
        next_attempt_at=timezone.now() + timedelta(seconds=60))  # the beat resend is the fallback


def _queue_mails_rollback_unsafe(ids: list[int]) -> None:
    from .tasks import send_email

    for pk in ids:
        try:
            send_email.delay(pk)
        except Exception:  # noqa: BLE001 - broker down: beat's resend picks the row up
            logger.warning("could not queue mail %s; the resend task will", pk)


def _push_unread_rollback_unsafe(user_ids: list[int]) -> None:
    """Lossy live hint: the recipient's unread count changed. Never needed for correctness."""
    try:
        for user_id in user_ids:
            count = Notification.objects.filter(recipient_id=user_id, read_at__isnull=True).count()
            push_hint_rollback_unsafe(f"user.{user_id}", {"type": "notifications.new", "unread": count})
    except Exception:
        logger.debug("live hint not pushed", exc_info=True)


def send_email(email_id: int) -> str:
    """Send one pending mail. The row stays locked while the mail server is talked to, so two
    workers never send it at once; see the module docstring for the one duplicate window."""
    with transaction.atomic():
        mail = EmailMessage.objects.select_for_update(skip_locked=True).filter(
            pk=email_id, status=EmailMessage.Status.PENDING).first()
        if mail is None:
            return "skipped"
        mail.attempts += 1
        try:
            message = EmailMultiAlternatives(mail.subject, mail.text, settings.DEFAULT_FROM_EMAIL, [mail.to])
            message.attach_alternative(mail.html, "text/html")
            message.send(fail_silently=False)
        except Exception as exc:  # noqa: BLE001 - any SMTP failure is retried
            mail.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            if mail.attempts >= EMAIL_MAX_ATTEMPTS:
                mail.status = EmailMessage.Status.FAILED
            else:
                delay = min(3600, 30 * 2 ** (mail.attempts - 1)) * random.uniform(0.5, 1.0)  # noqa: S311
                mail.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            mail.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
            return "failed"
        mail.status = EmailMessage.Status.SENT
        mail.sent_at = timezone.now()
        mail.save(update_fields=["attempts", "status", "sent_at"])
    return "sent"


def due_emails(limit: int = 200) -> list[int]:
    return list(EmailMessage.objects.filter(status=EmailMessage.Status.PENDING, next_attempt_at__lte=timezone.now())
                .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


# --- recipients' commands -------------------------------------------------------------------------

def notification_mark_read(*, user, notification_id) -> Notification:
    """Mark one of the caller's notifications read (NotFound for anybody else's)."""
    try:
        notification = Notification.objects.get(pk=notification_id, recipient=user)
    except (Notification.DoesNotExist, DjangoValidationError, ValueError):
        raise NotFound("No such notification.") from None
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notification_mark_all_read(*, user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())


def preference_set(*, user, kind: str, in_app: bool, email: bool, digest: bool = False) -> NotificationPreference:
    """``digest`` (submissions only): one daily digest instead of a notification per submission."""
    if kind not in Kind.values:
        raise NotFound(f"No notification kind {kind!r}.")
    if digest and kind != Kind.EXPENSE_SUBMITTED:
        raise ValidationFailed("Only submissions can be collected in the daily digest.", code="invalid",
                               details={"field": "digest"})
    pref, _ = NotificationPreference.objects.update_or_create(
        user=user, kind=kind, defaults={"in_app": in_app, "email": email, "digest": digest})
    return pref
