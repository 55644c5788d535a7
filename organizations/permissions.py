"""DRF permissions by role. Anonymous callers get 401 (IsAuthenticated runs first), members of
no organisation 403. Objects of another organisation are never looked up: queries are scoped,
so they are 404s."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from .models import Role
from .queries import membership_for_user


class IsMember(BasePermission):
    """An authenticated user with an active membership; the view finds it at ``request.membership``."""

    message = "You are not a member of an organisation."
    roles: tuple[str, ...] = ()

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        membership = membership_for_user(request.user)
        request.membership = membership
        return membership is not None and (not self.roles or membership.role in self.roles)


class IsManager(IsMember):
    message = "Only managers and organisation admins can do this."
    roles = (Role.MANAGER, Role.ADMIN)


class IsFinance(IsMember):
    message = "Only finance and organisation admins can do this."
    roles = (Role.FINANCE, Role.ADMIN)


class IsApprover(IsMember):
    message = "Only approvers (managers, finance, admins) can do this."
    roles = (Role.MANAGER, Role.FINANCE, Role.ADMIN)


class IsOrgAdmin(IsMember):
    message = "Only organisation admins can do this."
    roles = (Role.ADMIN,)
