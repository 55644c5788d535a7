"""Webhook endpoints and deliveries in the Django admin. Every write goes through the commands:
adding an endpoint shows its secret once (as a message), rotation likewise, replays re-send."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from core.errors import DomainError

from . import services
from .models import Endpoint, WebhookAttempt, WebhookDelivery


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=1000, assume_scheme="https")
    event_types = forms.CharField(required=False, help_text="Comma-separated event types; empty for all.")

    class Meta:
        model = Endpoint
        fields = ["organization", "url", "event_types", "description", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["event_types"] = ", ".join(self.instance.event_types)

    def clean_event_types(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["event_types"].split(",") if t.strip()]

    def clean(self):
        data = super().clean()
        try:
            services.check_endpoint_fields(url=data.get("url"), event_types=data.get("event_types"))
        except DomainError as exc:
            raise forms.ValidationError(dict(exc.details)) from None
        return data


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["url", "organization", "enabled", "disabled_reason", "consecutive_failures", "breaker_open_until",
                    "created_at"]
    list_filter = ["enabled", "organization"]
    search_fields = ["url", "description"]
    readonly_fields = ["disabled_reason", "disabled_at", "created_by", "created_at", "consecutive_failures",
                       "failing_since", "breaker_open_until"]
    actions = ["rotate_secret", "send_test"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data  # checked by the form with the command's own rules
        if change:
            services.endpoint_update(endpoint=obj, url=data["url"], event_types=data["event_types"],
                                     description=data["description"], enabled=data["enabled"])
            return
        endpoint, secret = services.endpoint_create(
            organization_id=data["organization"].pk, created_by_id=request.user.pk, url=data["url"],
            event_types=data["event_types"], description=data["description"], enabled=data["enabled"])
        obj.pk = endpoint.pk
        obj._state.adding = False
        messages.warning(request, f"Signing secret of {endpoint.url} (shown this once): {secret}")

    def delete_model(self, request, obj):
        services.endpoint_delete(endpoint=obj)

    @admin.action(description="Rotate the signing secret (old ones keep signing for the overlap)")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            secret = services.endpoint_rotate_secret(endpoint=endpoint)
            messages.warning(request, f"New signing secret of {endpoint.url} (shown this once): {secret}")

    @admin.action(description="Send a test event")
    def send_test(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_send_test(endpoint=endpoint, user_id=request.user.pk)
        messages.success(request, f"{queryset.count()} test webhooks queued.")


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    fields = ["number", "outcome", "scheduled_for", "started_at", "status_code", "duration_ms", "error",
              "response_body"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "endpoint", "event_type", "aggregate_key", "sequence", "status", "attempts",
                    "last_status_code", "next_attempt_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["=webhook_id", "=aggregate_key"]
    inlines = [AttemptInline]
    actions = ["replay"]
    show_full_result_count = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Send again (same webhook-id)")
    def replay(self, request, queryset):
        count = 0
        for delivery in queryset:
            try:
                count += services.webhook_replay(delivery=delivery)
            except DomainError:
                continue  # still in line: it goes anyway
        messages.success(request, f"{count} webhooks queued again.")
