from django.contrib import admin
from django.core.exceptions import ValidationError

from .models import Approval, CategoryRule, Delegation, Expense, MonthlySpend, PolicySettings, PolicyVersion
from .policy import describe_rule, record_policy_change


class ApprovalInline(admin.TabularInline):
    model = Approval
    extra = 0
    can_delete = False
    fields = ["step", "approver", "actor_label", "on_behalf_of", "decided_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Expense)
class ExpenseAdmin(admin.ModelAdmin):
    """Read-only: states change only through the commands (which publish their events)."""

    list_display = ["merchant", "amount", "state", "employee", "cost_center", "category", "incurred_on",
                    "submitted_at", "organization"]
    list_filter = ["organization", "state", "category", "cost_center", "incurred_on"]
    search_fields = ["merchant", "description", "=id", "employee__user__username"]
    date_hierarchy = "incurred_on"
    inlines = [ApprovalInline]
    list_select_related = ["employee__user", "cost_center", "category", "organization"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MonthlySpend)
class MonthlySpendAdmin(admin.ModelAdmin):
    list_display = ["month", "organization_id", "cost_center_code", "category_name", "submitted_count",
                    "approved_count", "rejected_count", "approved_total"]
    list_filter = ["month", "organization_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PolicyChangeAdmin(admin.ModelAdmin):
    """Saves and deletions here are policy changes like those made in the app: each bumps the
    organisation's policy version and publishes ``policy.changed`` (audited), in the admin's
    transaction."""

    def _changed(self, request, obj, change: str) -> None:
        record_policy_change(obj.organization_id, change=change, actor_id=None,
                             changed_by=f"admin:{request.user.get_username()}")

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(CategoryRule)
class CategoryRuleAdmin(PolicyChangeAdmin):
    list_display = ["category", "organization", "max_amount", "receipt_required_above", "max_age_days",
                    "on_violation", "updated_at"]
    list_filter = ["organization", "on_violation"]
    list_select_related = ["category", "organization"]

    def save_model(self, request, obj, form, change):
        if obj.category.organization_id != obj.organization_id:
            raise ValidationError("The category belongs to another organisation.")
        super().save_model(request, obj, form, change)
        self._changed(request, obj, f"Rule for {obj.category.name}: {describe_rule(obj)}")

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self._changed(request, obj, f"Rule for {obj.category.name} removed")


@admin.register(PolicySettings)
class PolicySettingsAdmin(PolicyChangeAdmin):
    list_display = ["organization", "auto_approve_under", "auto_approve_sample_percent", "version", "updated_at"]
    readonly_fields = ["version"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        under = obj.auto_approve_under or "off"
        self._changed(request, obj, f"Automatic approval: under {under}, {obj.auto_approve_sample_percent}% sampled")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    list_display = ["organization", "number", "change", "changed_by", "created_at"]
    list_filter = ["organization"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
