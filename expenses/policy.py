"""The expense policy: per-category rules, duplicate detection and automatic approval, and the
commands that change the policy.

A submission is checked against the policy as it is *now*; what it found (flags, the automatic
approval's outcome, the version) is stored on the expense, so a later change of the policy never
alters an expense already in flight. Every change bumps the organisation's policy version, keeps
a snapshot (``PolicyVersion``) and publishes ``policy.changed`` (which the audit trail records).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Q

from core.errors import PermissionDenied
from events.publishing import publish
from organizations.models import Category, Membership, Organization, Role

from . import errors
from .events import PolicyChanged
from .models import CategoryRule, Expense, ExpenseState, PolicySettings, PolicyVersion, RuleAction
from .validation import clean_amount

POLICY_ACTOR = "policy"
_SYSTEM_RANDOM = random.SystemRandom()


# --- what a submission breaks ---------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    """One broken rule: ``code`` is stable (the refusal code when it blocks, the flag's code when
    it only flags); ``twin_id`` names the look-alike of a possible duplicate."""

    code: str
    message: str
    twin_id: str | None = None

    def as_flag(self) -> dict[str, Any]:
        flag = {"code": self.code, "label": FLAG_LABELS[self.code], "message": self.message}
        if self.twin_id:
            flag["twin_id"] = self.twin_id
        return flag


FLAG_LABELS = {
    "possible_duplicate": "Possible duplicate",
    "category_amount_exceeded": "Over the category limit",
    "category_receipt_required": "Receipt missing",
    "category_too_old": "Too old for the category",
}
_BLOCKING = {
    "category_amount_exceeded": errors.CategoryAmountExceeded,
    "category_receipt_required": errors.CategoryReceiptRequired,
    "category_too_old": errors.CategoryTooOld,
}


def category_findings(expense: Expense, rule: CategoryRule | None) -> list[Finding]:
    """The category rule's limits the expense breaks (none without a rule)."""
    if rule is None:
        return []
    currency, name = expense.organization.currency, expense.category.name
    found = []
    if rule.max_amount is not None and expense.amount > rule.max_amount:
        found.append(Finding("category_amount_exceeded",
                             f"{name} expenses may not exceed {rule.max_amount} {currency}."))
    if rule.receipt_required_above is not None and expense.amount > rule.receipt_required_above \
            and not expense.receipt:
        found.append(Finding("category_receipt_required",
                             f"{name} expenses above {rule.receipt_required_above} {currency} need a receipt."))
    if rule.max_age_days is not None:
        oldest = expense.organization.today() - dt.timedelta(days=rule.max_age_days)
        if expense.incurred_on < oldest:
            found.append(Finding("category_too_old",
                                 f"{name} expenses older than {rule.max_age_days} days break the policy."))
    return found


def enforce_category_rule(expense: Expense) -> list[Finding]:
    """Refuse the submission if a blocking rule is broken (the first one's code); otherwise return
    the findings of a flagging rule, for the approver."""
    rule = CategoryRule.objects.filter(category_id=expense.category_id,
                                       organization_id=expense.organization_id).first()
    found = category_findings(expense, rule)
    if found and rule.on_violation == RuleAction.BLOCK:
        first = found[0]
        raise _BLOCKING[first.code](first.message, details={"rules": [f.code for f in found]})
    return found


def duplicate_twins(expense: Expense) -> list[Expense]:
    """Other non-rejected expenses that look like this one: the same employee, category, date and
    amount, or the same receipt file (its content hash) anywhere in the organisation."""
    same_claim = Q(employee_id=expense.employee_id, category_id=expense.category_id,
                   incurred_on=expense.incurred_on, amount=expense.amount)
    same_receipt = Q(receipt_sha256=expense.receipt_sha256) if expense.receipt_sha256 else Q(pk__in=[])
    return list(Expense.objects.filter(organization_id=expense.organization_id)
                .filter(same_claim | same_receipt).exclude(pk=expense.pk).exclude(state=ExpenseState.REJECTED)
                .select_related("employee__user").order_by("created_at")[:5])


def duplicate_findings(expense: Expense, *, confirmed: bool) -> list[Finding]:
    """A possible duplicate is a warning the employee must answer: without ``confirmed`` the
    submission is refused with ``possible_duplicate`` (naming the twins); with it, the expense is
    flagged for the approver with a link to its twin."""
    twins = duplicate_twins(expense)
    if not twins:
        return []
    described = [{"id": str(t.pk), "merchant": t.merchant, "amount": str(t.amount),
                  "incurred_on": t.incurred_on.isoformat(), "state": t.state,
                  "same_receipt": bool(expense.receipt_sha256) and t.receipt_sha256 == expense.receipt_sha256}
                 for t in twins]
    if not confirmed:
        raise errors.PossibleDuplicate(
            "This looks like an expense already claimed. If it is not a duplicate, confirm and submit again.",
            details={"twins": described})
    twin = twins[0]
    reason = "the same receipt" if described[0]["same_receipt"] else "the same date, category and amount"
    return [Finding("possible_duplicate",
                    f"Possible duplicate of {twin.merchant} ({twin.amount}, {twin.incurred_on}): {reason}. "
                    "The employee confirmed it is not a duplicate.", twin_id=str(twin.pk))]


