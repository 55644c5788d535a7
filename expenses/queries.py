"""Reads for screens and the API, always scoped to the caller's organisation and role."""

from __future__ import annotations

import datetime as dt
import functools
import operator
from dataclasses import dataclass, fields
from decimal import Decimal
from functools import reduce
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.db.models import (
    DateField,
    DecimalField,
    Exists,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from core import prepared
from core.rows import JoinedRead
from organizations.models import CostCenter, Membership, Role
from organizations.queries import cost_centers_for, in_reports_of, reports_of

from .delegation import active_delegators, running_probe
from .errors import ExpenseNotFound
from .models import Approval, ApprovalStep, Comment, Expense, ExpenseState, MonthlySpend

_BASE = ("organization", "employee__user", "cost_center", "category")


def visible_expenses(membership: Membership) -> QuerySet[Expense]:
    """What the caller may see: finance and admins the whole organisation, managers their
    reporting line and their own, employees their own; and, while they stand in for a manager
    (a delegation running today), what that manager sees. A draft is its employee's private
    business until submitted: only they and the organisation's admins see it (detail, lists,
    receipt). Always one query. One expense opened by id asks the same rule of its row
    (``_may_see``): change both, ``expenses/tests/test_visibility_rule.py`` keeps them equal."""
    qs = Expense.objects.filter(organization_id=membership.organization_id).select_related(*_BASE)
    if membership.role == Role.ADMIN:
        return qs
    qs = qs.filter(~Q(state=ExpenseState.DRAFT) | Q(employee=membership))
    seen = [membership, *active_delegators(membership)]
    if any(m.role in (Role.FINANCE, Role.ADMIN) for m in seen):
        return qs
    condition = Q(employee=membership)
    for manager in (m for m in seen if m.role == Role.MANAGER):
        condition |= Q(employee__in=reports_of(manager))
    return qs.filter(condition)


def my_expenses(membership: Membership) -> QuerySet[Expense]:
    """The caller's own expenses, newest date first (then newest created)."""
    return Expense.objects.filter(employee=membership).select_related(*_BASE).order_by("-incurred_on", "-created_at")


class _MonthStart(Func):
    """The first day of the date's month (a date, so a range on ``incurred_on`` stays indexable)."""

    template = "date_trunc('month', %(expressions)s)::date"
    output_field = DateField()


class _NextMonthStart(Func):
    template = "(date_trunc('month', %(expressions)s) + interval '1 month')::date"
    output_field = DateField()


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """``YYYY-MM`` as [its first day, the next month's first day)."""
    year, mon = (int(part) for part in month.split("-"))
    return dt.date(year, mon, 1), dt.date(year + mon // 12, mon % 12 + 1, 1)


def approved_spend_in_month(cost_center_id: Any, first: Any, after: Any) -> QuerySet:
    """The one rule for a cost centre's approved spend in a month: its approved expenses incurred
    on or after ``first`` and before ``after`` (dates, or expressions of an outer query), as one
    row with ``total`` (none when nothing was spent). A date range, never year/month extraction,
    so expense_budget_idx answers it from the index alone."""
    return (Expense.objects.filter(cost_center_id=cost_center_id, state=ExpenseState.APPROVED,
                                   incurred_on__gte=first, incurred_on__lt=after)
            .values("cost_center_id").annotate(total=Sum("org_amount")).values("total"))


def approved_spend_total(cost_center_id: int, first: dt.date, after: dt.date) -> Decimal:
    """``approved_spend_in_month``'s total for one cost centre and month (0 when nothing was
    spent), as one plain statement: the budget check of every approval, under its lock. The ORM's
    grouped aggregate cost four times the statement itself (0.8 against 0.2 ms a call, in
    process); ``expenses/tests/test_command_reads.py`` proves the two agree."""
    with prepared.cursor() as cursor:
        cursor.execute(_spend_total_sql(), [cost_center_id, ExpenseState.APPROVED.value, first, after])
        (total,) = cursor.fetchone()
    return total


def approvals_given(expense_id: UUID | str) -> list[Approval]:
    """The expense's approvals in decision order, as ``expense.approvals.order_by("decided_at",
    "pk")`` would give them (no related rows), in one plain statement: the approve command reads
    them under its lock (0.6 against 0.2 ms, in process; ``expenses/tests/test_command_reads.py``)."""
    names = [field.attname for field in Approval._meta.concrete_fields]
    with prepared.cursor() as cursor:
        cursor.execute(_approvals_sql(), [expense_id])
        return [Approval.from_db(connection.alias, names, row) for row in cursor.fetchall()]


def approvals_and_spend(expense_id: UUID, cost_center_id: int, first: dt.date,
                        after: dt.date) -> tuple[list[Approval], Decimal]:
    """``approvals_given(expense_id)`` and ``approved_spend_total(cost_center_id, first, after)``
    in one statement: the approve command asks both under its lock, and a round trip less is a
    quarter of a millisecond of every approval (``bench/profile_approve.py --phases``).
    ``expenses/tests/test_command_reads.py`` proves it answers what the two answer."""
    names = [field.attname for field in Approval._meta.concrete_fields]
    with prepared.cursor() as cursor:
        cursor.execute(_approvals_and_spend_sql(),
                       [cost_center_id, ExpenseState.APPROVED.value, first, after, expense_id])
        rows = cursor.fetchall()
    total = rows[0][0]  # one row at least: the total's, with no approval beside it if none was given
    return [Approval.from_db(connection.alias, names, row[1:]) for row in rows if row[1] is not None], total


@functools.cache
def _approvals_and_spend_sql() -> str:
    q, meta = connection.ops.quote_name, Approval._meta
    columns = ", ".join(f"a.{q(field.column)}" for field in meta.concrete_fields)
    return (f"SELECT s.total, {columns} FROM ({_spend_total_sql()}) s(total) "
            f"LEFT JOIN {q(meta.db_table)} a ON a.{q(meta.get_field('expense').column)} = %s "
            f"ORDER BY a.{q(meta.get_field('decided_at').column)}, a.{q(meta.pk.column)}")


@functools.cache
def _approvals_sql() -> str:
    q, meta = connection.ops.quote_name, Approval._meta
    columns = ", ".join(q(field.column) for field in meta.concrete_fields)
    return (f"SELECT {columns} FROM {q(meta.db_table)} WHERE {q(meta.get_field('expense').column)} = %s "
            f"ORDER BY {q(meta.get_field('decided_at').column)}, {q(meta.pk.column)}")


@functools.cache
def _spend_total_sql(cost_center: str = "%s", state: str = "%s", first: str = "%s", after: str = "%s") -> str:
    """``approved_spend_in_month``'s total as SQL (0 when nothing was spent): by default each of
    its terms a ``%s``; the approval queue gives SQL expressions of its outer row instead."""
    q, meta = connection.ops.quote_name, Expense._meta
    column = {name: q(meta.get_field(name).column) for name in ("org_amount", "cost_center", "state", "incurred_on")}
    return (f"SELECT COALESCE(SUM(s.{column['org_amount']}), 0) FROM {q(meta.db_table)} s "
            f"WHERE s.{column['cost_center']} = {cost_center} AND s.{column['state']} = {state} "
            f"AND s.{column['incurred_on']} >= {first} AND s.{column['incurred_on']} < {after}")


def _approved_in_expense_month() -> Subquery:
    """``approved_spend_in_month`` of the outer expense's cost centre and month."""
    spent = approved_spend_in_month(OuterRef("cost_center_id"), _MonthStart(OuterRef("incurred_on")),
                                    _NextMonthStart(OuterRef("incurred_on")))
    return Subquery(spent, output_field=DecimalField(max_digits=14, decimal_places=2))


def _next_step_for(membership: Membership) -> Q | None:
    """The submitted expenses whose next approval ``membership`` may give (None: none)."""
    manager_done = Exists(Approval.objects.filter(expense=OuterRef("pk"), step=ApprovalStep.MANAGER))
    finance_done = Exists(Approval.objects.filter(expense=OuterRef("pk"), step=ApprovalStep.FINANCE))
    if membership.role == Role.MANAGER:
        return Q(employee__in=reports_of(membership)) & ~manager_done
    if membership.role == Role.FINANCE:
        # finance acts on the second step: expenses above the threshold whose manager approved
        return manager_done & ~finance_done
    if membership.role == Role.ADMIN:
        # an admin who gave the manager approval cannot give the finance one too
        given = Exists(Approval.objects.filter(Q(approver=membership) | Q(on_behalf_of=membership),
                                               expense=OuterRef("pk")))
        return ~given
    return None


def awaiting_my_approval(membership: Membership, *, delegators: list[Membership] | None = None,
                         with_budget: bool = True) -> QuerySet[Expense]:
    """Submitted expenses the caller can act on next, oldest first, each annotated with its cost
    centre's remaining budget for the expense's month (``remaining_budget``), in one query.
    ``delegators``: the managers the caller stands in for today; their queues are included
    (never the caller's own expenses, nor the delegator's own). ``with_budget=False``: without
    the remaining budget (a reader that only picks one of them, the status box's "next in queue").
    The unfiltered queue is read by ``approval_queue``, the same rule in one statement: change both."""
    qs = Expense.objects.filter(organization_id=membership.organization_id, state=ExpenseState.SUBMITTED)
    qs = qs.exclude(employee=membership).select_related(*_BASE)
    if delegators is None:
        delegators = active_delegators(membership)
    conditions = [q for q in [_next_step_for(membership)] if q is not None]
    conditions += [q & ~Q(employee=d) for d in delegators if (q := _next_step_for(d)) is not None]
    if not conditions:
        return qs.none()
    qs = qs.filter(reduce(operator.or_, conditions))
    if not with_budget:
        return qs.order_by("submitted_at", "pk")
    zero = Value(Decimal("0"), output_field=DecimalField(max_digits=14, decimal_places=2))
    return qs.annotate(
        remaining_budget=Coalesce("cost_center__monthly_budget", zero) - Coalesce(_approved_in_expense_month(), zero),
    ).order_by("submitted_at", "pk")


def approval_queue(membership: Membership, *, delegators: list[Membership] | None = None) -> list[Expense]:
    """Every row of ``awaiting_my_approval(membership, delegators=delegators)``, oldest first
    (then by id), each with ``remaining_budget`` and ``manager_approved`` (so ``awaiting`` and
    ``state_label`` read nothing more), its employee and their user, cost centre and category
    loaded, its organisation the caller's: the queue as the page and the API open it, unfiltered.
    ``delegators`` None: the managers the caller stands in for today, found as
    ``queue_and_delegators`` finds them."""
    if delegators is None:
        return queue_and_delegators(membership)[0]
    return _queue_rows(membership, delegators)


def queue_and_delegators(membership: Membership) -> tuple[list[Expense], list[Membership]]:
    """``approval_queue(membership)`` and ``active_delegators(membership)``, nearly always in one
    statement: the caller's own queue, each row also saying whether a delegation of theirs runs
    today (the probe ``active_delegators`` would send on its own, 0.4 ms of the queue API's 6.3,
    scratch split of bench/profile_reads.py). Only when one runs, or the queue is empty and so
    could not say, are the delegators read and, if there are any, the queue with theirs."""
    if membership.role in _NEXT_STEP_SQL:
        today = membership.organization.today()
        rows = _queue_rows(membership, [], probe=(membership.pk, today, today))
        if rows and not rows[0].delegation_running:
            return rows, []
    else:
        rows = []
    delegators = active_delegators(membership)
    return (_queue_rows(membership, delegators) if delegators else rows), delegators


def _queue_rows(membership: Membership, delegators: list[Membership], *,
                probe: tuple | None = None) -> list[Expense]:
    """The queue's statement for the caller and ``delegators`` (``probe``: the delegation probe's
    values, its answer as each row's ``delegation_running``).

    The queryset's rule written as the one statement of its shape (the caller's role and their
    delegators' roles), built once per shape (``core.rows.JoinedRead``): the ORM compiled the
    queryset in 2.5 ms and built its hundred instances in 1.3 ms more, against 2.6 ms for running
    it (scratch script, in process), and ``awaiting`` cost a query of the approvals. A filtered
    or re-sorted list still goes through the queryset. ``expenses/tests/test_approval_queue.py``
    proves the two agree for every role, delegation, reporting line and approval already given:
    change both."""
    shape, params = _shape(membership, delegators)
    if not shape:
        return []
    rows = _queue_read(tuple(shape), probe is not None).all(
        *(probe or ()), membership.organization_id, ExpenseState.SUBMITTED.value, membership.pk, *params)
    for row in rows:
        row.organization = membership.organization
    return rows


_column = prepared.column


def _approval_exists(condition: str) -> str:
    """An approval of the expense ``t0`` that meets ``condition`` (on ``a``)."""
    return (f"EXISTS (SELECT 1 FROM {connection.ops.quote_name(Approval._meta.db_table)} a "
            f"WHERE a.{_column(Approval, 'expense')} = t0.{_column(Expense, 'id')} AND {condition})")


_MANAGER_DONE = _approval_exists(f"a.{_column(Approval, 'step')} = '{ApprovalStep.MANAGER.value}'")
_FINANCE_DONE = _approval_exists(f"a.{_column(Approval, 'step')} = '{ApprovalStep.FINANCE.value}'")
# ``_next_step_for``'s rule per role, on the expense ``t0``; each ``%s`` is the member.
_NEXT_STEP_SQL = {
    Role.MANAGER: f"t0.{_column(Expense, 'employee')} IN ({reports_of(0).sql}) AND NOT {_MANAGER_DONE}",
    Role.FINANCE: f"{_MANAGER_DONE} AND NOT {_FINANCE_DONE}",
    Role.ADMIN: "NOT " + _approval_exists(f"(a.{_column(Approval, 'approver')} = %s "
                                          f"OR a.{_column(Approval, 'on_behalf_of')} = %s)"),
}


def _spent_in_row_month_sql() -> str:
    """``_approved_in_expense_month`` as SQL: the approved spend of the row ``t0``'s cost centre in
    the row's month (the queue's and the expense page's budget left)."""
    incurred = f"t0.{_column(Expense, 'incurred_on')}"
    return _spend_total_sql(f"t0.{_column(Expense, 'cost_center')}", f"'{ExpenseState.APPROVED.value}'",
                            f"date_trunc('month', {incurred})::date",
                            f"(date_trunc('month', {incurred}) + interval '1 month')::date")


@functools.cache
def _queue_read(shape: tuple[tuple[str, bool], ...], probe: bool = False) -> JoinedRead:
    """The queue's statement for ``shape``: (role, is a delegator) of the caller, then of each
    delegator; with ``probe``, each row also says whether a delegation of the caller runs on a
    day (``delegation_running``: the delegate's id and the day twice, its ``%s`` first)."""
    employee = f"t0.{_column(Expense, 'employee')}"
    conditions = [f"({_NEXT_STEP_SQL[role]}){f' AND {employee} <> %s' if delegator else ''}"
                  for role, delegator in shape]
    spent = _spent_in_row_month_sql()
    return JoinedRead(
        Expense, ("cost_center", "employee__user", "category"), where=("organization", "state"),
        condition=f"{employee} <> %s AND ({' OR '.join(conditions)})",
        extra=(("remaining_budget",
                f"COALESCE(t1.{_column(CostCenter, 'monthly_budget')}, 0) - ({spent})"),
               ("manager_approved", _MANAGER_DONE),
               *((("delegation_running", f"EXISTS ({running_probe()})"),) if probe else ())),
        order_by=f"t0.{_column(Expense, 'submitted_at')}, t0.{_column(Expense, 'id')}")


def next_waiting(membership: Membership, expense: Expense) -> Expense | None:
    """The caller's next expense after ``expense``, so an approver keeps their place in the queue:
    of ``awaiting_my_approval(membership, with_budget=False)`` without ``expense``, the first
    submitted after it, else the oldest (by submission, then id); None when nothing waits.

    The status box asks it on every poll (each 1.5 s while an approval's effects land): through
    the ORM, PostgreSQL planned the query anew each time, 3.1 ms of the box's 18 (EXPLAIN
    ANALYZE, in process), besides its compiling. Here it is the queue's rule as a fixed
    statement of its shape (``_queue_read``'s), prepared once; ``expenses/tests/test_next_waiting.py``
    proves the two agree for every approver and expense of ``test_approval_queue``'s world."""
    delegators = active_delegators(membership)
    shape, params = _shape(membership, delegators)
    if not shape:
        return None
    after = expense.submitted_at
    return _next_read(tuple(shape), after is not None).get(
        membership.organization_id, ExpenseState.SUBMITTED.value, membership.pk, *params, expense.pk,
        *([after] if after is not None else []))


def _shape(membership: Membership, delegators: list[Membership]) -> tuple[list, list]:
    """The queue statement's shape ((role, is a delegator) of the caller, then of each
    delegator) and its members' values, in the order the shape's SQL takes them."""
    shape, params = [], []
    for who in (membership, *delegators):
        if who.role not in _NEXT_STEP_SQL:
            continue
        delegator = who is not membership  # a delegate never decides the delegator's own expenses
        shape.append((who.role, delegator))
        params += [who.pk] * _NEXT_STEP_SQL[who.role].count("%s") + ([who.pk] if delegator else [])
    return shape, params


@functools.cache
def _next_read(shape: tuple[tuple[str, bool], ...], after: bool) -> JoinedRead:
    """``next_waiting``'s statement: the queue's rule without one expense (``%s``), ordered by
    ``after`` one submission time (``%s``, last) first, else the oldest; one row."""
    submitted, pk = f"t0.{_column(Expense, 'submitted_at')}", f"t0.{_column(Expense, 'id')}"
    read = _queue_read(shape)
    return JoinedRead(
        Expense, ("cost_center", "employee__user", "category"), where=("organization", "state"),
        condition=f"{read.condition} AND {pk} <> %s",
        order_by=(f"CASE WHEN {submitted} > %s THEN 0 ELSE 1 END, " if after else "") + f"{submitted}, {pk}",
        limit=1)


def approvals_with_names() -> Prefetch:
    """An expense's approvals with their approvers' and delegators' names: one query."""
    return Prefetch("approvals", queryset=Approval.objects.select_related("approver__user", "on_behalf_of__user")
                    .order_by("decided_at", "pk"))


def expense_detail(membership: Membership, expense_id: UUID | str, *, approver_names: bool = True,
                   budget: bool = False) -> Expense:
    """One expense with its approvals (``expense.approvals.all()`` reads nothing more); NotFound
    for another organisation's or an invisible one. The approvals are one plain statement
    (``approvals_given``) and their approvers' and delegators' names one more, only if there is
    an approval and ``approver_names``: a submitted expense, what a manager opens to decide,
    costs no join (Django's prefetch with the names' joins cost more than the expense's own read,
    ``bench/profile_reads.py``). ``approver_names=False``: who decided which step, by id only
    (the status fragment, polled every 1.5 s while processing). ``budget``: ``remaining_budget``
    set too, read in the same statement (the expense page)."""
    expense = _visible_one(membership, expense_id, budget=budget)
    approvals = approvals_given(expense.pk)
    people = set()
    if approver_names:
        people = {pk for a in approvals for pk in (a.approver_id, a.on_behalf_of_id) if pk is not None}
    members = Membership.objects.select_related("user").in_bulk(people) if people else {}
    for approval in approvals:
        approval.expense = expense
        if approval.approver_id in members:
            approval.approver = members[approval.approver_id]
        if approval.on_behalf_of_id in members:
            approval.on_behalf_of = members[approval.on_behalf_of_id]
    _as_prefetched(expense, "approvals", approvals)
    return expense


_THREAD = JoinedRead(Comment, ("author__user",), where=("expense",),
                     order_by=f"t0.{_column(Comment, 'created_at')}, t0.{_column(Comment, 'id')}")


def comment_thread(expense: Expense) -> list[Comment]:
    """``expense.comments.select_related("author__user")`` in its order (oldest first), as one
    statement built once: the ORM's spent 1.3 ms of the expense page's 12 building it, against
    0.3 for a fixed one (scratch timing in process); ``expenses/tests/test_command_reads.py``
    proves the two agree."""
    thread = _THREAD.all(expense.pk)
    for comment in thread:
        comment.expense = expense
    return thread


def _line_sql() -> str:
    line = reports_of(0)  # the reporting line's subquery, its one parameter the manager
    return f"t0.{connection.ops.quote_name(Expense._meta.get_field('employee').column)} IN ({line.sql})"


def _budget_sql() -> str:
    """The remaining budget of the expense's cost centre (``t4`` in ``_BASE``'s joins) for the
    expense's month: ``services.remaining_budget(expense.cost_center, expense.month)`` as a column."""
    return f"t4.{_column(CostCenter, 'monthly_budget')} - ({_spent_in_row_month_sql()})"


_ONE = JoinedRead(Expense, _BASE, where=("pk", "organization"))
_ONE_IN_LINE = JoinedRead(Expense, _BASE, where=("pk", "organization"), extra=(("in_viewers_line", _line_sql()),))
# The expense page shows the cost centre's budget left: read with the expense, one statement fewer.
_ONE_WITH_BUDGET = JoinedRead(Expense, _BASE, where=("pk", "organization"),
                              extra=(("remaining_budget", _budget_sql()),))
_ONE_IN_LINE_WITH_BUDGET = JoinedRead(Expense, _BASE, where=("pk", "organization"),
                                      extra=(("in_viewers_line", _line_sql()), ("remaining_budget", _budget_sql())))


def _visible_one(membership: Membership, expense_id: UUID | str, *, budget: bool = False) -> Expense:
    """``visible_expenses(membership).get(pk=expense_id)``, its rule asked of the one row: the
    expense read by id in the caller's organisation (one statement built once; for a manager
    it also answers whether the employee is in their reporting line), then the rule in order
    of cost, so a manager opening their report's expense asks nothing more (no delegation
    probe). The ORM's filtered read cost 2.7 ms of the status fragment's 8, polled every 1.5 s
    (``bench/profile_reads.py``); ``expenses/tests/test_visibility_rule.py`` proves the two
    agree on every role, state, reporting line and delegation. The line's answer is kept for
    the decision buttons' check (``services._may_decide``): one question, asked once."""
    try:
        pk = Expense._meta.pk.to_python(expense_id)
    except DjangoValidationError:
        raise ExpenseNotFound("No such expense.") from None
    manager = membership.role == Role.MANAGER
    if manager:
        read = _ONE_IN_LINE_WITH_BUDGET if budget else _ONE_IN_LINE
        expense = read.get(membership.pk, pk, membership.organization_id)
    else:
        expense = (_ONE_WITH_BUDGET if budget else _ONE).get(pk, membership.organization_id)
    if expense is None or not _may_see(membership, expense):
        raise ExpenseNotFound("No such expense.")
    if manager:
        expense.reporting_line_of = {membership.pk: expense.in_viewers_line and expense.employee_id != membership.pk}
    return expense


def _may_see(membership: Membership, expense: Expense) -> bool:
    """``visible_expenses``' rule for one expense of the caller's organisation."""
    if membership.role == Role.ADMIN or expense.employee_id == membership.pk:
        return True
    if expense.state == ExpenseState.DRAFT:
        return False
    if membership.role == Role.FINANCE or (membership.role == Role.MANAGER and expense.in_viewers_line):
        return True
    for delegator in active_delegators(membership):
        if delegator.role in (Role.FINANCE, Role.ADMIN):
            return True
        if delegator.role == Role.MANAGER and in_reports_of(delegator, expense.employee_id):
            return True
    return False


def _as_prefetched(instance, name: str, rows: list) -> None:
    """Leave ``rows`` on ``instance`` as ``prefetch_related(name)`` does, so that
    ``instance.<name>.all()`` answers them without a query (Django 5.2's own mechanism:
    ``prefetch_one_level``; ``expenses/tests/test_command_reads.py`` fails if it changes)."""
    queryset = getattr(instance, name).all()
    queryset._result_cache = rows
    queryset._prefetch_done = True
    instance._prefetched_objects_cache = {**getattr(instance, "_prefetched_objects_cache", {}), name: queryset}


@dataclass(frozen=True)
class SummaryRow:
    """One row of the monthly summary (the read model's columns the readers use)."""

    month: str
    cost_center_id: int
    cost_center_code: str
    category_id: int
    category_name: str
    submitted_count: int
    approved_count: int
    rejected_count: int
    approved_total: Decimal


_SUMMARY = f"""
SELECT {", ".join(field.name for field in fields(SummaryRow))}
FROM expenses_monthlyspend WHERE organization_id = %s AND month = %s
ORDER BY cost_center_code, category_name
"""


def expense_summary_by_month(organization_id: int, month: str) -> list[SummaryRow]:
    """Monthly spend per cost centre and category, from the read model only.

    The read model exists to answer this fast, so it is read with one plain statement into plain
    rows: building ORM instances cost four times the query itself (issue 9, scenario 6)."""
    with connection.cursor() as cursor:
        cursor.execute(_SUMMARY, [organization_id, month])
        return [SummaryRow(*row) for row in cursor.fetchall()]


def budget_usage(membership: Membership, month: str) -> list[dict]:
    """Per cost centre: budget, approved spend (read model) and what is left, for the dashboard."""
    spent = {row["cost_center_id"]: row["total"] for row in
             MonthlySpend.objects.filter(organization_id=membership.organization_id, month=month)
             .values("cost_center_id").annotate(total=Sum("approved_total"))}
    rows = []
    for cc in cost_centers_for(membership):
        used = spent.get(cc.pk, Decimal("0.00"))
        rows.append({"cost_center": cc, "budget": cc.monthly_budget, "used": used, "left": cc.monthly_budget - used,
                     "percent": int(used * 100 / cc.monthly_budget) if cc.monthly_budget else 0})
    return rows


def months_ending(last_month: str, count: int) -> list[str]:
    """``count`` months as ``YYYY-MM``, oldest first, the last being ``last_month``."""
    year, month = (int(part) for part in last_month.split("-"))
    index = year * 12 + month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


def spend_trend(organization_id: int, last_month: str, months: int = 12) -> tuple[list[str], list[dict]]:
    """Approved spend per month and cost centre over the ``months`` months ending with
    ``last_month``, from the read model only (one grouped query on its organisation x month
    index): the months, and rows of ``month``, ``cost_center_code`` and ``total``."""
    span = months_ending(last_month, months)
    rows = list(MonthlySpend.objects.filter(organization_id=organization_id, month__gte=span[0], month__lte=span[-1])
                .values("month", "cost_center_code").annotate(total=Sum("approved_total"))
                .order_by("month", "cost_center_code"))
    return span, rows

