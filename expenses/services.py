"""Expense commands. Each validates synchronously, refuses with a domain error (stable code,
human message) before writing anything, and publishes its event in the same transaction as its
state change. Approval is split Zulip-style: ``check_*`` functions decide (state, approver,
budget), ``do_approve`` writes and publishes — so another kind of approver (a delegate, an
automatic policy) can reuse the same checks, writes and events.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.utils import timezone

from core import prepared
from core.currencies import exponent
from core.rows import JoinedRead
from events.publishing import publish
from money.conversion import convert
from money.services import clean_currency
from organizations.models import Category, CostCenter, Membership, Role
from organizations.queries import is_in_reporting_line, reporting_chain

from . import errors
from .delegation import active_delegators, delegate_user_ids
from .events import (
    ExpenseApprovalRecorded,
    ExpenseApproved,
    ExpenseDeleted,
    ExpenseRejected,
    ExpenseSubmitted,
    ExpenseWithdrawn,
)
from .models import Approval, ApprovalStep, Expense, ExpenseState, PolicyOutcome
from .policy import (
    POLICY_ACTOR,
    auto_approval_candidate,
    duplicate_findings,
    enforce_category_rule,
    sampled,
    settings_for,
)
from .queries import approvals_and_spend, approved_spend_total, month_bounds
from .receipts import inspect_receipt, remove_receipt_file_after_commit
from .validation import clean_amount, clean_incurred_on, clean_text

EDITABLE_FIELDS = ("cost_center_id", "category_id", "amount", "currency", "merchant", "incurred_on", "description")
# The amount as spent is bounded only against overflow; the organisation's maximum applies to
# the converted amount.
MAX_AMOUNT_AS_SPENT = Decimal("999999999999")


CONVERTED_FIELDS = ("amount", "currency", "org_amount", "org_currency", "exchange_rate", "rate_date", "rate_source")


# --- input validation ---------------------------------------------------------------------------

def _org_object(model, pk: Any, actor: Membership, field: str):
    try:
        return model.objects.get(pk=int(pk), organization_id=actor.organization_id, is_active=True)
    except (model.DoesNotExist, TypeError, ValueError):
        raise errors.InvalidField(f"Choose a {field.replace('_', ' ')} of your organisation.",
                                  details={"field": field}) from None


def _apply_fields(expense: Expense, actor: Membership, data: dict[str, Any]) -> None:
    org = actor.organization
    if "cost_center_id" in data:
        expense.cost_center = _org_object(CostCenter, data["cost_center_id"], actor, "cost_center")
    if "category_id" in data:
        expense.category = _org_object(Category, data["category_id"], actor, "category")
    if data.get("currency") not in (None, ""):
        expense.currency = clean_currency(data["currency"], on=org.today())
    expense.currency = expense.currency or org.currency
    if "amount" in data or "currency" in data:
        expense.amount = clean_amount(data.get("amount", expense.amount), maximum=MAX_AMOUNT_AS_SPENT,
                                      currency=expense.currency)
    if "merchant" in data:
        expense.merchant = clean_text(data["merchant"], "merchant", max_length=200, required=True)
    if "incurred_on" in data:
        expense.incurred_on = clean_incurred_on(data["incurred_on"], organization=org)
    if "description" in data:
        expense.description = clean_text(data["description"], "description", max_length=5000, required=False,
                                         multiline=True)
    if {"amount", "currency", "incurred_on"} & set(data):
        _convert(expense)


def _convert(expense: Expense) -> None:
    """Convert the amount as spent into the organisation's currency at the rate of the date
    incurred, and check the organisation's maximum on the result. Refuses
    ``exchange_rate_missing`` (no rate within 7 days), ``amount_too_large``, and an amount
    that converts to less than the organisation currency's minor unit (``invalid_amount``)."""
    org = expense.organization
    conversion = convert(amount=expense.amount, currency=expense.currency, org_currency=org.currency,
                         on=expense.incurred_on, organization_id=org.pk)
    if conversion.org_amount > org.max_expense_amount:
        raise errors.AmountTooLarge(
            f"The amount ({conversion.describe()}) is above the maximum of {org.max_expense_amount} {org.currency} "
            "per expense.", details={"maximum": str(org.max_expense_amount), "org_amount": str(conversion.org_amount)})
    if conversion.org_amount <= 0:
        raise errors.InvalidAmount(f"The amount is less than the smallest unit of {org.currency} once converted.")
    expense.org_amount, expense.org_currency = conversion.org_amount, conversion.org_currency
    expense.exchange_rate, expense.rate_date = conversion.exchange_rate, conversion.rate_date
    expense.rate_source = conversion.rate_source