# --- automatic approval ---------------------------------------------------------------------------

def settings_for(organization_id: int, *, lock: bool = False) -> PolicySettings:
    """The organisation's settings. Reading writes nothing (an organisation that never changed its
    policy gets the unsaved defaults, version 0); ``lock`` (for a change) creates the row and
    locks it."""
    if not lock:
        return (PolicySettings.objects.filter(organization_id=organization_id).first()
                or PolicySettings(organization_id=organization_id))
    PolicySettings.objects.get_or_create(organization_id=organization_id)
    return PolicySettings.objects.select_for_update().get(organization_id=organization_id)


def auto_approval_candidate(expense: Expense, policy: PolicySettings, findings: list[Finding]) -> bool:
    """Compliant (nothing flagged) and under the organisation's automatic-approval amount."""
    return policy.auto_approve_under is not None and expense.amount < policy.auto_approve_under and not findings


def sampled(policy: PolicySettings, rng: random.Random | None) -> bool:
    """Whether this candidate goes to the manager anyway, a random ``sample_percent`` of them.
    ``rng`` is injectable so tests replay a seeded sequence; production draws from the OS."""
    return (rng or _SYSTEM_RANDOM).random() * 100 < policy.auto_approve_sample_percent


# --- changing the policy --------------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyAuthor:
    """Who changes an organisation's policy: an organisation admin in the app or the API
    (``author_of``), or a staff user in the Django admin (``admin_author``). Both go through the
    same commands, so the same rules hold and the same change text is written."""

    organization: Organization
    actor_id: int | None
    changed_by: str


def author_of(actor: Membership | PolicyAuthor) -> PolicyAuthor:
    """The author of a change by ``actor``; a member must be an organisation admin."""
    if isinstance(actor, PolicyAuthor):
        return actor
    if actor.role != Role.ADMIN:
        raise PermissionDenied("Only an organisation admin can change the expense policy.", code="not_an_admin")
    return PolicyAuthor(organization=actor.organization, actor_id=actor.user_id, changed_by=actor.display_name)


def admin_author(organization: Organization, user) -> PolicyAuthor:
    """A change made in the Django admin (whose access is staff-only): named ``admin:<username>``."""
    return PolicyAuthor(organization=organization, actor_id=None, changed_by=f"admin:{user.get_username()}")


def snapshot(organization_id: int) -> dict[str, Any]:
    """The whole policy as JSON: automatic approval and every category rule."""
    policy = settings_for(organization_id)
    rules = CategoryRule.objects.filter(organization_id=organization_id).select_related("category")
    money = (lambda v: None if v is None else str(v))  # noqa: E731
    return {
        "auto_approve_under": money(policy.auto_approve_under),
        "auto_approve_sample_percent": policy.auto_approve_sample_percent,
        "category_rules": {
            rule.category.code: {"max_amount": money(rule.max_amount),
                                 "receipt_required_above": money(rule.receipt_required_above),
                                 "max_age_days": rule.max_age_days, "on_violation": rule.on_violation}
            for rule in rules},
    }


def record_policy_change(organization_id: int, *, change: str, changed_by: str, actor_id: int | None) -> int:
    """Bump the version, keep the snapshot and publish ``policy.changed``, in the caller's
    transaction (the commands above call it). Returns the new version."""
    policy = settings_for(organization_id, lock=True)
    policy.version += 1
    policy.save(update_fields=["version", "updated_at"])
    rules = snapshot(organization_id)
    PolicyVersion.objects.create(organization_id=organization_id, number=policy.version, rules=rules,
                                 change=change[:200], changed_by=changed_by[:150])
    publish(PolicyChanged(organization_id=organization_id, policy_version=policy.version, change=change[:200],
                          changed_by=changed_by[:150], rules=rules),
            organization_id=organization_id, actor_id=actor_id, actor_label="" if actor_id else changed_by[:40])
    return policy.version


def _money_or_none(value: Any, field: str, *, allow_zero: bool = False) -> Decimal | None:
    """An optional amount setting: empty is None (the limit does not apply)."""
    if value is None or str(value).strip() == "":
        return None
    if allow_zero and _is_zero(value):
        return Decimal("0.00")  # a threshold may be zero (always); an amount may not
    try:
        return clean_amount(value, maximum=Decimal("9999999999.99"))
    except (errors.InvalidAmount, errors.AmountTooLarge) as exc:
        raise errors.InvalidField(f"{field.replace('_', ' ').capitalize()}: {exc.message}",
                                  details={"field": field}) from None


def _is_zero(value: Any) -> bool:
    try:
        return Decimal(str(value).strip()) == 0
    except InvalidOperation:
        return False


