"""Webhook endpoints and their deliveries over HTTP, for organisation admins (own organisation only).

Creating an endpoint and rotating its secret answer with the secret, once. They take no
``Idempotency-Key``: a replayed answer would have to keep the secret in clear in the key store.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IDEMPOTENCY_KEY_PARAMETER, StrictCursorPagination, error_responses
from core.idempotency import idempotent
from organizations.permissions import IsOrgAdmin

from . import queries, services
from .models import Endpoint, WebhookAttempt, WebhookDelivery, WebhookStatus

CHANGE_ERRORS = error_responses(400, 401, 403, 404, 409, 422, 429)


class EndpointOut(serializers.ModelSerializer):
    class Meta:
        model = Endpoint
        fields = ["id", "url", "event_types", "description", "enabled", "disabled_reason", "disabled_at",
                  "created_by_id", "created_at", "consecutive_failures", "failing_since", "breaker_open_until"]


class EndpointCreatedOut(EndpointOut):
    secret = serializers.CharField(help_text="The signing secret (whsec_...). Shown in this answer only.")

    class Meta(EndpointOut.Meta):
        fields = [*EndpointOut.Meta.fields, "secret"]


class EndpointIn(serializers.Serializer):
    url = serializers.CharField(max_length=1000, help_text="https:// (http:// only with WEBHOOK_ALLOW_HTTP).")
    event_types = serializers.ListField(child=serializers.CharField(max_length=100), max_length=100, default=list,
                                        help_text="Event types to send; empty for all.")
    description = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)
    enabled = serializers.BooleanField(required=False, default=True)


class EndpointChangeIn(serializers.Serializer):
    url = serializers.CharField(max_length=1000, required=False)
    event_types = serializers.ListField(child=serializers.CharField(max_length=100), max_length=100, required=False)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class WebhookRotateIn(serializers.Serializer):
    overlap_seconds = serializers.IntegerField(min_value=0, max_value=7 * 86400, required=False,
                                               help_text="How long the old secrets keep signing (default 24 h).")


class WebhookSecretOut(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret. Shown in this answer only.")


class WebhookAttemptOut(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "scheduled_for", "started_at", "finished_at", "outcome", "status_code", "duration_ms",
                  "response_body", "error", "retry_after_seconds"]


class WebhookDeliveryOut(serializers.ModelSerializer):
    attempt_log = WebhookAttemptOut(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "webhook_id", "endpoint_id", "event_id", "event_type", "aggregate_key", "sequence",
                  "occurred_at", "status", "attempts", "next_attempt_at", "last_status_code", "last_error",
                  "created_at", "delivered_at", "attempt_log"]


class WebhookDeliveryFilterIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=WebhookStatus.choices, required=False)
    event_type = serializers.CharField(max_length=100, required=False)
    since = serializers.DateTimeField(required=False, help_text="Events that occurred at or after this time.")
    until = serializers.DateTimeField(required=False, help_text="Events that occurred before this time.")


class WebhookReplayIn(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Events that occurred at or after this time.")
    until = serializers.DateTimeField(required=False, help_text="... and before this time (default: now).")
    only_failed = serializers.BooleanField(default=False, help_text="Only dead and failing webhooks; otherwise "
                                           "everything in the window, delivered or never sent included.")


class WebhookReplayOut(serializers.Serializer):
    replayed = serializers.IntegerField()


class WebhookTestOut(serializers.Serializer):
    delivery_id = serializers.IntegerField()
    webhook_id = serializers.CharField()


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ById(StrictCursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50


class EndpointListCreateApi(APIView):
    """GET: the organisation's webhook endpoints. POST: add one; the answer carries its secret, once."""

    permission_classes = [IsOrgAdmin]

    @extend_schema(responses={200: EndpointOut(many=True), **error_responses(401, 403)})
    def get(self, request):
        return Response(EndpointOut(queries.endpoints_for(request.membership.organization_id), many=True).data)

    @extend_schema(request=EndpointIn, responses={201: EndpointCreatedOut, **CHANGE_ERRORS})
    def post(self, request):
        endpoint, secret = services.endpoint_create(organization_id=request.membership.organization_id,
                                                    created_by_id=request.user.pk, **_valid(EndpointIn, request.data))
        endpoint.secret = secret
        return Response(EndpointCreatedOut(endpoint).data, status=201)


