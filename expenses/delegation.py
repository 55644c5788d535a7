"""Approval delegation: a manager who is away names a delegate who approves in their place until
an end date. The delegate acts *on behalf of* the manager (recorded on the approval, its event
and the audit trail), never on their own expenses, and only while the delegation runs."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core import prepared
from events.publishing import publish
from organizations.models import Membership, Role

from . import errors
from .events import DelegationEnded, DelegationGranted
from .models import Delegation

MAX_DAYS = 366


def active_delegations(delegate: Membership, on: dt.date | None = None) -> list[Delegation]:
    """The delegations ``delegate`` holds today (or ``on``), with their delegators.

    Asked on every approval page and queue read, and nearly always none: a plain probe of the
    delegation table answers that, a fixed statement prepared once (``core.prepared``; as an ORM
    query it cost the queue API 0.35 ms more, ``bench/profile_reads.py``), and the delegators are
    read (three joins) only if it finds one (the joined read cost a manager's queue a millisecond)."""
    on = on or delegate.organization.today()
    with prepared.cursor() as cursor:  # the probe: a fixed statement, prepared once
        cursor.execute(running_probe(), [delegate.pk, on, on])
        if cursor.fetchone() is None:
            return []
    running = Delegation.objects.filter(delegate=delegate, ended_at__isnull=True, starts_on__lte=on, ends_on__gte=on)
    return list(running.filter(delegator__is_active=True).select_related("delegator__user", "delegator__organization"))


@functools.cache
def running_probe() -> str:
    """Whether a delegation of the delegate (``%s``) runs on a day (``%s``, twice)."""
    q, meta = connection.ops.quote_name, Delegation._meta
    column = {name: q(meta.get_field(name).column) for name in ("delegate", "ended_at", "starts_on", "ends_on")}
    return (f"SELECT 1 FROM {q(meta.db_table)} WHERE {column['delegate']} = %s AND {column['ended_at']} IS NULL "
            f"AND {column['starts_on']} <= %s AND {column['ends_on']} >= %s LIMIT 1")


def active_delegators(delegate: Membership, on: dt.date | None = None) -> list[Membership]:
    return [d.delegator for d in active_delegations(delegate, on)]


def may_approve(membership: Membership) -> bool:
    """An approver by role, or standing in for one today. The gate of the approval pages and
    endpoints; the approve and reject commands still check each expense."""
    return membership.role in (Role.MANAGER, Role.FINANCE, Role.ADMIN) or bool(active_delegators(membership))


def delegate_user_ids(approver_user_ids: list[int], organization) -> list[int]:
    """The delegates standing in today for any of these approvers."""
    today = organization.today()
    return list(Delegation.objects.filter(delegator__user_id__in=approver_user_ids, ended_at__isnull=True,
                                          starts_on__lte=today, ends_on__gte=today, delegate__is_active=True)
                .values_list("delegate__user_id", flat=True))


def current_delegation(delegator: Membership) -> Delegation | None:
    """The delegator's open delegation that has not run out yet (it may start in the future)."""
    today = delegator.organization.today()
    return (Delegation.objects.filter(delegator=delegator, ended_at__isnull=True, ends_on__gte=today)
            .select_related("delegate__user").first())


def _date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise errors.InvalidField(f"{value!r} is not a date (YYYY-MM-DD).", details={"field": field}) from None


def _facts(delegation: Delegation) -> dict[str, Any]:
    return dict(delegation_id=delegation.pk, organization_id=delegation.organization_id,
                delegator_user_id=delegation.delegator.user_id, delegator_name=delegation.delegator.display_name,
                delegate_user_id=delegation.delegate.user_id, delegate_name=delegation.delegate.display_name,
                starts_on=delegation.starts_on, ends_on=delegation.ends_on)


@transaction.atomic
def delegation_create(*, actor: Membership, delegate_id: Any, ends_on: Any, starts_on: Any = None) -> Delegation:
    """``actor`` (a manager or admin) names ``delegate`` (an active member of the same
    organisation, not themselves) from ``starts_on`` (default today) to ``ends_on``. Replaces the
    actor's current delegation. Publishes ``delegation.granted``."""
    if actor.role not in (Role.MANAGER, Role.ADMIN):
        raise errors.NotAnApprover("Only a manager can name a delegate.")
    try:
        delegate = Membership.objects.select_related("user").get(
            pk=int(delegate_id), organization_id=actor.organization_id, is_active=True)
    except (Membership.DoesNotExist, TypeError, ValueError):
        raise errors.InvalidField("Choose a member of your organisation as delegate.",
                                  details={"field": "delegate_id"}) from None
    if delegate.pk == actor.pk:
        raise errors.InvalidDelegation("You cannot delegate to yourself.", details={"field": "delegate_id"})
    today = actor.organization.today()
    start = today if starts_on in (None, "") else _date(starts_on, "starts_on")
    end = _date(ends_on, "ends_on")
    if start < today:
        raise errors.InvalidDelegation("A delegation cannot start in the past.", details={"field": "starts_on"})
    if end < start:
        raise errors.InvalidDelegation("The end date must be on or after the first day.",
                                       details={"field": "ends_on"})
    if (end - start).days > MAX_DAYS:
        raise errors.InvalidDelegation(f"A delegation lasts at most {MAX_DAYS} days.", details={"field": "ends_on"})
    Membership.objects.select_for_update().filter(pk=actor.pk).first()  # one change of the actor's at a time
    for previous in Delegation.objects.filter(delegator=actor, ended_at__isnull=True):
        _end(previous, actor)
    delegation = Delegation.objects.create(organization_id=actor.organization_id, delegator=actor, delegate=delegate,
                                           starts_on=start, ends_on=end)
    publish(DelegationGranted(**_facts(delegation)), organization_id=actor.organization_id, actor_id=actor.user_id)
    return delegation


def _end(delegation: Delegation, actor: Membership) -> None:
    delegation.ended_at = timezone.now()
    delegation.save(update_fields=["ended_at"])
    if delegation.ends_on >= delegation.organization.today():  # still running or to come: say it ended early
        publish(DelegationEnded(**_facts(delegation)), organization_id=delegation.organization_id,
                actor_id=actor.user_id)


@transaction.atomic
def delegation_end(*, actor: Membership, delegation_id: Any) -> Delegation:
    """End a delegation now: its delegator or an organisation admin."""
    mine = Q(delegator=actor) if actor.role != Role.ADMIN else Q()
    try:
        delegation = (Delegation.objects.select_for_update(of=("self",))
                      .select_related("delegator__user", "delegate__user", "organization")
                      .filter(mine).get(pk=int(delegation_id), organization_id=actor.organization_id))
    except (Delegation.DoesNotExist, TypeError, ValueError):
        raise errors.DelegationNotFound("No such delegation.") from None
    if delegation.ended_at is not None:
        raise errors.InvalidState("This delegation has already ended.")
    _end(delegation, actor)
    return delegation