def _attach_receipt(expense: Expense, receipt) -> None:
    info = inspect_receipt(receipt)
    replaced = expense.receipt.name
    expense.receipt_content_type = info.content_type
    expense.receipt_sha256 = info.sha256
    expense.receipt.save("receipt", receipt, save=False)
    remove_receipt_file_after_commit(replaced)


# --- loading ------------------------------------------------------------------------------------

_LOCKED = {with_cost_center: JoinedRead(Expense, ("employee__user", "cost_center", "category"),
                                         where=("pk", "organization"),
                                         lock_of=("self", "cost_center") if with_cost_center else ("self",))
           for with_cost_center in (False, True)}


def _lock(actor: Membership, expense_id: UUID | str, *, with_cost_center: bool = False) -> Expense:
    """The expense, locked for this transaction, only if it belongs to the actor's organisation,
    with its employee and their user, its cost centre and its category.

    ``with_cost_center`` locks its cost centre in the same statement (an approval's budget check:
    one round trip instead of two). PostgreSQL locks each joined row in the order FOR UPDATE OF
    names their tables: the expense first, the cost centre second, the order every approval
    keeps; and it returns the cost centre as it is once locked, so its budget is read under the
    lock (and the month's spend, summed by a later statement, sees every commit before it).
    The statement is built once (``core.rows.JoinedRead``: the ORM's compiling and building of
    this select_related read cost more than running it)."""
    try:
        pk = Expense._meta.pk.to_python(expense_id)
    except DjangoValidationError:  # a malformed UUID: checked before the database sees it
        raise errors.ExpenseNotFound("No such expense.") from None
    expense = _LOCKED[with_cost_center].get(pk, actor.organization_id)
    if expense is None:
        raise errors.ExpenseNotFound("No such expense.")
    # The same organisation as the actor's (the filter says so), whose row the request read with
    # the membership: one join fewer in the lock's statement (its widest row, and planning time).
    expense.organization = actor.organization
    return expense


def _check_version(expense: Expense, expected_version: int | None) -> None:
    if expected_version is None:
        return
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise errors.InvalidField("The version must be a whole number.", details={"field": "version"})
    if expected_version != expense.version:
        raise errors.ConcurrentChange("The expense changed since you loaded it; reload and try again.",
                                      details={"version": expense.version})


def _own(actor: Membership, expense: Expense) -> None:
    if expense.employee_id != actor.pk:
        raise errors.NotOwner("Only the employee who created the expense can do this.")


def _bump(expense: Expense, *fields: str) -> None:
    expense.version += 1
    expense.save(update_fields=[*fields, "version", "updated_at"])


_APPROVAL_COLUMNS = ("expense", "step", "approver", "actor_label", "on_behalf_of", "decided_at")


@functools.cache
def _decision_sql(fields: tuple[str, ...]) -> str:
    """One statement: insert the approval, update the expense's ``fields`` with its version and
    ``updated_at``, return the approval's id. Names from the models' metadata."""
    q = connection.ops.quote_name
    a, e = Approval._meta, Expense._meta
    columns = ", ".join(q(a.get_field(name).column) for name in _APPROVAL_COLUMNS)
    sets = ", ".join(f"{q(e.get_field(name).column)} = %s" for name in (*fields, "version", "updated_at"))
    return (f"WITH a AS (INSERT INTO {q(a.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(_APPROVAL_COLUMNS))})"
            f" RETURNING {q(a.pk.column)}), e AS (UPDATE {q(e.db_table)} SET {sets} WHERE {q(e.pk.column)} = %s)"
            f" SELECT {q(a.pk.column)} FROM a")


