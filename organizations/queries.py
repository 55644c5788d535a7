"""Reads every other app uses to scope by the caller's organisation and role.

The rule: a query that returns tenant rows takes the caller's ``Membership`` and filters by its
organisation. Nothing looks rows up by id alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.db import connection
from django.db.models import Model, QuerySet
from django.db.models.expressions import RawSQL

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


# The reporting line is one rule, walked by the database in one statement whichever way it is
# read: up from an employee (their managers, nearest first) or down from a manager (everyone
# whose line contains them). A cycle entered by mistake is cut, never followed forever.
_TABLE = Membership._meta.db_table  # our own model's table name; values are always parameters

_CHAIN_UP = f"""
WITH RECURSIVE chain(id, depth, path) AS (
    SELECT m.reports_to_id, 1, ARRAY[m.id] FROM {_TABLE} m WHERE m.id = %s AND m.reports_to_id IS NOT NULL
    UNION ALL
    SELECT m.reports_to_id, c.depth + 1, c.path || m.id FROM {_TABLE} m JOIN chain c ON m.id = c.id
    WHERE m.reports_to_id IS NOT NULL AND NOT m.reports_to_id = ANY(c.path || m.id)
)
SELECT m.* FROM chain c JOIN {_TABLE} m ON m.id = c.id ORDER BY c.depth
"""


def reporting_chain(membership: Membership) -> list[Membership]:
    """The employee's managers, nearest first (cycles are cut). One query however deep."""
    return list(Membership.objects.raw(_CHAIN_UP, [membership.pk]))


def reports_of(manager: Membership | int) -> RawSQL:
    """Everyone whose reporting line contains ``manager`` (direct and indirect reports), as a
    subquery (``employee__in=reports_of(m)``), so the lists that use it stay one query however
    deep the line is. ``UNION`` (not ``UNION ALL``) stops at a cycle."""
    pk = manager.pk if isinstance(manager, Membership) else manager
    return RawSQL(  # noqa: S611
        f"WITH RECURSIVE line(id) AS (SELECT id FROM {_TABLE} WHERE reports_to_id = %s"
        f" UNION SELECT m.id FROM {_TABLE} m JOIN line ON m.reports_to_id = line.id) SELECT id FROM line",
        (pk,))


def is_in_reporting_line(approver: Membership, employee: Membership) -> bool:
    """``approver`` is one of ``employee``'s managers, at any depth (the same rule as the lists)."""
    if approver.pk == employee.pk:
        return False
    return in_reports_of(approver, employee.pk)


def in_reports_of(manager: Membership | int, employee_id: int) -> bool:
    """The member is in ``reports_of(manager)``: the lists' filter asked of one member."""
    return Membership.objects.filter(pk=employee_id).filter(pk__in=reports_of(manager)).exists()


def members_with_role(organization_id: int, *roles: str) -> QuerySet[Membership]:
    return Membership.objects.filter(organization_id=organization_id, role__in=roles, is_active=True)


def finance_approvers(organization_id: int) -> QuerySet[Membership]:
    return members_with_role(organization_id, Role.FINANCE, Role.ADMIN)


# The choices of an expense list's filters, one statement for the three lists: the page used to
# read them in three, about 1.3 ms each on the approval queue (bench/profile_reads.py).
_USER_TABLE = Membership._meta.get_field("user").related_model._meta.db_table
_CHOICES = f"""
SELECT 0, c.id, c.code, c.name, '' FROM {CostCenter._meta.db_table} c WHERE c.organization_id = %s AND c.is_active
UNION ALL
SELECT 1, c.id, c.name, '', '' FROM {Category._meta.db_table} c WHERE c.organization_id = %s AND c.is_active
UNION ALL
SELECT 2, m.id, u.username, u.first_name, u.last_name FROM {_TABLE} m JOIN {_USER_TABLE} u ON u.id = m.user_id
WHERE m.organization_id = %s AND m.is_active AND %s
ORDER BY 1, 3, 2
"""


@dataclass(frozen=True)
class FilterChoices:
    """What an expense list offers to filter by, as ``(id, label)`` pairs in the order the
    models sort them: the caller's active cost centres (``"CODE Name"``) and categories, and,
    when asked for, its organisation's active members (their display names)."""
    cost_centers: list[tuple[int, str]]
    categories: list[tuple[int, str]]
    employees: list[tuple[int, str]]


def filter_choices(membership: Membership, *, people: bool) -> FilterChoices:
    """The rows of ``cost_centers_for``, ``categories_for`` and, with ``people``, the members,
    read in one statement (``organizations/tests/test_queries.py`` proves they agree)."""
    org = membership.organization_id
    lists: tuple[list, list, list] = ([], [], [])
    with connection.cursor() as cursor:
        cursor.execute(_CHOICES, [org, org, org, people])
        for kind, pk, first, second, third in cursor.fetchall():
            if kind == 0:
                label = f"{first} {second}"
            elif kind == 1:
                label = first
            else:  # Membership.display_name: AbstractUser.get_full_name() or the username
                label = f"{second} {third}".strip() or first
            lists[kind].append((pk, label))
    return FilterChoices(*lists)
