"""The Standard Webhooks message: body and headers, signed with the ``standardwebhooks`` library.

Body ``{"type", "timestamp", "data"}``: ``timestamp`` is when the event occurred, ``data`` holds
the envelope ids (event id, aggregate, sequence, correlation id) and the event's ``payload``.
Headers ``webhook-id`` (stable per event x endpoint), ``webhook-timestamp`` (Unix seconds of this
try, so a retry hours later still passes a receiver's 5-minute tolerance) and
``webhook-signature``: one ``v1,<base64>`` per live secret, space-separated during a rotation.
"""

from __future__ import annotations

import datetime as dt
import json

from standardwebhooks.webhooks import Webhook


def body_for(*, event_type: str, occurred_at: dt.datetime, event_id, version: int, aggregate_type: str,
             aggregate_id: str, sequence: int, correlation_id: str, causation_id, payload: dict) -> bytes:
    document = {
        "type": event_type,
        "timestamp": occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "event_id": str(event_id), "version": version,
            "aggregate": {"type": aggregate_type, "id": aggregate_id, "sequence": sequence},
            "correlation_id": correlation_id, "causation_id": str(causation_id) if causation_id else None,
            "payload": payload,
        },
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def headers_for(*, webhook_id: str, body: bytes, secrets: list[str], now: dt.datetime) -> dict[str, str]:
    now = now.astimezone(dt.UTC)
    text = body.decode()
    signatures = " ".join(Webhook(secret).sign(webhook_id, now, text) for secret in secrets)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signatures, "content-type": "application/json",
            "user-agent": "Outlay-Webhooks/1"}