def _save_decision(expense: Expense, approval: Approval, *fields: str) -> None:
    """``approval.save()`` and ``_bump(expense, *fields)`` in one round trip: every approval is
    both, inside the transaction that locked the expense (``bench/profile_approve.py``: the two
    ORM writes cost twice the statement's time). No signal listens to either model."""
    expense.version += 1
    expense.updated_at = timezone.now()
    a, e = Approval._meta, Expense._meta
    params = [a.get_field(name).get_db_prep_save(getattr(approval, a.get_field(name).attname), connection)
              for name in _APPROVAL_COLUMNS]
    params += [e.get_field(name).get_db_prep_save(getattr(expense, name), connection)
               for name in (*fields, "version", "updated_at")]
    params.append(expense.pk)
    with prepared.cursor() as cursor:
        cursor.execute(_decision_sql(fields), params)
        (approval.pk,) = cursor.fetchone()
    approval._state.adding = False
    approval._state.db = connection.alias


# --- create / update / submit / withdraw --------------------------------------------------------

@transaction.atomic
def expense_create(*, actor: Membership, data: dict[str, Any], receipt=None) -> Expense:
    """Create a draft for ``actor``. Refuses invalid amounts, dates, and foreign cost centres or
    categories. Publishes nothing: a draft is the employee's private business."""
    missing = [f for f in ("cost_center_id", "category_id", "amount", "merchant", "incurred_on") if f not in data]
    if missing:
        raise errors.InvalidField(f"Missing: {', '.join(missing)}.", details={"missing": missing})
    expense = Expense(organization=actor.organization, employee=actor)
    _apply_fields(expense, actor, data)
    if receipt is not None:
        _attach_receipt(expense, receipt)
    expense.save()
    return expense


@transaction.atomic
def expense_update(*, actor: Membership, expense_id: UUID | str, data: dict[str, Any], receipt=None,
                   expected_version: int | None = None) -> Expense:
    """Change a draft. Only its employee, only in ``draft``."""
    expense = _lock(actor, expense_id)
    _own(actor, expense)
    if expense.state != ExpenseState.DRAFT:
        raise errors.InvalidState("Only a draft can be edited; withdraw it first.")
    _check_version(expense, expected_version)
    _apply_fields(expense, actor, {k: v for k, v in data.items() if k in EDITABLE_FIELDS})
    if receipt is not None:
        _attach_receipt(expense, receipt)
    expense.version += 1
    expense.save()
    return expense


def approver_user_ids(employee: Membership) -> list[int]:
    """Who can approve the employee's expenses: managers up the reporting line, else the admins;
    and whoever stands in for one of them today (a delegate), except the employee."""
    chain = [m.user_id for m in reporting_chain(employee) if m.role in (Role.MANAGER, Role.ADMIN) and m.is_active]
    if not chain:
        admins = Membership.objects.filter(organization_id=employee.organization_id, role=Role.ADMIN, is_active=True)
        chain = list(admins.exclude(pk=employee.pk).values_list("user_id", flat=True))
    delegates = [uid for uid in delegate_user_ids(chain, employee.organization)
                 if uid not in chain and uid != employee.user_id]
    return chain + sorted(set(delegates))


