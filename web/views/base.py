"""Helpers shared by the page views: the caller's membership, and domain errors as messages."""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from core.errors import DomainError, NotFound
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


def run_command(request, command, *, success: str = "", show_error: bool = True, about: str = "",
                **kwargs) -> tuple[Any, Any]:
    """The one way a page runs a command: a missing object (or another organisation's) is a 404;
    any other refusal is returned and, unless ``show_error`` is off, shown as an error message
    (prefixed with what it was ``about``, where one page holds several forms); ``success`` is
    shown when it went through. Returns (result, error)."""
    try:
        result = command(**kwargs)
    except NotFound as error:
        raise Http404(error.message) from None
    except DomainError as error:
        if show_error:
            messages.error(request, f"{about}: {error.message}" if about else error.message)
        return None, error
    if success:
        messages.success(request, success)
    return result, None
