"""`/livez` is answered by the web process's event loop, never queued behind Django's threads."""

from __future__ import annotations

import asyncio

from config.health import liveness_first


async def _get(app, path: str) -> list[dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await asyncio.wait_for(app({"type": "http", "path": path, "method": "GET"}, receive, send), timeout=5)
    return sent


def test_livez_answers_while_django_hangs():
    async def django_stuck_on_a_dead_database(scope, receive, send):
        await asyncio.sleep(3600)

    sent = asyncio.run(_get(liveness_first(django_stuck_on_a_dead_database), "/livez"))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b'{"status": "ok"}'


def test_every_other_path_goes_to_django():
    seen = []

    async def django(scope, receive, send):
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent = asyncio.run(_get(liveness_first(django), "/healthz"))
    assert seen == ["/healthz"] and sent[0]["status"] == 404
