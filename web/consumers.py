"""The live websocket: lossy hints to open pages ("something changed, re-read over HTTP").

Authenticated by the session (AuthMiddlewareStack), origin checked by ``core.origin`` (scheme,
host and port: config/asgi.py). A connection joins its user's group and its organisation's role
group; it may ask for an expense's group, and joins only if the user may see that expense and
its session is still valid (logged out, password changed or deactivated: the socket is closed).
It also joins its session's and its user's "sessions" groups, through which log-out, a password
change and a deactivation close it (access/sockets.py).

Frames that are not a JSON object (a list, a number, other text, binary) get "unknown request";
nothing a client sends ends the connection but its own close."""

from __future__ import annotations

import json

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils.module_loading import import_string

from access.sockets import session_group, user_sessions_group
from core.errors import NotFound
from core.parsers import json_depth_exceeds
from events.hints import aggregate_group
from expenses.queries import expense_detail
from organizations.queries import membership_for_user

MAX_FRAME_CHARACTERS = 4096
CLOSED_SESSION = 4401


def role_group(membership) -> str:
    return f"org.{membership.organization_id}.{membership.role}"


def _session_store(session_key: str) -> SessionBase:
    return import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        membership = await database_sync_to_async(membership_for_user)(user) if user else None
        session = self.scope.get("session")
        if membership is None or session is None or not session.session_key:
            await self.close(code=CLOSED_SESSION)
            return
        self.membership = membership
        self.session_key = session.session_key
        self.joined: list[str] = []
        await self.accept()
        for group in (f"user.{user.pk}", role_group(membership), session_group(self.session_key),
                      user_sessions_group(user.pk)):
            await self._join(group)

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.append(group)

    async def _unknown(self) -> None:
        await self.send_json({"type": "error", "message": "unknown request"})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None or len(text_data) > MAX_FRAME_CHARACTERS:
            await self._unknown()
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            await self._unknown()
            return
        if not isinstance(content, dict) or json_depth_exceeds(content, 4):
            await self._unknown()
            return
        await self.receive_json(content)

    async def _session_still_valid(self) -> bool:
        """The session is still there, still this user's, with the same password, and the user
        and their membership are still active (read afresh: the scope's copy is from connect)."""
        store = _session_store(self.session_key)
        user = await get_user({"session": store})
        if not user.is_authenticated or user.pk != self.scope["user"].pk:
            return False
        return await database_sync_to_async(membership_for_user)(user) is not None

    async def receive_json(self, content, **kwargs):
        if content.get("subscribe") != "expense":
            await self._unknown()
            return
        if not await self._session_still_valid():
            await self.close(code=CLOSED_SESSION)
            return
        expense_id = str(content.get("id", ""))[:64]
        try:
            expense = await database_sync_to_async(expense_detail)(self.membership, expense_id)
        except NotFound:
            await self.send_json({"type": "refused", "subscribe": "expense", "id": expense_id})
            return
        group = aggregate_group("expense", str(expense.pk))
        if group not in self.joined:
            await self._join(group)
        await self.send_json({"type": "subscribed", "subscribe": "expense", "id": expense_id})

    async def disconnect(self, code):
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def session_end(self, message):
        await self.close(code=CLOSED_SESSION)

    async def events_delivery(self, message):
        await self.send_json({"type": "delivery", "event_type": message.get("event_type"),
                              "subscriber": message.get("subscriber")})

    async def notifications_new(self, message):
        await self.send_json({"type": "notifications", "unread": message.get("unread")})
