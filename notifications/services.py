"""Notifications: written by subscribers, read and marked read by their recipients.

E-mail is a separate step after the notification commits (``send_email``), with its own
retries. Delivery guarantee for mail: **at least once**. A mail row is committed together with
its notification, so no mail is lost; but if the worker dies after the mail server accepted a
message and before the row is marked sent, that one message is sent again on retry. SMTP offers
no way to make that window zero.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Count
from django.template.loader import render_to_string
from django.utils import timezone

from core.after_commit import send_on_commit
from core.backoff import backoff_seconds
from core.errors import NotFound, ValidationFailed
from events.hints import push_hints_rollback_unsafe

from .models import EmailMessage, Kind, Notification, NotificationPreference

logger = logging.getLogger(__name__)
EMAIL_MAX_ATTEMPTS = 8
EMAIL_RETRY_BASE_SECONDS, EMAIL_RETRY_CAP_SECONDS = 30, 3600  # a mail server's outage lasts minutes


@dataclass(frozen=True)
class Notice:
    """What one event tells its recipients: the arguments of ``notify``, for ``notify_many``."""

    user_ids: tuple[int, ...]
    kind: str
    title: str
    body: str
    link: str
    organization_id: int
    source_event_id: uuid.UUID


def notify(*, user_ids: Iterable[int], kind: str, title: str, body: str, link: str, organization_id: int,
           source_event_id) -> list[Notification]:
    """Create one notification (and one mail, where the user wants it) per recipient, once per
    source event; push a live hint and queue the mails after commit. See ``notify_many``."""
    return notify_many(notices=[Notice(user_ids=tuple(user_ids), kind=kind, title=title, body=body, link=link,
                                       organization_id=organization_id, source_event_id=source_event_id)])


def notify_many(*, notices: Sequence[Notice]) -> list[Notification]:
    """``notify`` for several events at once (a batch of deliveries), with exactly the rows
    ``notify`` gives each in turn, in a fixed number of statements however many: one read of
    the users, one of their preferences, one each of the notifications and mails that already
    exist for these events (a redelivered event adds nothing), one INSERT each for the new
    notifications and mails. After commit: one live hint hop for every recipient, one broker
    connection for every mail.

    In a delivery nobody else writes these rows at the same time; if somebody did, the unique
    constraint fails this transaction and its retry skips the rows that landed."""
    notices = [n for n in notices if n.user_ids]
    if not notices:
        return []
    users = {u.pk: u for u in get_user_model().objects.filter(
        pk__in={uid for n in notices for uid in n.user_ids}, is_active=True)}
    if not users:
        return []
    prefs = {(p.user_id, p.kind): p for p in NotificationPreference.objects.filter(
        user_id__in=list(users), kind__in={n.kind for n in notices})}
    in_app: list[tuple[Notice, object]] = []
    by_mail: list[tuple[Notice, object]] = []
    for notice in notices:
        for uid in sorted(set(notice.user_ids) & users.keys()):
            pref = prefs.get((uid, notice.kind))
            if pref is None or pref.in_app:
                in_app.append((notice, users[uid]))
            if (pref is None or pref.email) and users[uid].email:
                by_mail.append((notice, users[uid]))
    in_app = _not_yet(Notification, in_app)
    by_mail = _not_yet(EmailMessage, by_mail)
    created = Notification.objects.bulk_create([
        Notification(recipient=user, organization_id=n.organization_id, kind=n.kind, title=n.title[:200],
                     body=n.body, link=n.link, source_event_id=n.source_event_id) for n, user in in_app])
    mails = [mail.pk for mail in EmailMessage.objects.bulk_create(
        [_mail_row(user, n.kind, n.title, n.body, n.link, n.source_event_id) for n, user in by_mail])]
    if created:
        send_on_commit(_push_unread_rollback_unsafe, sorted({n.recipient_id for n in created}))
    if mails:
        send_on_commit(_queue_mails_rollback_unsafe, mails)
    return created


def _not_yet(model, wanted: list[tuple[Notice, object]]) -> list[tuple[Notice, object]]:
    """Those (notice, user) of ``wanted`` with no ``model`` row (notification or mail) for the
    notice's event and kind yet, each once: one query for all of them."""
    if not wanted:
        return []
    done = {(str(event_id), recipient_id, kind) for event_id, recipient_id, kind in model.objects.filter(
        source_event_id__in={n.source_event_id for n, _ in wanted}, recipient__in={user.pk for _, user in wanted})
        .values_list("source_event_id", "recipient_id", "kind")}
    kept = []
    for notice, user in wanted:
        key = (str(notice.source_event_id), user.pk, notice.kind)  # a UUID or its text, as callers pass it
        if key not in done:
            done.add(key)  # the same event twice in one batch: its rows once
            kept.append((notice, user))
    return kept


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
    """One ``send_email`` task per mail (its contract: one mail, retried on its own), all sent
    over one broker connection. With the broker down the rest wait for beat's resend."""
    from .tasks import send_email

    queued = 0
    try:
        with send_email.app.producer_or_acquire() as producer:
            for pk in ids:
                send_email.apply_async((pk,), producer=producer)
                queued += 1
    except Exception:  # noqa: BLE001 - broker down: beat's resend picks the rows up
        logger.warning("could not queue mails %s; the resend task will", ids[queued:])


def _push_unread_rollback_unsafe(user_ids: list[int]) -> None:
    """Lossy live hint: the recipients' unread counts changed (one count query and one hop to
    the hint loop for all of them). Never needed for correctness."""
    try:
        unread = dict(Notification.objects.filter(recipient_id__in=user_ids, read_at__isnull=True).order_by()
                      .values("recipient_id").annotate(n=Count("id")).values_list("recipient_id", "n"))
        push_hints_rollback_unsafe([(f"user.{user_id}", {"type": "notifications.new", "unread": unread.get(user_id, 0)})
                                    for user_id in user_ids])
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
                delay = backoff_seconds(mail.attempts, base=EMAIL_RETRY_BASE_SECONDS, cap=EMAIL_RETRY_CAP_SECONDS)
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
