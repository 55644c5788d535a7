"""Reads every other app uses to scope by the caller's organisation and role.

The rule: a query that returns tenant rows takes the caller's ``Membership`` and filters by its
organisation. Nothing looks rows up by id alone.
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet

from .models import Category, CostCenter, Membership, Role

M = TypeVar("M", bound=Model)


def membership_for_user(user) -> Membership | None:
    """The active membership of ``user``, or None (anonymous, staff without a tenant, deactivated)."""
    if user is None or not user.is_authenticated:
        return None
    try:
        membership = user.membership
    except Membership.DoesNotExist:
        return None
    return membership if membership.is_active else None


def scope(queryset: QuerySet[M], membership: Membership, *, field: str = "organization") -> QuerySet[M]:
    """Restrict ``queryset`` to the caller's organisation (``field`` names the organisation FK)."""
    return queryset.filter(**{field: membership.organization_id})


def cost_centers_for(membership: Membership) -> QuerySet[CostCenter]:
    return scope(CostCenter.objects.all(), membership).filter(is_active=True)


def categories_for(membership: Membership) -> QuerySet[Category]:
    return scope(Category.objects.all(), membership).filter(is_active=True)


def members_for(membership: Membership) -> QuerySet[Membership]:
    return scope(Membership.objects.select_related("user"), membership)


def reporting_chain(membership: Membership) -> list[Membership]:
    """The employee's managers, nearest first (cycles are cut)."""
    chain: list[Membership] = []
    seen = {membership.pk}
    current = membership.reports_to
    while current is not None and current.pk not in seen:
        chain.append(current)
        seen.add(current.pk)
        current = current.reports_to
    return chain


def is_in_reporting_line(approver: Membership, employee: Membership) -> bool:
    return any(manager.pk == approver.pk for manager in reporting_chain(employee))


def members_with_role(organization_id: int, *roles: str) -> QuerySet[Membership]:
    return Membership.objects.filter(organization_id=organization_id, role__in=roles, is_active=True)


def finance_approvers(organization_id: int) -> QuerySet[Membership]:
    return members_with_role(organization_id, Role.FINANCE, Role.ADMIN)
