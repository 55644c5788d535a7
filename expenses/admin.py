from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from core.admin import ReadOnlyModelAdmin
from core.errors import DomainError

from . import policy
from .models import Approval, CategoryRule, Delegation, Expense, MonthlySpend, PolicySettings, PolicyVersion


class ApprovalInline(admin.TabularInline):
    model = Approval
    extra = 0
    can_delete = False
    fields = ["step", "approver", "actor_label", "on_behalf_of", "decided_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Expense)
class ExpenseAdmin(ReadOnlyModelAdmin):
    """Read-only: states change only through the commands (which publish their events)."""

    list_display = ["merchant", "amount", "state", "employee", "cost_center", "category", "incurred_on",
                    "submitted_at", "organization"]
    list_filter = ["organization", "state", "category", "cost_center", "incurred_on"]
    search_fields = ["merchant", "description", "=id", "employee__user__username"]
    date_hierarchy = "incurred_on"
    inlines = [ApprovalInline]
    list_select_related = ["employee__user", "cost_center", "category", "organization"]


@admin.register(MonthlySpend)
class MonthlySpendAdmin(ReadOnlyModelAdmin):
    list_display = ["month", "organization_id", "cost_center_code", "category_name", "submitted_count",
                    "approved_count", "rejected_count", "approved_total"]
    list_filter = ["month", "organization_id"]


def _as_form_error(error: DomainError) -> ValidationError:
    field = error.details.get("field") if isinstance(error.details, dict) else None
    return ValidationError({field: error.message} if field else error.message)


class CategoryRuleForm(forms.ModelForm):
    """Validated by the command's own check (at least one limit, amounts, the action), so the
    admin refuses exactly what the app and the API refuse, as a form error."""

    class Meta:
        model = CategoryRule
        fields = ["organization", "category", "max_amount", "receipt_required_above", "max_age_days", "on_violation"]

    def clean(self):
        cleaned = super().clean()
        organization, category = cleaned.get("organization"), cleaned.get("category")
        organization_id = organization.pk if organization else self.instance.organization_id  # fixed on change
        if category and organization_id and category.organization_id != organization_id:
            raise ValidationError({"category": "The category belongs to another organisation."})
        try:
            policy.check_category_rule({name: cleaned.get(name) for name in (
                "max_amount", "receipt_required_above", "max_age_days", "on_violation")})
        except DomainError as error:
            raise _as_form_error(error) from None
        return cleaned


class PolicySettingsForm(forms.ModelForm):
    class Meta:
        model = PolicySettings
        fields = ["organization", "auto_approve_under", "auto_approve_sample_percent"]

    def clean(self):
        cleaned = super().clean()
        try:
            policy.check_auto_approval({"auto_approve_under": cleaned.get("auto_approve_under"),
                                        "auto_approve_sample_percent": cleaned.get("auto_approve_sample_percent")})
        except DomainError as error:
            raise _as_form_error(error) from None
        return cleaned


class PolicyChangeAdmin(admin.ModelAdmin):
    """Saves and deletions here go through the policy commands, like changes made in the app:
    the same rules, the same change text, a new version and a published ``policy.changed``
    (audited), named ``admin:<username>``. The organisation (and a rule's category) is fixed
    once the row exists: another one is a new row."""

    def get_readonly_fields(self, request, obj=None):
        fixed = ["organization", "category"] if self.model is CategoryRule else ["organization"]
        return [*super().get_readonly_fields(request, obj), *(fixed if obj is not None else [])]

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(CategoryRule)
class CategoryRuleAdmin(PolicyChangeAdmin):
    form = CategoryRuleForm
    list_display = ["category", "organization", "max_amount", "receipt_required_above", "max_age_days",
                    "on_violation", "updated_at"]
    list_filter = ["organization", "on_violation"]
    list_select_related = ["category", "organization"]

    def save_model(self, request, obj, form, change):
        rule = policy.category_rule_set(
            actor=policy.admin_author(obj.organization, request.user), category_id=obj.category_id,
            data={"max_amount": obj.max_amount, "receipt_required_above": obj.receipt_required_above,
                  "max_age_days": obj.max_age_days, "on_violation": obj.on_violation})
        obj.pk = rule.pk  # the admin's messages and redirect name the row the command wrote

    def delete_model(self, request, obj):
        policy.category_rule_delete(actor=policy.admin_author(obj.organization, request.user),
                                    category_id=obj.category_id)


@admin.register(PolicySettings)
class PolicySettingsAdmin(PolicyChangeAdmin):
    form = PolicySettingsForm
    list_display = ["organization", "auto_approve_under", "auto_approve_sample_percent", "version", "updated_at"]
    readonly_fields = ["version"]

    def save_model(self, request, obj, form, change):
        settings = policy.policy_update(
            actor=policy.admin_author(obj.organization, request.user),
            data={"auto_approve_under": obj.auto_approve_under,
                  "auto_approve_sample_percent": obj.auto_approve_sample_percent})
        obj.pk = settings.pk

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyModelAdmin):
    list_display = ["organization", "number", "change", "changed_by", "created_at"]
    list_filter = ["organization"]


@admin.register(Delegation)
class DelegationAdmin(admin.ModelAdmin):
    """Read-only: delegations are named and ended by managers in the app (which publishes events)."""

    list_display = ["delegator", "delegate", "starts_on", "ends_on", "ended_at", "organization"]
    list_filter = ["organization"]
    list_select_related = ["delegator__user", "delegate__user", "organization"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
