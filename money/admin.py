from django.contrib import admin

from core.admin import ReadOnlyModelAdmin

from .bank import mask_iban
from .models import BankAccount, ExchangeRate


@admin.register(ExchangeRate)
class ExchangeRateAdmin(ReadOnlyModelAdmin):
    """Read-only: reference rates come from import_rates / the fetch, overrides from the API
    (finance, with a reason, audited)."""

    list_display = ["date", "base", "quote", "rate", "source", "organization"]
    list_filter = ["source", "quote"]
    date_hierarchy = "date"


@admin.register(BankAccount)
class BankAccountAdmin(ReadOnlyModelAdmin):
    """Masked, read-only: bank details are changed through the command (audited, notified)."""

    list_display = ["membership", "holder", "masked_iban", "updated_at"]
    fields = ["membership", "holder", "masked_iban", "bic", "updated_at"]
    readonly_fields = fields

    @admin.display(description="IBAN")
    def masked_iban(self, obj):
        return mask_iban(obj.iban)
