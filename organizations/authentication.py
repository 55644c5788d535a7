"""Token authentication that reads the caller's membership and organisation with the token.

DRF's ``TokenAuthentication`` reads the token and its user; every API view then reads the
membership (``IsMember``) and most read its organisation: three statements before the view does
anything. This reads all four rows in one statement (``bench/profile_approve.py``: one statement
fewer on every API request). Refusals are DRF's own (401 with ``WWW-Authenticate: Token``).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token


class MemberTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        try:
            token = Token.objects.select_related("user__membership__organization").get(key=key)
        except Token.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token
