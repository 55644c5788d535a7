"""The expense policy page (everyone reads it; organisation admins change it) and the delegation
page (a manager names a stand-in while away)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from expenses import delegation as delegations
from expenses import policy
from expenses.models import CategoryRule, Delegation, PolicyVersion, RuleAction
from organizations.formats import parse_amount
from organizations.models import Membership, Role
from organizations.queries import categories_for

from .base import member_required, run_command

MANAGERS = (Role.MANAGER, Role.ADMIN)
# The amount fields of the policy forms and their labels on the page.
AMOUNT_LABELS = {"auto_approve_under": "Approve compliant expenses under", "max_amount": "Maximum per expense",
                 "receipt_required_above": "Receipt above"}


def typed_amounts(request, membership, data: dict, *, about: str = "") -> tuple[dict | None, dict | None]:
    """``data`` with its amount fields read the organisation's way ("1,50" in Berlin) into the
    plain decimals the commands take, and None; or None and the refusal (the field and a message
    naming it, and what it was ``about``, also shown above the page) when one is not an amount:
    nothing is changed then."""
    locale = membership.organization.locale
    for name in AMOUNT_LABELS:  # in the page's order, so the first bad field is the one named
        if str(data.get(name, "")).strip() == "":
            continue
        try:
            data[name] = parse_amount(data[name], locale)
        except ValueError as error:
            prefix = f"{about}: " if about else ""
            message = f"{AMOUNT_LABELS[name]}: {error}"
            messages.error(request, f"{prefix}{message}")
            return None, {"field": name, "message": message}
    return data, None


def _refusal(error, default_field: str) -> dict:
    return {"field": (error.details or {}).get("field") or default_field, "message": error.message}


def _page(request, membership, *, refused: dict | None = None):
    """The policy page; after a refused save, that form again with what was typed, the refused
    field marked and its message beside it (and above the page)."""
    settings = policy.settings_for(membership.organization_id)
    rules = {r.category_id: r for r in CategoryRule.objects.filter(organization_id=membership.organization_id)}
    categories = []
    for category in categories_for(membership):
        rule = rules.get(category.pk)
        row = {"category": category, "rule": rule, "values": None, "error": None,
               "on_violation": rule.on_violation if rule else ""}
        if refused and refused["form"] == f"rule-{category.pk}":
            row["values"], row["error"] = refused["values"], refused
            row["on_violation"] = refused["values"].get("on_violation", "")
        categories.append(row)
    versions = PolicyVersion.objects.filter(organization_id=membership.organization_id)[:20]
    auto = refused if refused and refused["form"] == "auto-approval" else None
    return render(request, "policy/policy.html", {
        "settings": settings, "categories": categories, "versions": versions, "actions": RuleAction.choices,
        "can_edit": membership.role == Role.ADMIN, "auto_error": auto, "auto_values": auto and auto["values"]})


@member_required()
def policy_page(request, membership):
    return _page(request, membership)


@require_POST
@member_required(Role.ADMIN)
def policy_auto_approval(request, membership):
    typed = {name: request.POST.get(name, "") for name in ("auto_approve_under", "auto_approve_sample_percent")}
    data, refusal = typed_amounts(request, membership, dict(typed))
    if data is not None:
        _, error = run_command(request, policy.policy_update, actor=membership, data=data,
                               success="Automatic approval saved; it applies to expenses submitted from now on.")
        if error is None:
            return redirect("policy")
        refusal = _refusal(error, "auto_approve_under")
    return _page(request, membership, refused={"form": "auto-approval", "values": typed, **refusal})


@require_POST
@member_required(Role.ADMIN)
def policy_category_rule(request, membership, category_id):
    category = next((c for c in categories_for(membership) if c.pk == category_id), None)
    about = category.name if category is not None else ""
    if "remove" in request.POST:
        run_command(request, policy.category_rule_delete, success="Rule removed.", about=about, actor=membership,
                    category_id=category_id)
        return redirect("policy")
    fields = ("max_amount", "receipt_required_above", "max_age_days", "on_violation")
    typed = {f: request.POST.get(f, "") for f in fields}
    data, refusal = typed_amounts(request, membership, dict(typed), about=about)
    if data is not None:
        _, error = run_command(request, policy.category_rule_set,
                               success=f"Rule saved for {about}; it applies to expenses submitted from now on.",
                               about=about, actor=membership, category_id=category_id, data=data)
        if error is None:
            return redirect("policy")
        refusal = _refusal(error, "max_amount")
    return _page(request, membership, refused={"form": f"rule-{category_id}", "values": typed, **refusal})


@member_required()
def delegation_page(request, membership):
    current = delegations.current_delegation(membership) if membership.role in MANAGERS else None
    # A delegate approves in the manager's place: offer those who approve, never employees.
    candidates = (Membership.objects.filter(organization_id=membership.organization_id, is_active=True,
                                            role__in=(Role.MANAGER, Role.FINANCE, Role.ADMIN))
                  .exclude(pk=membership.pk).select_related("user").order_by("user__username"))
    held = (Delegation.objects.filter(delegate=membership, ended_at__isnull=True,
                                      ends_on__gte=membership.organization.today())
            .select_related("delegator__user"))
    return render(request, "policy/delegation.html", {
        "current": current, "candidates": candidates, "held": held, "can_delegate": membership.role in MANAGERS,
        "today": membership.organization.today()})


@require_POST
@member_required(*MANAGERS)
def delegation_create(request, membership):
    run_command(request, delegations.delegation_create, success="Delegate named.", actor=membership,
         delegate_id=request.POST.get("delegate_id"), starts_on=request.POST.get("starts_on") or None,
         ends_on=request.POST.get("ends_on", ""))
    return redirect("delegation")


@require_POST
@member_required(*MANAGERS)
def delegation_end(request, membership, delegation_id):
    run_command(request, delegations.delegation_end, success="Delegation ended.", actor=membership,
                delegation_id=delegation_id)
    return redirect("delegation")
