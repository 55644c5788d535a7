"""Helpers shared by the page views: the caller's membership, and domain errors as messages."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from organizations.models import Role
from organizations.queries import membership_for_user


def member_required(*roles: str):
    """Login required, an active membership required (403 otherwise), optionally one of ``roles``.
    The view receives the membership as its second argument."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            membership = membership_for_user(request.user)
            if membership is None:
                raise PermissionDenied("You are not a member of an organisation.")
            if roles and membership.role not in roles:
                raise PermissionDenied("Your role cannot open this page.")
            return view(request, membership, *args, **kwargs)

        return wrapper

    return decorator


FINANCE = (Role.FINANCE, Role.ADMIN)
APPROVERS = (Role.MANAGER, Role.FINANCE, Role.ADMIN)


def flash_error(request, error) -> None:
    messages.error(request, error.message)


def not_found(error) -> Http404:
    return Http404(getattr(error, "message", "Not found"))