@transaction.atomic
def expense_submit(*, actor: Membership, expense_id: UUID | str, expected_version: int | None = None,
                   confirm_not_duplicate: bool = False, rng: random.Random | None = None) -> Expense:
    """Send a draft for approval, under the organisation's current policy.

    Refuses: not the owner, not a draft, no receipt above the organisation's threshold, a date
    that has meanwhile left the claim window, a broken blocking category rule (its code), and a
    possible duplicate the employee has not confirmed (``possible_duplicate``, naming the twins).
    A flagging rule or a confirmed duplicate is stored on the expense for the approver. A
    compliant expense under the automatic-approval amount is then approved by the policy through
    the same approval checks, writes and events as a manager's approval (actor "policy"), unless
    it is picked for the random check (``rng`` draws; tests seed it)."""
    expense = _lock(actor, expense_id)
    _own(actor, expense)
    if expense.state != ExpenseState.DRAFT:
        raise errors.InvalidState(f"Only a draft can be submitted (this one is {expense.state}).")
    _check_version(expense, expected_version)
    org = expense.organization
    clean_incurred_on(expense.incurred_on, organization=org)
    # The rate is fixed here: the draft is converted again at today's view of the rates of its
    # date (a rate loaded or set since it was saved), and from now on it keeps that rate.
    _convert(expense)
    if expense.org_amount > org.receipt_required_threshold and not expense.receipt:
        raise errors.ReceiptRequired(f"A receipt is required above {org.receipt_required_threshold} {org.currency}.",
                                     details={"threshold": str(org.receipt_required_threshold)})
    findings = enforce_category_rule(expense)
    findings += duplicate_findings(expense, confirmed=confirm_not_duplicate)
    policy = settings_for(org.pk)
    now = timezone.now()
    expense.flags = [finding.as_flag() for finding in findings]
    expense.duplicate_confirmed_at = now if any(f.code == "possible_duplicate" for f in findings) else None
    expense.policy_version = policy.version
    expense.policy_outcome, budget_left = _auto_approval(expense, policy, findings, rng)
    expense.state = ExpenseState.SUBMITTED
    expense.submitted_at = now
    _bump(expense, "state", "submitted_at", "flags", "duplicate_confirmed_at", "policy_version", "policy_outcome",
          *CONVERTED_FIELDS)
    publish(ExpenseSubmitted(**_facts(expense), approver_user_ids=approver_user_ids(expense.employee),
                             needs_finance_approval=_needs_finance(expense), policy_version=policy.version,
                             flags=[f.code for f in findings], duplicate_confirmed=bool(expense.duplicate_confirmed_at),
                             policy_outcome=expense.policy_outcome),
            organization_id=org.pk, actor_id=actor.user_id)
    if expense.policy_outcome == PolicyOutcome.AUTO_APPROVED:
        step, remaining_steps, _ = check_approvable(expense)
        do_approve(expense=expense, approver=None, actor_label=POLICY_ACTOR,
                   decision=ApprovalDecision(step=step, remaining_steps=remaining_steps, remaining_budget=budget_left))
    return expense


def _auto_approval(expense: Expense, policy, findings, rng) -> tuple[str, Decimal | None]:
    """The policy's outcome for this submission, and the budget left when it approves."""
    if policy.auto_approve_under is None:
        return "", None
    if not auto_approval_candidate(expense, policy, findings):
        return PolicyOutcome.NOT_ELIGIBLE, None
    if sampled(policy, rng):
        return PolicyOutcome.SAMPLED, None
    try:
        return PolicyOutcome.AUTO_APPROVED, check_budget(expense)
    except errors.InsufficientBudget:
        return PolicyOutcome.NOT_ELIGIBLE, None


@transaction.atomic
def expense_withdraw(*, actor: Membership, expense_id: UUID | str, expected_version: int | None = None) -> Expense:
    """Take a submitted expense back to draft (its recorded approvals are dropped)."""
    expense = _lock(actor, expense_id)
    _own(actor, expense)
    if expense.state != ExpenseState.SUBMITTED:
        raise errors.InvalidState(f"Only a submitted expense can be withdrawn (this one is {expense.state}).")
    _check_version(expense, expected_version)
    expense.approvals.all().delete()
    expense.state = ExpenseState.DRAFT
    expense.submitted_at = None
    _bump(expense, "state", "submitted_at")
    publish(ExpenseWithdrawn(**_facts(expense)), organization_id=expense.organization_id, actor_id=actor.user_id)
    return expense


