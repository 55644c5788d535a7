"""Events and deliveries over HTTP, for organisation admins.

The bus imports no domain app: the organisation-admin permission (which sets
``request.membership``) is wired in by config/api_urls.py; see ``Unwired``.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IDEMPOTENCY_KEY_PARAMETER, StrictCursorPagination, error_responses
from core.errors import Conflict, NotFound
from core.idempotency import idempotent

from . import replaying
from .models import Delivery, DeliveryStatus, Event


class Unwired(BasePermission):
    """Refuses everyone. The bus imports no domain app, so these views cannot name the
    organisations app's ``IsOrgAdmin``: config/api_urls.py (on top) passes it to ``as_view``,
    and sets ``request.membership``. A view left unwired is closed, never open."""

    message = "This endpoint is not wired to a permission."

    def has_permission(self, request, view) -> bool:
        return False


class EventOut(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "type", "version", "occurred_at", "aggregate_type", "aggregate_id", "sequence", "actor_id",
                  "actor_label", "correlation_id", "causation_id", "payload"]


class DeliveryOut(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = ["id", "event_id", "subscriber", "event_type", "status", "attempts", "next_attempt_at",
                  "leased_until", "last_error", "created_at", "done_at"]


class ByTime(StrictCursorPagination):
    ordering = "-occurred_at"
    page_size = 100


class ByCreated(StrictCursorPagination):
    ordering = "-created_at"
    page_size = 100


class EventListApi(ListAPIView):
    permission_classes = [Unwired]
    serializer_class = EventOut
    pagination_class = ByTime

    queryset = Event.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        qs = Event.objects.filter(organization_id=self.request.membership.organization_id)
        if self.request.query_params.get("type"):
            qs = qs.filter(type=self.request.query_params["type"][:100])
        return qs


class DeliveryFilterIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
    subscriber = serializers.CharField(max_length=100, required=False)
    event_type = serializers.CharField(max_length=100, required=False)


class DeliveryListApi(ListAPIView):
    """Deliveries with filters (status, subscriber, event_type): dead letters are status=dead."""

    permission_classes = [Unwired]
    serializer_class = DeliveryOut
    pagination_class = ByCreated

    @extend_schema(parameters=[DeliveryFilterIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    queryset = Delivery.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        params = DeliveryFilterIn(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        organization_id = self.request.membership.organization_id
        return replaying.deliveries_matching(**params.validated_data).filter(organization_id=organization_id)


class ReplayOut(serializers.Serializer):
    replayed = serializers.IntegerField()


class DeliveryReplayApi(APIView):
    """Reset dead deliveries matching the filters (or one delivery) and send them again."""


    permission_classes = [Unwired]

    @extend_schema(request=DeliveryFilterIn, parameters=[IDEMPOTENCY_KEY_PARAMETER], operation_id="deliveries_replay",
                   responses={200: ReplayOut, **error_responses(400, 401, 403, 404, 409, 422)})
    @idempotent
    def post(self, request, delivery_id: int | None = None):
        params = DeliveryFilterIn(data=request.data)
        params.is_valid(raise_exception=True)
        filters = {"status": DeliveryStatus.DEAD, **params.validated_data}
        if delivery_id is not None:
            if not Delivery.objects.filter(pk=delivery_id, organization_id=request.membership.organization_id).exists():
                raise NotFound("No such delivery.")
            filters = {"ids": [delivery_id]}
        qs = replaying.deliveries_matching(**filters).filter(organization_id=request.membership.organization_id)
        if qs.filter(status=DeliveryStatus.DONE).exists() and delivery_id is not None:
            raise Conflict("A done delivery is never replayed.", code="already_done")
        organization_id = request.membership.organization_id
        selection = None if delivery_id is not None else {key: str(value) for key, value in filters.items()}
        return Response({"replayed": replaying.replay(
            qs, organization_id=organization_id, selection=selection,
            description=f"delivery {delivery_id}" if delivery_id is not None
            else "API: " + ", ".join(f"{key}={value}" for key, value in sorted(selection.items())))})


class DeliveryReplayOneApi(DeliveryReplayApi):
    """Reset one dead (or failing) delivery and send it again."""

    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY_PARAMETER], operation_id="delivery_replay_one",
                   responses={200: ReplayOut, **error_responses(400, 401, 403, 404, 409, 422)})
    def post(self, request, delivery_id: int):
        return super().post(request, delivery_id)
