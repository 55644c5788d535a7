from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import StrictCursorPagination, error_responses
from organizations.permissions import IsFinance, IsOrgAdmin

from . import queries
from .models import AuditEntry
from .services import verify_chain


class AuditEntryOut(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ["sequence", "occurred_at", "action", "object_type", "object_id", "actor_id", "actor_label",
                  "on_behalf_of_user_id", "event_id", "correlation_id", "origin_ip", "user_agent", "payload",
                  "prev_hash", "hash"]


class SequencePagination(StrictCursorPagination):
    ordering = "-sequence"
    page_size = 100


class IdFilter(django_filters.Filter):
    """An id: parsed by a form field (``str.isdigit()`` also takes "²", which ``int()`` refuses)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, max_value=2**63 - 1, **kwargs)


class AuditFilter(django_filters.FilterSet):
    """Declared, so the filters are validated (400 ``invalid``) and appear in the OpenAPI schema."""

    action = django_filters.CharFilter(max_length=100, help_text="An event type, e.g. expense.approved.")
    object_type = django_filters.CharFilter(max_length=50, help_text="e.g. expense.")
    object_id = django_filters.CharFilter(max_length=64, help_text="The object's id (with object_type).")
    actor = IdFilter(field_name="actor_id", help_text="The acting user's id.")

    class Meta:
        model = AuditEntry
        fields = []


class AuditTrailApi(ListAPIView):
    """The organisation's audit trail, newest first (filters: action, object_type, object_id, actor)."""

    permission_classes = [IsFinance]
    serializer_class = AuditEntryOut
    pagination_class = SequencePagination
    filterset_class = AuditFilter

    queryset = AuditEntry.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return queries.audit_trail(self.request.membership.organization_id)


class VerifyOut(serializers.Serializer):
    ok = serializers.BooleanField()
    entries = serializers.IntegerField()
    broken_at = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()


class AuditVerifyApi(APIView):
    """Recompute the organisation's hash chain (admins)."""

    permission_classes = [IsOrgAdmin]

    @extend_schema(responses={200: VerifyOut, **error_responses(401, 403)})
    def get(self, request):
        report = verify_chain(request.membership.organization_id)
        return Response({"ok": report.ok, "entries": report.entries, "broken_at": report.broken_at,
                         "reason": report.reason})