@transaction.atomic
def expense_delete(*, actor: Membership, expense_id: UUID | str, expected_version: int | None = None) -> None:
    """Delete a draft of the actor's own and publish ``expense.deleted``. Refuses another's
    expense (not_owner), anything but a draft (invalid_state: a submitted expense is withdrawn
    first, a decided one stays for the books). The receipt file is removed after commit."""
    expense = _lock(actor, expense_id)
    _own(actor, expense)
    if expense.state != ExpenseState.DRAFT:
        raise errors.InvalidState(f"Only a draft can be deleted (this one is {expense.state}).")
    _check_version(expense, expected_version)
    publish(ExpenseDeleted(**_facts(expense)), organization_id=expense.organization_id, actor_id=actor.user_id)
    receipt = expense.receipt.name
    expense.delete()
    remove_receipt_file_after_commit(receipt)  # the file is not the database's: only once committed


# --- approve / reject ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ApprovalDecision:
    step: str
    remaining_steps: list[str]
    remaining_budget: Decimal | None
    on_behalf_of: Membership | None = None
    given: tuple[Approval, ...] = ()  # the approvals given before this one, in decision order

    @property
    def is_final(self) -> bool:
        return not self.remaining_steps


def _needs_finance(expense: Expense) -> bool:
    return expense.org_amount > expense.organization.second_approval_threshold


def required_steps(expense: Expense) -> list[str]:
    return [ApprovalStep.MANAGER, ApprovalStep.FINANCE] if _needs_finance(expense) else [ApprovalStep.MANAGER]


def remaining_budget(cost_center: CostCenter, month: str, *, lock: bool = False) -> Decimal:
    """The cost centre's budget left for ``month`` (YYYY-MM), from the write model.

    With ``lock`` the cost-centre row is locked first (and its budget re-read under the lock), so
    two approvals on one cost centre are serialised and cannot both spend the last of its budget.
    Every approval locks the expense first and the cost centre second, always in that order."""
    budget = cost_center.monthly_budget
    if lock:
        budget = CostCenter.objects.select_for_update().values_list("monthly_budget", flat=True).get(pk=cost_center.pk)
    return budget - approved_spend_total(cost_center.pk, *month_bounds(month))


def _may_decide(actor: Membership, expense: Expense, step: str) -> bool:
    if step == ApprovalStep.FINANCE:
        return actor.role in (Role.FINANCE, Role.ADMIN)
    if actor.role == Role.ADMIN:
        return True
    if actor.role != Role.MANAGER:
        return False
    known = getattr(expense, "reporting_line_of", {}).get(actor.pk)  # read with the expense (queries._visible_one)
    return known if known is not None else is_in_reporting_line(actor, expense.employee)


def _decided_conflict(expense: Expense) -> errors.DomainError:
    return errors.ConcurrentChange(f"This expense was already {expense.state}.", details={"state": expense.state})


def check_approvable(expense: Expense,
                     given: list[Approval] | None = None) -> tuple[str, list[str], dict[str, Approval]]:
    """The expense waits for an approval: returns (next step, steps after it, approvals given).
    ``given``: its approvals, already read (else ``expense.approvals``, prefetched or not).

    An already decided expense is a ``conflict`` (someone else won the race); a draft is
    ``invalid_state``. Holds for every kind of approver, a person or a policy."""
    if expense.state in (ExpenseState.APPROVED, ExpenseState.REJECTED):
        raise _decided_conflict(expense)
    if expense.state != ExpenseState.SUBMITTED:
        raise errors.InvalidState(f"Only a submitted expense can be decided (this one is {expense.state}).")
    done = {a.step: a for a in (expense.approvals.all() if given is None else given)}
    pending = [s for s in required_steps(expense) if s not in done]
    return pending[0], pending[1:], done


