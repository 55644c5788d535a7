"""The expense policy page (everyone reads it; organisation admins change it) and the delegation
page (a manager names a stand-in while away)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import DomainError, NotFound
from expenses import delegation as delegations
from expenses import policy
from expenses.models import CategoryRule, Delegation, PolicyVersion, RuleAction
from organizations.models import Membership, Role
from organizations.queries import categories_for

from .base import member_required

MANAGERS = (Role.MANAGER, Role.ADMIN)


@member_required()
def policy_page(request, membership):
    settings = policy.settings_for(membership.organization_id)
    rules = {r.category_id: r for r in CategoryRule.objects.filter(organization_id=membership.organization_id)}
    categories = [{"category": c, "rule": rules.get(c.pk)} for c in categories_for(membership)]
    versions = PolicyVersion.objects.filter(organization_id=membership.organization_id)[:20]
    return render(request, "policy/policy.html", {
        "settings": settings, "categories": categories, "versions": versions, "actions": RuleAction.choices,
        "can_edit": membership.role == Role.ADMIN})


def _run(request, command, success: str, *, about: str = "", **kwargs) -> None:
    """Run a command; its refusal becomes a message, prefixed with what it was ``about`` (the
    category of a rule: one page holds every category's form)."""
    try:
        command(**kwargs)
    except NotFound as error:
        raise Http404(error.message) from None
    except DomainError as error:
        messages.error(request, f"{about}: {error.message}" if about else error.message)
    else:
        messages.success(request, success)


@require_POST
@member_required(Role.ADMIN)
def policy_auto_approval(request, membership):
    _run(request, policy.policy_update, "Automatic approval saved; it applies to expenses submitted from now on.",
         actor=membership, data={"auto_approve_under": request.POST.get("auto_approve_under", ""),
                                 "auto_approve_sample_percent": request.POST.get("auto_approve_sample_percent", "")})
    return redirect("policy")


@require_POST
@member_required(Role.ADMIN)
def policy_category_rule(request, membership, category_id):
    category = next((c for c in categories_for(membership) if c.pk == category_id), None)
    about = category.name if category is not None else ""
    if "remove" in request.POST:
        _run(request, policy.category_rule_delete, "Rule removed.", about=about, actor=membership,
             category_id=category_id)
    else:
        fields = ("max_amount", "receipt_required_above", "max_age_days", "on_violation")
        saved = f"Rule for {about} saved; it applies to expenses submitted from now on."
        _run(request, policy.category_rule_set, saved,
             about=about, actor=membership, category_id=category_id,
             data={f: request.POST.get(f, "") for f in fields})
    return redirect("policy")


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
    _run(request, delegations.delegation_create, "Delegate named.", actor=membership,
         delegate_id=request.POST.get("delegate_id"), starts_on=request.POST.get("starts_on") or None,
         ends_on=request.POST.get("ends_on", ""))
    return redirect("delegation")


@require_POST
@member_required(*MANAGERS)
def delegation_end(request, membership, delegation_id):
    _run(request, delegations.delegation_end, "Delegation ended.", actor=membership, delegation_id=delegation_id)
    return redirect("delegation")
