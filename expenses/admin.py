from django.contrib import admin

from .models import Approval, Expense, MonthlySpend


class ApprovalInline(admin.TabularInline):
    model = Approval
    extra = 0
    can_delete = False
    fields = ["step", "approver", "decided_at"]
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
