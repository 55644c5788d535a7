"""Approver digests: an approver who chose the daily digest gets, instead of one notification per
submission, one notification (and mail) a day listing what waits for them.

Celery beat calls ``send_approver_digests`` every few minutes; a digest goes out once the
approver's local time has passed ``APPROVER_DIGEST_HOUR``, only if something waits, and at most
once per day: the ``DigestSent`` row (unique per user and day) is written in the same transaction
as the notification, so a second run, a second beat or a redelivered task sends nothing more.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from expenses.queries import awaiting_my_approval

from .models import DigestSent, Kind, NotificationPreference
from .services import notify

DIGEST_NAMESPACE = uuid.UUID("5d3a8f64-5b0e-4c5f-9a55-0c1f2de0d1a7")
SHOWN = 20


def digest_source_id(user_id: int, day: dt.date) -> uuid.UUID:
    """A stable id for (user, day): the notification's and mail's own once-only keys."""
    return uuid.uuid5(DIGEST_NAMESPACE, f"{user_id}:{day.isoformat()}")


def wants_digest(user_ids) -> set[int]:
    return set(NotificationPreference.objects.filter(user_id__in=list(user_ids), kind=Kind.EXPENSE_SUBMITTED,
                                                     digest=True).values_list("user_id", flat=True))


def send_approver_digests(now: dt.datetime | None = None) -> int:
    """Send today's digest to every approver who chose it and has not had one today. Returns how
    many were sent."""
    now = now or timezone.now()
    sent = 0
    prefs = list(NotificationPreference.objects.filter(kind=Kind.EXPENSE_SUBMITTED, digest=True,
                                                       user__is_active=True, user__membership__is_active=True)
                 .select_related("user__membership__organization"))
    # Today differs by time zone, but is within a day of UTC's: one query for who already had theirs.
    utc_day = now.astimezone(dt.UTC).date()
    already = set(DigestSent.objects.filter(user_id__in=[p.user_id for p in prefs],
                                            day__range=(utc_day - dt.timedelta(days=1), utc_day + dt.timedelta(days=1)))
                  .values_list("user_id", "day"))
    for pref in prefs:
        membership = pref.user.membership
        local = now.astimezone(zoneinfo.ZoneInfo(membership.organization.time_zone))
        if local.hour < settings.APPROVER_DIGEST_HOUR or (pref.user_id, local.date()) in already:
            continue
        sent += _send_one(membership, local.date())
    return sent


def _send_one(membership, day: dt.date) -> int:
    queue = awaiting_my_approval(membership)
    waiting = list(queue[:SHOWN])
    if not waiting:
        return 0
    total = queue.count() if len(waiting) == SHOWN else len(waiting)
    lines = [f"- {e.employee.display_name}: {e.conversion_text} at {e.merchant} "
             f"({e.category.name}, submitted {e.submitted_at:%Y-%m-%d})" for e in waiting]
    if total > len(waiting):
        lines.append(f"... and {total - len(waiting)} more.")
    try:
        with transaction.atomic():
            DigestSent.objects.create(user_id=membership.user_id, day=day, waiting=total)
            notify(user_ids=[membership.user_id], kind=Kind.APPROVER_DIGEST,
                   title=f"{total} expense{'s wait' if total != 1 else ' waits'} for your approval",
                   body="\n".join(lines), link="/approvals/", organization_id=membership.organization_id,
                   source_event_id=digest_source_id(membership.user_id, day))
    except IntegrityError:
        return 0  # another run sent today's digest meanwhile
    return 1
