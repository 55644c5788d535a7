"""Request bodies are bounded before they are read (ASGI middleware around Django).

Django's ASGI handler reads the whole body into a spooled file before any view or middleware
runs, so a 30 MB upload was read whole before the receipt's 10 MB refusal, and a 13 MB JSON body
answered Django's HTML "Bad Request (400)". This middleware answers 413 in the error shape when
the declared ``Content-Length`` is over the limit, without reading anything, and stops reading a
body without one (chunked) as soon as it passes the limit.

Limits: ``REQUEST_UPLOAD_MAX_BYTES`` for ``multipart/form-data`` (a receipt and its form),
``REQUEST_BODY_MAX_BYTES`` for every other body.
"""

from __future__ import annotations

import json

from django.conf import settings


class BodyTooLarge(Exception):
    pass


def _limit(headers: dict[bytes, bytes]) -> int:
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type == b"multipart/form-data":
        return settings.REQUEST_UPLOAD_MAX_BYTES
    return settings.REQUEST_BODY_MAX_BYTES


def too_large_body(limit: int) -> bytes:
    return json.dumps({"code": "request_too_large",
                       "message": f"The request body is larger than {limit} bytes.",
                       "details": {"max_bytes": limit}}).encode()


class RequestBodyLimit:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        limit = _limit(headers)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await self._refuse(send, limit)
        received = 0
        started = False

        async def bounded_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send, limit: int) -> None:
        body = too_large_body(limit)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
