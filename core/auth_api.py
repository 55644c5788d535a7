"""API tokens: obtain with username and password, revoke with the token itself."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .api import error_responses
from .errors import DomainError
from .throttles import AnonThrottle


class CredentialsIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False, style={"input_type": "password"})


class TokenOut(serializers.Serializer):
    token = serializers.CharField()


class TokenThrottle(AnonThrottle):
    """Password guessing per IP; like every throttle here it fails open when Redis is down."""

    scope = "token"
    rate = "10/minute"


class TokenApi(APIView):
    """POST: exchange username and password for a token. DELETE: revoke the token you use."""

    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle]

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else [AllowAny()]

    @extend_schema(request=CredentialsIn, responses={200: TokenOut, **error_responses(400, 401, 429)},
                   auth=[], description="429 `locked_out` (with `details.locked_until`) once the account or "
                                        "address reached the failed log-in limit, for the web and admin log-in too.")
    def post(self, request):
        data = CredentialsIn(data=request.data)
        data.is_valid(raise_exception=True)
        # Django's own request, so the lock-out (core/lockout.py) marks the request its middleware
        # sees: a locked-out account or address gets 429 with when it ends, as the web log-in does.
        user = authenticate(request._request, username=data.validated_data["username"],
                            password=data.validated_data["password"])
        if user is None:
            raise DomainError("Wrong username or password.", code="authentication_failed", http_status=401)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(request=None, responses={204: None, **error_responses(401)})
    def delete(self, request):
        Token.objects.filter(user=request.user).delete()
        return Response(status=204)
