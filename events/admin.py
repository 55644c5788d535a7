"""Dead letters and replay: deliveries with filters and "replay" actions; events read-only."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.utils import timezone

from . import replaying
from .models import Attempt, BackfillRun, Delivery, Event, PrunedDeliveries, ReplayRun
from .queries import run_progress


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    fields = ["number", "outcome", "started_at", "finished_at", "worker", "error"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    fields = ["subscriber", "status", "attempts", "next_attempt_at", "done_at", "last_error"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "type", "aggregate_type", "aggregate_id", "sequence", "organization_id",
                    "actor", "correlation_id"]
    list_filter = ["type", "aggregate_type", "occurred_at"]
    search_fields = ["=id", "=aggregate_id", "=correlation_id"]
    date_hierarchy = "occurred_at"
    inlines = [DeliveryInline]
    show_full_result_count = False


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    AGES = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}

    def lookups(self, request, model_admin):
        return [("1h", "older than 1 hour"), ("1d", "older than 1 day"), ("7d", "older than 7 days")]

    def queryset(self, request, queryset):
        if self.value() in self.AGES:
            return queryset.filter(created_at__lt=timezone.now() - self.AGES[self.value()])
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "subscriber", "event_type", "status", "attempts", "next_attempt_at", "leased_until",
                    "created_at", "done_at", "short_error"]
    list_filter = ["status", "subscriber", "event_type", AgeFilter]
    search_fields = ["=event__id", "=event__aggregate_id", "last_error"]
    inlines = [AttemptInline]
    actions = ["replay_selected", "replay_all_matching"]
    show_full_result_count = False
    list_select_related = False

    @admin.display(description="last error")
    def short_error(self, obj):
        return obj.last_error[:80]

    @admin.action(description="Replay selected deliveries")
    def replay_selected(self, request, queryset):
        count = replaying.replay(queryset, description=f"admin: {request.user} selected deliveries")
        self.message_user(request, f"{count} deliveries reset and sent.", messages.SUCCESS)

    @admin.action(description="Replay all deliveries matching the current filters")
    def replay_all_matching(self, request, queryset):
        changelist = self.get_changelist_instance(request)
        count = replaying.replay(changelist.get_queryset(request),
                                 description=f"admin: {request.user}, every delivery matching the filters")
        self.message_user(request, f"{count} deliveries reset and sent.", messages.SUCCESS)

    def changelist_view(self, request, extra_context=None):
        # "Replay all matching" needs no selection: Django asks for one unless told otherwise.
        if request.POST.get("action") == "replay_all_matching" and not request.POST.getlist("_selected_action"):
            post = request.POST.copy()
            post.setlist("_selected_action", ["0"])
            post["select_across"] = "1"
            request.POST = post
        return super().changelist_view(request, extra_context)


@admin.register(BackfillRun)
class BackfillRunAdmin(ReadOnlyAdmin):
    """Backfills (``manage.py events backfill``): how far each got and how fast, read-only."""

    list_display = ["subscriber", "since", "progress", "created", "rate", "started_at", "updated_at", "finished_at"]
    list_filter = ["subscriber"]

    @admin.display(description="events done")
    def progress(self, run: BackfillRun) -> str:
        return f"{run.events_done:,} / {run.events_total:,} ({run.fraction:.0%})"

    @admin.display(description="events/s")
    def rate(self, run: BackfillRun) -> str:
        return _rate(run)


@admin.register(ReplayRun)
class ReplayRunAdmin(ReadOnlyAdmin):
    """Mass replays (``manage.py events replay``, the operations page, the API, the actions
    here): how far each got and how fast, read-only. An unfinished one resumes when the same
    replay is asked for again."""

    list_display = ["description", "organization_id", "progress", "rate", "started_at", "updated_at", "finished_at"]

    @admin.display(description="deliveries reset")
    def progress(self, run: ReplayRun) -> str:
        return f"{run.done:,} / {run.total:,} ({run.fraction:.0%})"

    @admin.display(description="deliveries/s")
    def rate(self, run: ReplayRun) -> str:
        return _rate(run)


def _rate(run: BackfillRun | ReplayRun) -> str:
    rate = run_progress(run).rate  # the same figure as the command's bar and the operations page
    return "-" if rate is None else f"{rate:,.0f}"


@admin.register(PrunedDeliveries)
class PrunedDeliveriesAdmin(ReadOnlyAdmin):
    """What is kept of pruned done deliveries (``manage.py events prune``): per subscriber and
    event type, how many and the span of the log they covered (a backfill skips it)."""

    list_display = ["subscriber", "event_type", "deliveries", "first_occurred_at", "last_occurred_at", "updated_at"]
    list_filter = ["subscriber"]
