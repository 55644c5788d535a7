"""The events the webhooks app publishes (audited like any other; never themselves sent as webhooks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from events.types import DomainEvent


@dataclass(frozen=True, kw_only=True)
class WebhookEndpointEvent(DomainEvent):
    aggregate_type: ClassVar[str] = "webhook_endpoint"
    aggregate_field: ClassVar[str] = "endpoint_id"

    endpoint_id: UUID
    organization_id: int
    url: str


@dataclass(frozen=True, kw_only=True)
class WebhookTestRequested(WebhookEndpointEvent):
    """An admin asked for a test webhook; it goes to that one endpoint only."""

    type: ClassVar[str] = "webhook.test"

    requested_by_user_id: int | None = None
    message: str = "This is a test webhook from Outlay."


@dataclass(frozen=True, kw_only=True)
class WebhookEndpointDisabled(WebhookEndpointEvent):
    """The system disabled an endpoint (410 Gone, or days of continuous failure); admins are told."""

    type: ClassVar[str] = "webhook.endpoint_disabled"

    reason: str
