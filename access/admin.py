"""The admin's user pages also close a user's live websockets when their access changes."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .sockets import end_user_sockets

User = get_user_model()


class OutlayUserAdmin(UserAdmin):
    """Django's user admin; deactivating a user or changing their password ends their sockets."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and ("is_active" in form.changed_data and not obj.is_active):
            end_user_sockets(obj.pk)

    def user_change_password(self, request, id, form_url=""):  # noqa: A002 - Django's signature
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            end_user_sockets(int(id))
        return response


admin.site.unregister(User)
admin.site.register(User, OutlayUserAdmin)
