from django.contrib import admin

from .models import Category, CostCenter, Membership, Organization


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "time_zone", "second_approval_threshold",
                    "receipt_required_threshold"]
    list_filter = ["currency"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug", "currency", "time_zone"]}),
        ("Policy", {"fields": ["second_approval_threshold", "receipt_required_threshold", "max_expense_amount",
                               "expense_window_days"]}),
        ("Own bank account (debtor of SEPA payout files)", {"fields": ["debtor_name", "debtor_iban", "debtor_bic"]}),
    ]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "reports_to", "is_active"]
    list_filter = ["organization", "role", "is_active"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user", "reports_to"]
    list_select_related = ["user", "organization", "reports_to__user"]


@admin.register(CostCenter)
class CostCenterAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "organization", "monthly_budget", "is_active"]
    list_filter = ["organization", "is_active"]
    search_fields = ["code", "name"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "organization", "is_active"]
    list_filter = ["organization", "is_active"]
    search_fields = ["name", "code"]
