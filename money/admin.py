from django.contrib import admin

from .bank import mask_iban
from .models import BankAccount, ExchangeRate


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    """Read-only: reference rates come from import_rates / the fetch, overrides from the API
    (finance, with a reason, audited)."""

    list_display = ["date", "base", "quote", "rate", "source", "organization"]
    list_filter = ["source", "quote"]
    date_hierarchy = "date"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BankAccount)
class BankAccountAdmin(admin.ModelAdmin):
    """Masked, read-only: bank details are changed through the command (audited, notified)."""

    list_display = ["membership", "holder", "masked_iban", "updated_at"]
    fields = ["membership", "holder", "masked_iban", "bic", "updated_at"]
    readonly_fields = fields

    @admin.display(description="IBAN")
    def masked_iban(self, obj):
        return mask_iban(obj.iban)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
