"""The expense policy: per-category rules, the duplicate warning, automatic approval with its
random sample, and policy changes (versioned events that never touch expenses in flight).

Every refusal is checked to write nothing and publish nothing."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from core.errors import DomainError
from events.models import Event
from expenses import errors, policy, services
from expenses.events import PolicyChanged
from expenses.models import Approval, CategoryRule, Expense, ExpenseState, PolicyOutcome, PolicyVersion
from expenses.tests.factories import make_team, receipt_file
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def event_types(expense=None) -> list[str]:
    qs = Event.objects.order_by("occurred_at", "id")
    if expense is not None:
        qs = qs.filter(aggregate_id=str(expense.pk))
    return list(qs.values_list("type", flat=True))


def refused_without_a_trace(code: str, command, expense: Expense, **kwargs) -> DomainError:
    """``command`` is refused with ``code``; the expense is unchanged and no event was published."""
    before_events, before_version = Event.objects.count(), Expense.objects.get(pk=expense.pk).version
    with pytest.raises(DomainError) as refused:
        command(**kwargs)
    assert refused.value.code == code, refused.value.message
    after = Expense.objects.get(pk=expense.pk)
    assert (after.state, after.version, after.flags) == (ExpenseState.DRAFT, before_version, [])
    assert Event.objects.count() == before_events
    return refused.value


def set_rule(team, **data):
    return policy.category_rule_set(actor=team.admin, category_id=team.category.pk, data=data)


# --- per-category rules ---------------------------------------------------------------------------

@pytest.mark.clock
@pytest.mark.parametrize(("rule", "expense", "code"), [
    ({"max_amount": "50.00"}, {"amount": "50.01"}, "category_amount_exceeded"),
    ({"receipt_required_above": "10.00"}, {"amount": "20.00", "receipt": False}, "category_receipt_required"),
    ({"max_age_days": "30"}, {"days_ago": 31}, "category_too_old"),
])
def test_a_blocking_category_rule_refuses_the_submission_with_its_code(rule, expense, code):
    team = make_team()
    set_rule(team, on_violation="block", **rule)
    draft = team.expense(**expense)

    refusal = refused_without_a_trace(code, services.expense_submit, draft, actor=team.employee, expense_id=draft.pk)

    assert refusal.http_status == 400 and refusal.details["rules"] == [code]


@pytest.mark.clock
@pytest.mark.parametrize(("rule", "expense"), [
    ({"max_amount": "50.00"}, {"amount": "50.00"}),
    ({"receipt_required_above": "10.00"}, {"amount": "10.00", "receipt": False}),
    ({"receipt_required_above": "10.00"}, {"amount": "20.00"}),
    ({"max_age_days": "30"}, {"days_ago": 30}),
])
def test_an_expense_within_the_rule_passes_without_a_flag(rule, expense):
    team = make_team()
    set_rule(team, on_violation="block", **rule)
    submitted = team.expense(submit=True, **expense)
    assert submitted.state == ExpenseState.SUBMITTED and submitted.flags == []


def test_a_flagging_rule_lets_the_expense_through_flagged_for_the_approver():
    team = make_team()
    set_rule(team, on_violation="flag", max_amount="50.00", max_age_days="10")
    expense = team.expense(amount="80.00", days_ago=12, submit=True)

    assert expense.state == ExpenseState.SUBMITTED
    assert [f["code"] for f in expense.flags] == ["category_amount_exceeded", "category_too_old"]
    submitted = Event.objects.get(type="expense.submitted", aggregate_id=str(expense.pk))
    assert submitted.payload["flags"] == ["category_amount_exceeded", "category_too_old"]
    # and the approver can still approve it
    assert services.expense_approve(actor=team.manager, expense_id=expense.pk).state == ExpenseState.APPROVED


def test_a_rule_of_another_category_does_not_apply():
    team = make_team()
    other = type(team.category).objects.create(organization=team.org, code="other", name="Other")
    policy.category_rule_set(actor=team.admin, category_id=other.pk, data={"max_amount": "1.00"})
    assert team.expense(amount="80.00", submit=True).state == ExpenseState.SUBMITTED


@pytest.mark.parametrize(("data", "code"), [
    ({}, "invalid"),
    ({"max_amount": "-1"}, "invalid"),
    ({"max_amount": "abc"}, "invalid"),
    ({"max_age_days": "-3"}, "invalid"),
    ({"max_age_days": "ten"}, "invalid"),
    ({"max_amount": "10", "on_violation": "ignore"}, "invalid"),
])
def test_an_invalid_rule_is_refused_and_changes_nothing(data, code):
    team = make_team()
    with pytest.raises(DomainError) as refused:
        set_rule(team, **data)
    assert refused.value.code == code
    assert not CategoryRule.objects.exists() and not PolicyVersion.objects.exists() and not Event.objects.exists()


def test_only_an_organisation_admin_changes_the_policy_and_only_its_own_categories():
    team = make_team()
    for member in (team.employee, team.manager, team.finance):
        with pytest.raises(DomainError) as refused:
            policy.category_rule_set(actor=member, category_id=team.category.pk, data={"max_amount": "5"})
        assert refused.value.code == "not_an_admin" and refused.value.http_status == 403
        with pytest.raises(DomainError):
            policy.policy_update(actor=member, data={"auto_approve_under": "5"})
    foreign = make_team()
    with pytest.raises(DomainError) as refused:
        policy.category_rule_set(actor=team.admin, category_id=foreign.category.pk, data={"max_amount": "5"})
    assert refused.value.code == "not_found"
    assert not CategoryRule.objects.exists() and not Event.objects.exists()


# --- policy changes -------------------------------------------------------------------------------

def test_each_change_is_a_new_version_published_as_an_event_with_the_whole_policy():
    team = make_team()
    set_rule(team, max_amount="50.00", on_violation="flag")
    policy.policy_update(actor=team.admin, data={"auto_approve_under": "30.00", "auto_approve_sample_percent": 25})
    policy.category_rule_delete(actor=team.admin, category_id=team.category.pk)

    versions = list(PolicyVersion.objects.filter(organization=team.org).order_by("number"))
    assert [v.number for v in versions] == [1, 2, 3]
    assert versions[0].rules["category_rules"][team.category.code]["max_amount"] == "50.00"
    assert versions[1].rules["auto_approve_under"] == "30.00"
    assert versions[2].rules["category_rules"] == {}
    events = list(Event.objects.filter(type="policy.changed").order_by("occurred_at"))
    assert [e.payload["policy_version"] for e in events] == [1, 2, 3]
    assert all(e.actor_id == team.admin.user_id for e in events)
    assert events[2].payload["change"] == f"Rule for {team.category.name} removed"


def test_an_expense_in_flight_keeps_the_policy_it_was_submitted_under():
    team = make_team()
    set_rule(team, max_amount="50.00", on_violation="flag")
    in_flight = team.expense(amount="80.00", submit=True)
    assert in_flight.policy_version == 1 and [f["code"] for f in in_flight.flags] == ["category_amount_exceeded"]

    # when the rule is tightened to block
    set_rule(team, max_amount="50.00", on_violation="block")

    # then the expense submitted before keeps its version and flags and can still be approved...
    in_flight.refresh_from_db()
    assert in_flight.policy_version == 1 and in_flight.state == ExpenseState.SUBMITTED
    assert services.expense_approve(actor=team.manager, expense_id=in_flight.pk).state == ExpenseState.APPROVED
    # ...while a new submission falls under version 2 and is refused
    draft = team.expense(employee=team.colleague, amount="80.00")
    refused_without_a_trace("category_amount_exceeded", services.expense_submit, draft, actor=team.colleague,
                            expense_id=draft.pk)


# --- duplicates -----------------------------------------------------------------------------------

def test_a_possible_duplicate_is_a_warning_the_employee_confirms():
    team = make_team()
    first = team.expense(amount="40.00", submit=True)
    twin = team.expense(amount="40.00")

    # the first attempt is refused with the twin named, and nothing is written
    refusal = refused_without_a_trace("possible_duplicate", services.expense_submit, twin, actor=team.employee,
                                      expense_id=twin.pk)
    assert refusal.http_status == 409
    assert [t["id"] for t in refusal.details["twins"]] == [str(first.pk)]

    # confirming "not a duplicate" submits it, recorded on the expense and in the event (audited)
    submitted = services.expense_submit(actor=team.employee, expense_id=twin.pk, confirm_not_duplicate=True)
    assert submitted.state == ExpenseState.SUBMITTED and submitted.duplicate_confirmed_at is not None
    assert submitted.flags == [{"code": "possible_duplicate", "label": "Possible duplicate", "twin_id": str(first.pk),
                                "message": submitted.flags[0]["message"]}]
    payload = Event.objects.get(type="expense.submitted", aggregate_id=str(twin.pk)).payload
    assert payload["duplicate_confirmed"] is True and payload["flags"] == ["possible_duplicate"]


def test_the_same_receipt_file_is_a_possible_duplicate_even_from_another_employee():
    team = make_team()
    same = b"\x89PNG\r\n\x1a\n shared scan"
    services.expense_create(actor=team.employee, receipt=receipt_file(content=same), data={
        "cost_center_id": team.cost_center.pk, "category_id": team.category.pk, "amount": "12.00",
        "merchant": "Taxi", "incurred_on": team.org.today().isoformat()})
    other = services.expense_create(actor=team.colleague, receipt=receipt_file(content=same), data={
        "cost_center_id": team.cost_center.pk, "category_id": team.category.pk, "amount": "99.00",
        "merchant": "Hotel", "incurred_on": (team.org.today() - dt.timedelta(days=3)).isoformat()})

    refusal = refused_without_a_trace("possible_duplicate", services.expense_submit, other, actor=team.colleague,
                                      expense_id=other.pk)
    assert refusal.details["twins"][0]["same_receipt"] is True


@pytest.mark.parametrize("difference", [
    {"amount": "40.01"}, {"days_ago": 2}, {"employee": "colleague"}, {"category": "other"},
])
def test_a_claim_that_differs_in_employee_category_date_or_amount_is_no_duplicate(difference):
    team = make_team()
    team.expense(amount="40.00", submit=True)
    if difference.get("employee"):
        difference = {"employee": team.colleague}
    if difference.get("category"):
        other = type(team.category).objects.create(organization=team.org, code="other", name="Other")
        difference = {"category_id": other.pk}
    expense = team.expense(**{"amount": "40.00", **difference, "submit": True, "not_duplicate": False})
    assert expense.state == ExpenseState.SUBMITTED and expense.flags == []


def test_a_rejected_expense_is_no_twin():
    team = make_team()
    first = team.expense(amount="40.00", submit=True)
    services.expense_reject(actor=team.manager, expense_id=first.pk, reason="Wrong cost centre")
    again = team.expense(amount="40.00", submit=True, not_duplicate=False)
    assert again.flags == []


# --- automatic approval ---------------------------------------------------------------------------

def auto(team, *, under="50.00", sample=0):
    policy.policy_update(actor=team.admin, data={"auto_approve_under": under, "auto_approve_sample_percent": sample})


def test_a_compliant_expense_under_the_amount_is_approved_by_the_policy_through_the_same_command():
    team = make_team()
    auto(team)
    expense = team.expense(amount="49.99", submit=True)

    assert expense.state == ExpenseState.APPROVED and expense.policy_outcome == PolicyOutcome.AUTO_APPROVED
    approval = Approval.objects.get(expense=expense)
    assert (approval.approver_id, approval.actor_label, approval.step) == (None, "policy", "manager")
    assert event_types(expense) == ["expense.submitted", "expense.approved"]
    approved = Event.objects.get(type="expense.approved", aggregate_id=str(expense.pk))
    assert (approved.actor_id, approved.actor_label, approved.payload["approver_name"]) == (None, "policy", "policy")


@pytest.mark.parametrize(("setup", "amount"), [
    ("at the limit", "50.00"),
    ("flagged", "30.00"),
    ("over budget", "30.00"),
])
def test_an_expense_the_policy_may_not_approve_goes_to_the_manager(setup, amount):
    team = make_team(budget="20.00" if setup == "over budget" else "5000.00")
    auto(team)
    if setup == "flagged":
        set_rule(team, max_age_days="0", on_violation="flag")
    expense = team.expense(amount=amount, submit=True, days_ago=1 if setup == "flagged" else 0)
    assert expense.state == ExpenseState.SUBMITTED and expense.policy_outcome == PolicyOutcome.NOT_ELIGIBLE
    assert not Approval.objects.filter(expense=expense).exists()
    assert event_types(expense) == ["expense.submitted"]


def test_a_confirmed_duplicate_is_never_approved_automatically():
    team = make_team()
    team.expense(amount="10.00", submit=True)
    auto(team)
    twin = team.expense(amount="10.00", submit=True)  # confirmed "not a duplicate", still flagged
    assert twin.state == ExpenseState.SUBMITTED and twin.policy_outcome == PolicyOutcome.NOT_ELIGIBLE


def test_a_seeded_random_sample_of_the_candidates_still_goes_to_the_manager():
    team = make_team(budget="100000.00")
    auto(team, sample=30)
    rng = random.Random(20261128)
    outcomes = []
    for i in range(40):
        draft = team.expense(amount=f"{10 + i}.00")
        outcomes.append(services.expense_submit(actor=team.employee, expense_id=draft.pk, rng=rng).policy_outcome)

    # the same seed draws the same sample: replay it independently
    replay = random.Random(20261128)
    expected = [PolicyOutcome.SAMPLED if replay.random() * 100 < 30 else PolicyOutcome.AUTO_APPROVED
                for _ in range(40)]
    assert outcomes == expected
    sampled = outcomes.count(PolicyOutcome.SAMPLED)
    assert 0 < sampled < 40  # both branches really ran
    assert Expense.objects.filter(policy_outcome=PolicyOutcome.SAMPLED, state=ExpenseState.SUBMITTED).count() == sampled
    assert Expense.objects.filter(state=ExpenseState.APPROVED).count() == 40 - sampled


def test_no_sample_and_a_full_sample_are_exact():
    team = make_team(budget="100000.00")
    auto(team, sample=0)
    assert team.expense(amount="11.00", submit=True).policy_outcome == PolicyOutcome.AUTO_APPROVED
    auto(team, sample=100)
    assert team.expense(amount="12.00", submit=True).policy_outcome == PolicyOutcome.SAMPLED


def test_the_policy_gives_only_the_manager_step_of_an_expense_that_needs_finance():
    team = make_team(threshold="20.00")
    auto(team)
    expense = team.expense(amount="30.00", submit=True)
    assert expense.state == ExpenseState.SUBMITTED
    assert list(Approval.objects.filter(expense=expense).values_list("step", "actor_label")) == [("manager", "policy")]
    assert services.expense_approve(actor=team.finance, expense_id=expense.pk).state == ExpenseState.APPROVED


@pytest.mark.parametrize(("data", "field"), [
    ({"auto_approve_under": "0"}, "auto_approve_under"),
    ({"auto_approve_under": "x"}, "auto_approve_under"),
    ({"auto_approve_sample_percent": 101}, "auto_approve_sample_percent"),
    ({"auto_approve_sample_percent": ""}, "auto_approve_sample_percent"),
])
def test_invalid_automatic_approval_settings_are_refused_and_change_nothing(data, field):
    team = make_team()
    with pytest.raises(errors.InvalidField) as refused:
        policy.policy_update(actor=team.admin, data=data)
    assert refused.value.details["field"] == field
    settings = policy.settings_for(team.org.pk)
    assert (settings.version, settings.auto_approve_under) == (0, None)
    assert not Event.objects.exists()


def test_turning_automatic_approval_off():
    team = make_team()
    auto(team)
    policy.policy_update(actor=team.admin, data={"auto_approve_under": ""})
    expense = team.expense(amount="10.00", submit=True)
    assert expense.state == ExpenseState.SUBMITTED and expense.policy_outcome == ""
    assert policy.settings_for(team.org.pk).auto_approve_under is None


def test_another_members_rule_change_is_scoped_to_their_organisation():
    team, other = make_team(), make_team()
    MembershipFactory(organization=other.org)
    set_rule(team, max_amount="5.00")
    assert other.expense(amount="80.00", submit=True).state == ExpenseState.SUBMITTED
    assert policy.settings_for(other.org.pk).version == 0
    assert policy.settings_for(team.org.pk).version == 1
    assert Decimal(PolicyVersion.objects.get(organization=team.org).rules["category_rules"][team.category.code]
                   ["max_amount"]) == Decimal("5.00")


def test_policy_changed_keeps_the_schema_version_and_carries_the_policy_number_as_its_own_field():
    team = make_team()
    set_rule(team, max_amount="50.00", on_violation="flag")
    set_rule(team, max_amount="60.00", on_violation="flag")

    second = Event.objects.filter(type="policy.changed").order_by("occurred_at").last()
    assert (second.version, second.payload["policy_version"]) == (PolicyChanged.version, 2) == (1, 2)
    assert "version" not in second.payload
    assert PolicyChanged.from_payload(second.payload).version == 1


def test_a_policy_changed_stored_before_the_rename_reads_in_the_new_shape():
    team = make_team()
    set_rule(team, max_amount="50.00", on_violation="flag")
    stored = dict(Event.objects.get(type="policy.changed").payload)
    stored["version"] = stored.pop("policy_version")  # the old shape; the log itself is immutable

    event = PolicyChanged.from_payload(stored)

    assert (event.policy_version, event.version, event.rules) == (1, 1, stored["rules"])