def _whole_or_none(value: Any, field: str, *, maximum: int) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise errors.InvalidField(f"{field.replace('_', ' ').capitalize()} must be a whole number.",
                                  details={"field": field})
    try:
        number = int(str(value).strip())
    except ValueError:
        raise errors.InvalidField(f"{field.replace('_', ' ').capitalize()} must be a whole number.",
                                  details={"field": field}) from None
    if not 0 <= number <= maximum:
        raise errors.InvalidField(f"{field.replace('_', ' ').capitalize()} must be between 0 and {maximum}.",
                                  details={"field": field})
    return number


def check_auto_approval(data: dict[str, Any]) -> dict[str, Any]:
    """The automatic-approval settings ``data`` changes, validated (InvalidField otherwise)."""
    values: dict[str, Any] = {}
    if "auto_approve_under" in data:
        values["auto_approve_under"] = _money_or_none(data["auto_approve_under"], "auto_approve_under")
    if "auto_approve_sample_percent" in data:
        percent = _whole_or_none(data["auto_approve_sample_percent"], "auto_approve_sample_percent", maximum=100)
        if percent is None:
            raise errors.InvalidField("The sample percentage is required (0-100).",
                                      details={"field": "auto_approve_sample_percent"})
        values["auto_approve_sample_percent"] = percent
    return values


@transaction.atomic
def policy_update(*, actor: Membership | PolicyAuthor, data: dict[str, Any]) -> PolicySettings:
    """Change automatic approval (``auto_approve_under``: an amount or empty for never;
    ``auto_approve_sample_percent``: 0-100). Organisation admins only (or the Django admin)."""
    author = author_of(actor)
    values = check_auto_approval(data)
    policy = settings_for(author.organization.pk, lock=True)
    for name, value in values.items():
        setattr(policy, name, value)
    policy.save()
    currency = author.organization.currency
    under = f"{policy.auto_approve_under} {currency}" if policy.auto_approve_under else "off"
    _record(author, f"Automatic approval: under {under}, {policy.auto_approve_sample_percent}% sampled for review")
    policy.refresh_from_db()
    return policy


def _record(author: PolicyAuthor, change: str) -> int:
    return record_policy_change(author.organization.pk, actor_id=author.actor_id, changed_by=author.changed_by,
                                change=change)


def _category(author: PolicyAuthor, category_id: Any) -> Category:
    try:
        return Category.objects.get(pk=int(category_id), organization_id=author.organization.pk)
    except (Category.DoesNotExist, TypeError, ValueError):
        raise errors.RuleNotFound("No such category in your organisation.") from None


def check_category_rule(data: dict[str, Any]) -> dict[str, Any]:
    """A category rule's limits and action from ``data``, validated: at least one limit."""
    action = data.get("on_violation", RuleAction.BLOCK)
    if action not in RuleAction.values:
        raise errors.InvalidField("On violation: \"block\" or \"flag\".", details={"field": "on_violation"})
    limits = dict(max_amount=_money_or_none(data.get("max_amount"), "max_amount"),
                  receipt_required_above=_money_or_none(data.get("receipt_required_above"), "receipt_required_above",
                                                        allow_zero=True),
                  max_age_days=_whole_or_none(data.get("max_age_days"), "max_age_days", maximum=3650))
    if all(value is None for value in limits.values()):
        raise errors.InvalidField("Give at least one limit: a maximum amount, a receipt threshold or a maximum age.",
                                  details={"field": "max_amount"})
    return {**limits, "on_violation": action}


@transaction.atomic
def category_rule_set(*, actor: Membership | PolicyAuthor, category_id: Any, data: dict[str, Any]) -> CategoryRule:
    """Create or replace the rule of one category. Organisation admins only (or the Django
    admin); at least one limit."""
    author = author_of(actor)
    category = _category(author, category_id)
    values = check_category_rule(data)
    rule, _ = CategoryRule.objects.update_or_create(category=category, organization_id=author.organization.pk,
                                                    defaults=values)
    _record(author, f"Rule for {category.name}: {describe_rule(rule)}")
    return rule


@transaction.atomic
def category_rule_delete(*, actor: Membership | PolicyAuthor, category_id: Any) -> None:
    author = author_of(actor)
    category = _category(author, category_id)
    deleted, _ = CategoryRule.objects.filter(category=category).delete()
    if not deleted:
        raise errors.RuleNotFound(f"{category.name} has no rule.")
    _record(author, f"Rule for {category.name} removed")


def describe_rule(rule: CategoryRule) -> str:
    currency = rule.organization.currency
    parts = []
    if rule.max_amount is not None:
        parts.append(f"at most {rule.max_amount} {currency}")
    if rule.receipt_required_above is not None:
        parts.append(f"receipt above {rule.receipt_required_above} {currency}")
    if rule.max_age_days is not None:
        parts.append(f"at most {rule.max_age_days} days old")
    verb = "blocks" if rule.on_violation == RuleAction.BLOCK else "flags"
    return f"{', '.join(parts)} ({verb})"
