from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IDEMPOTENCY_KEY_PARAMETER, error_responses
from core.idempotency import idempotent
from organizations.permissions import IsMember

from . import queries, services
from .models import Notification


class NotificationOut(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "link", "created_at", "read_at"]


class ReadAllOut(serializers.Serializer):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()


class EmptyIn(serializers.Serializer):
    pass


class NotificationListApi(ListAPIView):
    """Your notifications, newest first."""

    permission_classes = [IsMember]
    serializer_class = NotificationOut

    queryset = Notification.objects.none()  # for the schema generator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return queries.notifications_for(self.request.user)


class NotificationReadApi(APIView):
    permission_classes = [IsMember]

    @extend_schema(request=EmptyIn, responses={200: NotificationOut, **error_responses(400, 401, 403, 404, 409, 422)},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request, notification_id):
        note = services.notification_mark_read(user=request.user, notification_id=notification_id)
        return Response(NotificationOut(note).data)


class NotificationReadAllApi(APIView):
    permission_classes = [IsMember]

    @extend_schema(request=EmptyIn, responses={200: ReadAllOut, **error_responses(400, 401, 403, 409, 422)},
                   parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request):
        marked = services.notification_mark_all_read(user=request.user)
        return Response({"marked": marked, "unread": queries.unread_count(request.user)})


class PreferenceOut(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    in_app = serializers.BooleanField()
    email = serializers.BooleanField()
    digest = serializers.BooleanField(help_text="expense_submitted only: one daily digest instead of one "
                                                "notification per submission.")
    can_digest = serializers.BooleanField()


class PreferenceIn(serializers.Serializer):
    in_app = serializers.BooleanField()
    email = serializers.BooleanField()
    digest = serializers.BooleanField(default=False)


class PreferenceListApi(APIView):
    """Your notification preferences, one per kind (without a saved choice: in-app and e-mail on)."""

    permission_classes = [IsMember]

    @extend_schema(responses={200: PreferenceOut(many=True), **error_responses(401, 403)})
    def get(self, request):
        return Response(PreferenceOut(queries.preferences_table(request.user), many=True).data)


class PreferenceApi(APIView):
    """Set your preference for one kind of notification."""

    permission_classes = [IsMember]

    @extend_schema(request=PreferenceIn, responses={200: PreferenceOut, **error_responses(400, 401, 403, 404, 429)})
    def put(self, request, kind):
        serializer = PreferenceIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.preference_set(user=request.user, kind=kind, **serializer.validated_data)
        row = next(r for r in queries.preferences_table(request.user) if r["kind"] == kind)
        return Response(PreferenceOut(row).data)
