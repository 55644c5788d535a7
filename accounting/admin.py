from django.contrib import admin, messages

from core.errors import DomainError
from organizations.queries import membership_for_user

from . import services
from .models import Account, JournalEntry, JournalLine, PayoutBatch, Reimbursement


class ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "organization"]
    list_filter = ["organization", "kind"]
    search_fields = ["code", "name"]


class JournalLineInline(ReadOnly, admin.TabularInline):
    model = JournalLine
    fields = ["account", "debit", "credit"]
    readonly_fields = fields
    extra = 0


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["date", "memo", "organization", "source_event_id", "reversal_of"]
    list_filter = ["organization", "date"]
    search_fields = ["memo", "=source_event_id"]
    inlines = [JournalLineInline]


@admin.register(Reimbursement)
class ReimbursementAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["payee_name", "amount", "currency", "state", "batch", "created_at", "paid_at"]
    list_filter = ["organization", "state"]
    search_fields = ["payee_name", "payee_email", "=expense_id"]


@admin.register(PayoutBatch)
class PayoutBatchAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "organization", "state", "total", "currency", "created_at", "confirmed_at"]
    list_filter = ["organization", "state"]
    actions = ["confirm_paid"]

    @admin.action(description="Confirm selected batches as paid")
    def confirm_paid(self, request, queryset):
        actor = membership_for_user(request.user)
        if actor is None:
            self.message_user(request, "You need a membership in the batch's organisation.", messages.ERROR)
            return
        for batch in queryset:
            try:
                services.payout_batch_confirm(actor=actor, batch_id=batch.pk)
                self.message_user(request, f"{batch} confirmed.", messages.SUCCESS)
            except DomainError as exc:
                self.message_user(request, f"{batch}: {exc.message}", messages.ERROR)
