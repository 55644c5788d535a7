from django.contrib import admin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only, like the table itself."""

    list_display = ["sequence", "organization_id", "occurred_at", "action", "object_type", "object_id", "actor_id",
                    "actor_label", "origin_ip"]
    list_filter = ["organization_id", "action", "object_type"]
    search_fields = ["=object_id", "=event_id", "=correlation_id"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