def check_approver(actor: Membership, expense: Expense, step: str, done: dict[str, Approval]) -> Membership | None:
    """``actor`` may give ``step``: not their own expense, the right role and reporting line, and
    not both approvals of a two-step expense. A manager who already gave the first step and
    clicks again lost a race with themselves: ``conflict``.

    An actor who may not decide themselves may still stand in for someone who may: a delegation
    running today. Returns that delegator (the approval is given on their behalf), else None."""
    if expense.employee_id == actor.pk:
        raise errors.OwnExpense("You cannot decide on your own expense.")
    on_behalf_of = None
    if not _may_decide(actor, expense, step):  # asked once: a manager's is a reporting-line query
        on_behalf_of = next((d for d in active_delegators(actor) if d.pk != expense.employee_id
                             and _may_decide(d, expense, step)), None)
        if on_behalf_of is None:
            if done and _may_decide(actor, expense, ApprovalStep.MANAGER):
                raise errors.ConcurrentChange("The manager approval was already given; finance approves next.")
            raise errors.NotAnApprover("You are not an approver of this expense.")
    manager_approval = done.get(ApprovalStep.MANAGER)
    if step == ApprovalStep.FINANCE and manager_approval:
        first = {manager_approval.approver_id, manager_approval.on_behalf_of_id} - {None}
        if {actor.pk, getattr(on_behalf_of, "pk", None)} & first:
            raise errors.NotAnApprover("The second approval must come from someone else.")
    return on_behalf_of


def check_budget(expense: Expense, *, cost_center_locked: bool = False, spent: Decimal | None = None) -> Decimal:
    """The cost centre can carry the expense this month (write model, under a lock); returns
    what is left before it. Refuses ``insufficient_budget`` (409) with the remaining amount.
    ``cost_center_locked``: the expense was loaded by ``_lock(..., with_cost_center=True)``, so
    its cost centre row is already locked and current; ``spent``: the month's approved spend,
    already summed under that lock (``check_approval``), else it is summed here."""
    if spent is not None and not cost_center_locked:
        raise ValueError("spent is only current under the cost centre's lock")
    left = (expense.cost_center.monthly_budget - spent if spent is not None
            else remaining_budget(expense.cost_center, expense.month, lock=not cost_center_locked))
    if expense.org_amount > left:
        currency = expense.organization.currency
        raise errors.InsufficientBudget(
            f"Insufficient budget: {expense.cost_center.code} has {left} {currency} left for {expense.month}.",
            details={"remaining": str(left), "currency": currency, "cost_center": expense.cost_center.code,
                     "month": expense.month})
    return left


def check_approval(actor: Membership, expense: Expense) -> ApprovalDecision:
    """Everything that must hold before ``actor`` approves the expense, loaded by
    ``_lock(..., with_cost_center=True)``: its approvals and the month's spend are read under
    that lock, in one plain statement (``queries.approvals_and_spend``)."""
    given, spent = approvals_and_spend(expense.pk, expense.cost_center_id, *month_bounds(expense.month))
    step, remaining_steps, done = check_approvable(expense, given)
    on_behalf_of = check_approver(actor, expense, step, done)
    left = check_budget(expense, cost_center_locked=True, spent=spent)
    return ApprovalDecision(step=step, remaining_steps=remaining_steps, remaining_budget=left,
                            on_behalf_of=on_behalf_of, given=tuple(done.values()))


def do_approve(*, expense: Expense, decision: ApprovalDecision, approver: Membership | None,
               actor_label: str = "") -> Expense:
    """Write the approval decided by a ``check_*`` and publish its event, in the caller's
    transaction with the expense locked. ``approver`` is None only for a non-person actor, which
    must then be named by ``actor_label`` (e.g. an automatic policy approval)."""
    if approver is None and not actor_label:
        raise ValueError("An approval without an approving member needs an actor_label.")
    now = timezone.now()
    delegator = decision.on_behalf_of
    given = list(decision.given)
    approval = Approval(expense=expense, step=decision.step, approver=approver, actor_label=actor_label,
                        on_behalf_of=delegator, decided_at=now)
    who = dict(approver_user_id=approver.user_id if approver else None,
               approver_name=approver.display_name if approver else actor_label,
               on_behalf_of_user_id=delegator.user_id if delegator else None,
               on_behalf_of_name=delegator.display_name if delegator else "")
    actor = dict(organization_id=expense.organization_id, actor_id=who["approver_user_id"], actor_label=actor_label)
    if not decision.is_final:
        _save_decision(expense, approval)
        event = publish(ExpenseApprovalRecorded(**_facts(expense), **who, step=decision.step,
                                                remaining_steps=decision.remaining_steps), **actor)
        return _answered(expense, [*given, approval], event)
    expense.state = ExpenseState.APPROVED
    expense.decided_at = now
    _save_decision(expense, approval, "state", "decided_at")
    event = publish(ExpenseApproved(**_facts(expense), **who, approved_at=now), **actor)
    return _answered(expense, [*given, approval], event)


