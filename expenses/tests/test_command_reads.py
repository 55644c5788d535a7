"""The approve command's plain statements answer what the ORM would: the budget check's total
(``approved_spend_total``) agrees with the rule every other reader uses (``approved_spend_in_month``,
also a subquery of the approval queue), and the approvals read under the lock
(``approvals_given``) are ``expense.approvals`` in decision order, field for field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from expenses import queries, services
from expenses.models import Approval, Expense, ExpenseState
from expenses.queries import approvals_given, approved_spend_in_month, approved_spend_total, month_bounds
from expenses.tests.factories import ExpenseFactory, make_team
from organizations.tests.factories import CostCenterFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def _orm_total(cost_center_id: int, month: str) -> Decimal:
    rows = list(approved_spend_in_month(cost_center_id, *month_bounds(month)))
    return rows[0]["total"] if rows else Decimal("0")


def test_the_statement_and_the_rule_agree_on_every_month_and_cost_centre():
    org = OrganizationFactory()
    ours, other = CostCenterFactory(organization=org), CostCenterFactory(organization=org)
    rows = [  # (cost centre, state, day, amount): the month's edges, other states, the other centre
        (ours, ExpenseState.APPROVED, dt.date(2026, 2, 28), "1.00"),
        (ours, ExpenseState.APPROVED, dt.date(2026, 3, 1), "10.00"),
        (ours, ExpenseState.APPROVED, dt.date(2026, 3, 31), "100.25"),
        (ours, ExpenseState.APPROVED, dt.date(2026, 4, 1), "1000.00"),
        (ours, ExpenseState.SUBMITTED, dt.date(2026, 3, 15), "7.00"),
        (ours, ExpenseState.REJECTED, dt.date(2026, 3, 15), "7.00"),
        (other, ExpenseState.APPROVED, dt.date(2026, 3, 15), "50.00"),
        (other, ExpenseState.APPROVED, dt.date(2025, 12, 31), "3.50"),
    ]
    for cost_center, state, day, amount in rows:
        ExpenseFactory(organization=org, cost_center=cost_center, state=state, incurred_on=day,
                       amount=Decimal(amount), org_amount=Decimal(amount))

    for cost_center in (ours, other):
        for month in ("2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05"):
            assert approved_spend_total(cost_center.pk, *month_bounds(month)) == _orm_total(cost_center.pk, month)
    assert approved_spend_total(ours.pk, *month_bounds("2026-03")) == Decimal("110.25")
    assert approved_spend_total(ours.pk, *month_bounds("2026-05")) == Decimal("0")


def _fields(approval: Approval) -> dict:
    return {field.attname: getattr(approval, field.attname) for field in Approval._meta.concrete_fields}


def test_the_approvals_read_under_the_lock_are_the_expenses_approvals_field_for_field():
    team = make_team(threshold="100.00")
    two_step = team.expense(amount="500.00", submit=True)
    assert approvals_given(two_step.pk) == []
    services.expense_approve(actor=team.manager, expense_id=two_step.pk)
    services.expense_approve(actor=team.finance, expense_id=two_step.pk)
    other = team.expense(amount="20.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=other.pk)

    for expense in (two_step, other):
        given = approvals_given(expense.pk)
        expected = list(Approval.objects.filter(expense_id=expense.pk).order_by("decided_at", "pk"))
        assert [_fields(a) for a in given] == [_fields(a) for a in expected]
        assert all(not a._state.adding for a in given)
    assert [a.step for a in approvals_given(two_step.pk)] == ["manager", "finance"]


def test_the_detail_read_leaves_its_approvals_with_their_names_and_reads_nothing_more(django_assert_num_queries):
    from expenses.queries import expense_detail

    team = make_team(threshold="100.00")
    decided = team.expense(amount="500.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=decided.pk)
    services.expense_approve(actor=team.finance, expense_id=decided.pk)
    waiting = team.expense(amount="20.00", submit=True)

    with django_assert_num_queries(3):  # the expense, its approvals, their approvers with their users
        expense = expense_detail(team.admin, decided.pk)
    with django_assert_num_queries(0):  # what prefetch_related("approvals") would leave
        given = list(expense.approvals.all())
        names = [a.approver_name for a in given]
        assert all(a.expense is expense for a in given)
    assert [a.step for a in given] == ["manager", "finance"]
    assert names == [team.manager.display_name, team.finance.display_name]
    assert [_fields(a) for a in given] == [_fields(a) for a in Approval.objects.filter(expense=decided)
                                           .order_by("decided_at", "pk")]

    with django_assert_num_queries(2):  # nothing decided yet: no names to read
        assert list(expense_detail(team.admin, waiting.pk).approvals.all()) == []
    with django_assert_num_queries(2):  # the status fragment's read: ids only
        plain = expense_detail(team.admin, decided.pk, approver_names=False)
    assert [a.approver_id for a in plain.approvals.all()] == [team.manager.pk, team.finance.pk]


def _all_fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def test_the_lock_reads_what_select_related_would_field_for_field_and_nothing_more(django_assert_num_queries):
    """``_lock``'s statement, built once (``core.rows.JoinedRead``), gives the instances the
    ORM's ``select_related`` read gives: every column converted by its field (decimals, dates,
    JSON, files), the related rows cached, in one statement, and only the actor's organisation's
    expense."""
    from django.db import transaction

    team = make_team()
    expense = team.expense(amount="42.50", submit=True)
    stranger = make_team()
    for with_cost_center in (False, True):
        with transaction.atomic(), django_assert_num_queries(1):
            locked = services._lock(team.manager, expense.pk, with_cost_center=with_cost_center)
            employee, user = locked.employee, locked.employee.user
            cost_center, category = locked.cost_center, locked.category
        orm = Expense.objects.select_related("employee__user", "cost_center", "category").get(pk=expense.pk)
        assert _all_fields(locked) == _all_fields(orm)
        assert _all_fields(employee) == _all_fields(orm.employee)
        assert _all_fields(user) == _all_fields(orm.employee.user)
        assert _all_fields(cost_center) == _all_fields(orm.cost_center)
        assert _all_fields(category) == _all_fields(orm.category)
        assert not locked._state.adding and locked._state.db == "default"
        assert locked.organization is team.manager.organization
        for actor, wanted in ((stranger.manager, expense.pk), (team.manager, "not-a-uuid"),
                              (team.manager, "00000000-0000-0000-0000-000000000000")):
            with transaction.atomic(), pytest.raises(services.errors.ExpenseNotFound):
                services._lock(actor, wanted, with_cost_center=with_cost_center)


def test_a_joined_read_outer_joins_what_may_be_absent_as_select_related_does(django_assert_num_queries):
    """A nullable key and a reverse one-to-one are outer joins: a present row is the ORM's,
    field for field, and an absent one is cached as None (the session's user without a
    membership, a policy's approval without an approver)."""
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ObjectDoesNotExist

    from core.rows import JoinedRead
    from expenses.tests.factories import ApprovalFactory

    team = make_team()
    expense = team.expense(amount="20.00", submit=True)
    by_manager = ApprovalFactory(expense=expense, approver=team.manager)
    by_policy = ApprovalFactory(expense=expense, step="finance", approver=None, actor_label="policy")
    read = JoinedRead(Approval, ("approver__user", "expense"), where=("pk",))
    for approval in (by_manager, by_policy):
        with django_assert_num_queries(1):
            got = read.get(approval.pk)
            approver = got.approver
            user = approver.user if approver is not None else None
            assert got.expense.pk == expense.pk
        orm = Approval.objects.select_related("approver__user", "expense").get(pk=approval.pk)
        assert _all_fields(got) == _all_fields(orm)
        assert (approver is None) is (orm.approver is None)
        if approver is not None:
            assert _all_fields(approver) == _all_fields(orm.approver)
            assert _all_fields(user) == _all_fields(orm.approver.user)

    users = JoinedRead(get_user_model(), ("membership__organization",), where=("pk",))
    loner = get_user_model().objects.create_user("no-membership")
    with django_assert_num_queries(1):
        member = users.get(team.manager.user_id)
        assert member.membership.organization.pk == team.org.pk
        assert member.membership.user is member  # both sides of the one-to-one, as the ORM leaves them
    with django_assert_num_queries(1):
        alone = users.get(loner.pk)
        with pytest.raises(ObjectDoesNotExist):
            alone.membership  # select_related's cached absence raises, reading nothing
    assert users.get(10**9) is None
    with pytest.raises(ValueError, match="single-valued"):
        JoinedRead(Expense, ("approvals",), where=("pk",)).get(expense.pk)


def test_the_approvals_and_the_spend_in_one_statement_answer_what_the_two_reads_answer():
    """``approvals_and_spend`` (the approve command's one read under its lock) against
    ``approvals_given`` and ``approved_spend_total``: no approval yet, one, two; a month with
    spend, one without."""
    from expenses.queries import approvals_and_spend

    team = make_team(threshold="100.00")
    today = team.org.today()
    month = f"{today:%Y-%m}"
    fresh = team.expense(amount="30.00", submit=True)
    one = team.expense(amount="500.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=one.pk)
    two = team.expense(amount="500.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=two.pk)
    services.expense_approve(actor=team.finance, expense_id=two.pk)
    months = [month, "1999-01"]
    for expense in (fresh, one, two):
        for wanted in months:
            given, spent = approvals_and_spend(expense.pk, team.cost_center.pk, *month_bounds(wanted))
            assert [_fields(a) for a in given] == [_fields(a) for a in approvals_given(expense.pk)]
            assert all(not a._state.adding for a in given)
            assert spent == approved_spend_total(team.cost_center.pk, *month_bounds(wanted))
    assert len(approvals_and_spend(two.pk, team.cost_center.pk, *month_bounds(month))[0]) == 2
    assert approvals_and_spend(fresh.pk, team.cost_center.pk, *month_bounds(month)) == ([], Decimal("500.00"))


def test_the_comment_thread_is_the_orms_field_for_field_in_one_statement(django_assert_num_queries):
    """``comment_thread`` (the expense page's thread, one statement built once) gives what
    ``expense.comments.select_related("author__user")`` gives, in its order, with each
    author's user loaded, and only that expense's comments."""
    from expenses import comments
    from expenses.queries import comment_thread

    team = make_team()
    expense = team.expense(amount="12.00", submit=True)
    other = team.expense(amount="13.00", submit=True)
    for actor, body in ((team.manager, "Which client?"), (team.employee, "Acme"), (team.manager, "Thanks")):
        comments.comment_add(actor=actor, expense_id=expense.pk, body=body)
    comments.comment_add(actor=team.manager, expense_id=other.pk, body="Another expense's")
    with django_assert_num_queries(1):
        thread = comment_thread(expense)
        authors = [(c.author, c.author.user) for c in thread]
    orm = list(expense.comments.select_related("author__user"))
    assert [c.body for c in thread] == ["Which client?", "Acme", "Thanks"]
    assert [_all_fields(c) for c in thread] == [_all_fields(c) for c in orm]
    assert [(_all_fields(a), _all_fields(u)) for a, u in authors] == \
        [(_all_fields(c.author), _all_fields(c.author.user)) for c in orm]
    assert all(c.expense is expense for c in thread)
    assert comment_thread(team.expense(amount="14.00")) == []


def test_the_expense_pages_read_carries_the_remaining_budget_services_compute():
    """``expense_detail(..., budget=True)``: the cost centre's budget left in the expense's month,
    read with the expense, is ``services.remaining_budget`` for expenses on the month's edges and
    in every state, for a manager (whose read also asks the reporting line), finance and an admin."""
    team = make_team()
    rows = [(dt.date(2026, 2, 28), ExpenseState.APPROVED, "1.00"),
            (dt.date(2026, 3, 1), ExpenseState.APPROVED, "10.00"),
            (dt.date(2026, 3, 31), ExpenseState.SUBMITTED, "100.25"),
            (dt.date(2026, 4, 1), ExpenseState.SUBMITTED, "7.00"),
            (dt.date(2026, 3, 15), ExpenseState.REJECTED, "7.00")]
    expenses = [ExpenseFactory(organization=team.org, employee=team.employee, cost_center=team.cost_center,
                               category=team.category, state=state, incurred_on=day, amount=Decimal(amount),
                               org_amount=Decimal(amount)) for day, state, amount in rows]
    for viewer in (team.manager, team.finance, team.admin):
        for expense in expenses:
            read = queries.expense_detail(viewer, expense.pk, budget=True)
            month = expense.incurred_on.strftime("%Y-%m")
            assert read.remaining_budget == services.remaining_budget(team.cost_center, month)
    march = queries.expense_detail(team.manager, expenses[2].pk, budget=True)
    assert march.remaining_budget == team.cost_center.monthly_budget - Decimal("10.00")
    assert not hasattr(queries.expense_detail(team.manager, expenses[2].pk), "remaining_budget")