class EndpointDetailApi(APIView):
    """GET, PATCH (url, event types, description, enabled) or DELETE one endpoint."""

    permission_classes = [IsOrgAdmin]

    @extend_schema(responses={200: EndpointOut, **error_responses(401, 403, 404)})
    def get(self, request, endpoint_id):
        return Response(EndpointOut(queries.endpoint_for(request.membership.organization_id, endpoint_id)).data)

    @extend_schema(request=EndpointChangeIn, responses={200: EndpointOut, **CHANGE_ERRORS})
    def patch(self, request, endpoint_id):
        endpoint = queries.endpoint_for(request.membership.organization_id, endpoint_id)
        changes = _valid(EndpointChangeIn, request.data)
        return Response(EndpointOut(services.endpoint_update(endpoint=endpoint, **changes)).data)

    @extend_schema(responses={204: None, **error_responses(401, 403, 404)})
    def delete(self, request, endpoint_id):
        services.endpoint_delete(endpoint=queries.endpoint_for(request.membership.organization_id, endpoint_id))
        return Response(status=204)


class EndpointRotateSecretApi(APIView):
    """A new signing secret (answered once); the old ones sign too until the overlap ends."""

    permission_classes = [IsOrgAdmin]

    @extend_schema(request=WebhookRotateIn, responses={200: WebhookSecretOut, **CHANGE_ERRORS})
    def post(self, request, endpoint_id):
        endpoint = queries.endpoint_for(request.membership.organization_id, endpoint_id)
        secret = services.endpoint_rotate_secret(endpoint=endpoint, **_valid(WebhookRotateIn, request.data))
        return Response({"secret": secret})


class EndpointTestApi(APIView):
    """Send a ``webhook.test`` event to this endpoint now."""

    permission_classes = [IsOrgAdmin]

    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={202: WebhookTestOut, **CHANGE_ERRORS})
    @idempotent
    def post(self, request, endpoint_id):
        endpoint = queries.endpoint_for(request.membership.organization_id, endpoint_id)
        delivery = services.endpoint_send_test(endpoint=endpoint, user_id=request.user.pk)
        return Response({"delivery_id": delivery.pk, "webhook_id": delivery.webhook_id}, status=202)


class EndpointDeliveriesApi(ListAPIView):
    """The endpoint's webhooks, newest first, with their attempts; filters: status, event_type, since, until."""

    permission_classes = [IsOrgAdmin]
    serializer_class = WebhookDeliveryOut
    pagination_class = ById
    queryset = WebhookDelivery.objects.none()  # for the schema generator

    @extend_schema(parameters=[WebhookDeliveryFilterIn])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        endpoint = queries.endpoint_for(self.request.membership.organization_id, self.kwargs["endpoint_id"])
        filters = _valid(WebhookDeliveryFilterIn, self.request.query_params)
        return queries.deliveries_for(endpoint, **filters).prefetch_related("attempt_log")


class EndpointReplayApi(APIView):
    """Send again the endpoint's webhooks of events in a window: only the failed ones, or everything."""

    permission_classes = [IsOrgAdmin]

    @extend_schema(request=WebhookReplayIn, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={200: WebhookReplayOut, **CHANGE_ERRORS})
    @idempotent
    def post(self, request, endpoint_id):
        endpoint = queries.endpoint_for(request.membership.organization_id, endpoint_id)
        replayed = services.endpoint_replay(endpoint=endpoint, **_valid(WebhookReplayIn, request.data))
        return Response({"replayed": replayed})


class WebhookDeliveryReplayApi(APIView):
    """Send one webhook again (same webhook-id); 409 while it is still waiting to be sent."""

    permission_classes = [IsOrgAdmin]

    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={200: WebhookReplayOut, **CHANGE_ERRORS})
    @idempotent
    def post(self, request, webhook_delivery_id):
        delivery = queries.delivery_for(request.membership.organization_id, webhook_delivery_id)
        return Response({"replayed": services.webhook_replay(delivery=delivery)})
