"""Commands of the access app: recording that an account was locked out."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import transaction

from core.lockout import failure_limit, lockout_handler
from events.publishing import publish
from organizations.queries import membership_for_user

from .events import AccountLockedOut

log = logging.getLogger(__name__)


def account_lockout_record(sender=None, *, request, username: str | None, ip_address: str, **kwargs) -> None:
    """Publishes ``account.locked_out`` (audited, and its owner notified) when this failure is
    the one that locked the account.

    Refuses nothing and publishes nothing for a refused attempt during a lock-out (axes tells us
    about those too), for a lock-out of the address alone (no account is locked: it is logged),
    and for a username that is no account of an organisation (nobody to tell, no chain to
    record it in)."""
    if getattr(request, "axes_failures_since_start", None) is None:
        return  # an attempt refused during the lock-out, not the failure that started it
    credentials = getattr(request, "axes_credentials", None)
    handler = lockout_handler()
    by_account, by_address = handler.failures(request, credentials)
    if by_account != failure_limit():
        log.warning("log-in locked for address %s after %d failures (account %r not locked)",
                    ip_address, by_address, username)
        return
    user = get_user_model().objects.filter(username=username).first()
    membership = membership_for_user(user) if user else None
    if membership is None:
        log.warning("log-in locked for %r, which is no organisation member's account", username)
        return
    locked_until = handler.locked_until(request, credentials)
    with transaction.atomic():
        publish(AccountLockedOut(user_id=user.pk, username=user.get_username(), ip_address=ip_address or "",
                                 path=request.META.get("PATH_INFO", "")[:200], failures=by_account,
                                 locked_until=locked_until),
                organization_id=membership.organization_id, actor_label=f"lock-out:{ip_address or 'unknown'}")
