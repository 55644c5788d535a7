"""The live websocket: lossy hints to open pages ("something changed, re-read over HTTP").

Authenticated by the session (AuthMiddlewareStack), origin checked by AllowedHostsOriginValidator
(config/asgi.py). A connection joins its user's group and its organisation's role group; it may
ask for an expense's group, and joins only if the user may see that expense."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.errors import NotFound
from events.hints import aggregate_group
from expenses.queries import expense_detail
from organizations.queries import membership_for_user


def role_group(membership) -> str:
    return f"org.{membership.organization_id}.{membership.role}"


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        membership = await database_sync_to_async(membership_for_user)(user) if user else None
        if membership is None:
            await self.close(code=4401)
            return
        self.membership = membership
        self.joined: list[str] = []
        await self.accept()
        for group in (f"user.{user.pk}", role_group(membership)):
            await self._join(group)

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.append(group)

    async def receive_json(self, content, **kwargs):
        if content.get("subscribe") != "expense":
            await self.send_json({"type": "error", "message": "unknown request"})
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

    async def events_delivery(self, message):
        await self.send_json({"type": "delivery", "event_type": message.get("event_type"),
                              "subscriber": message.get("subscriber")})

    async def notifications_new(self, message):
        await self.send_json({"type": "notifications", "unread": message.get("unread")})