def _answered(expense: Expense, approvals: list[Approval], event) -> Expense:
    """Keep on the expense what the command's answer shows and the command already holds, so
    the answer reads nothing back (``expenses.representation``): every approval, in decision
    order, and the effects of the event just published (each subscriber's delivery, pending).
    An earlier approval's approver is read only if there is one (the finance step's answer)."""
    expense.approvals_given = approvals
    expense.latest_effects = event.delivery_statuses
    return expense


@transaction.atomic
def expense_approve(*, actor: Membership, expense_id: UUID | str, expected_version: int | None = None) -> Expense:
    """Give the next required approval. The last one publishes ``expense.approved``; an earlier
    one (finance still needed above the threshold) publishes ``expense.approval_recorded``.

    Refuses: another organisation (not_found), own expense, not an approver, a draft
    (invalid_state), already decided or changed meanwhile (conflict), insufficient budget. The
    expense row is locked, so of concurrent approvers exactly one succeeds; the others find it
    decided and get ``conflict``."""
    expense = _lock(actor, expense_id, with_cost_center=True)
    _check_version(expense, expected_version)
    decision = check_approval(actor, expense)
    return do_approve(expense=expense, decision=decision, approver=actor)


@transaction.atomic
def expense_reject(*, actor: Membership, expense_id: UUID | str, reason: str,
                   expected_version: int | None = None) -> Expense:
    """Reject a submitted expense with a reason the employee sees. Same approver rules as approve."""
    reason = (reason or "").strip()
    if not reason:
        raise errors.ReasonRequired("Say why the expense is rejected.")
    reason = clean_text(reason, "reason", max_length=2000, required=True, multiline=True)
    expense = _lock(actor, expense_id)
    _check_version(expense, expected_version)
    step, _, done = check_approvable(expense)
    on_behalf_of = check_approver(actor, expense, step, done)
    now = timezone.now()
    expense.state = ExpenseState.REJECTED
    expense.decided_at = now
    expense.rejection_reason = reason
    _bump(expense, "state", "decided_at", "rejection_reason")
    event = publish(ExpenseRejected(**_facts(expense), rejected_by_user_id=actor.user_id,
                                    rejected_by_name=actor.display_name, reason=reason,
                                    on_behalf_of_user_id=on_behalf_of.user_id if on_behalf_of else None,
                                    on_behalf_of_name=on_behalf_of.display_name if on_behalf_of else ""),
                    organization_id=expense.organization_id, actor_id=actor.user_id)
    return _answered(expense, list(done.values()), event)


# --- event payloads -----------------------------------------------------------------------------

def _facts(expense: Expense) -> dict[str, Any]:
    """The facts every expense event carries, so subscribers never read the expense table."""
    employee = expense.employee
    return dict(
        expense_id=expense.pk, organization_id=expense.organization_id, employee_user_id=employee.user_id,
        employee_membership_id=employee.pk, employee_name=employee.display_name,
        employee_email=employee.user.email or "", cost_center_id=expense.cost_center_id,
        cost_center_code=expense.cost_center.code, category_id=expense.category_id,
        category_code=expense.category.code, category_name=expense.category.name,
        amount=expense.amount.quantize(exponent(expense.currency)), currency=expense.currency,
        org_amount=expense.org_amount, org_currency=expense.org_currency, exchange_rate=expense.exchange_rate,
        rate_date=expense.rate_date, rate_source=expense.rate_source,
        merchant=expense.merchant, incurred_on=expense.incurred_on, month=expense.month,
    )

