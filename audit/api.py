from __future__ import annotations

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


class AuditTrailApi(ListAPIView):
    """The organisation's audit trail, newest first (filters: action, object_type, object_id, actor)."""

    permission_classes = [IsFinance]
    serializer_class = AuditEntryOut
    pagination_class = SequencePagination

    queryset = AuditEntry.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        params = self.request.query_params
        qs = queries.audit_trail(self.request.membership.organization_id, action=params.get("action"))
        if params.get("object_type") and params.get("object_id"):
            qs = qs.filter(object_type=params["object_type"][:50], object_id=params["object_id"][:64])
        if params.get("actor", "").isdigit() and len(params["actor"]) < 18:
            qs = qs.filter(actor_id=int(params["actor"]))
        return qs


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
