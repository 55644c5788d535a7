"""Oversized bodies are refused before they are read: 413 in the API's error shape, from the
ASGI application the web server runs (Django's handler would read the body whole first)."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync

from config.asgi import application

pytestmark = pytest.mark.django_db


def call(path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]):
    """Send one HTTP request to the ASGI app; returns (status, body, how many chunks it read)."""
    read = 0
    sent = []

    async def receive():
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        await asyncio.Event().wait()  # the client stays connected until the answer (Django listens)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 5000),
             "server": ("testserver", 80)}
    async_to_sync(application)(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, read


def test_a_13_mb_json_body_is_refused_with_413_unread(settings):
    status, body, read = call("/api/v1/expenses/", [(b"content-type", b"application/json"),
                                                    (b"content-length", str(13 * 1024 * 1024).encode())],
                              [b"{}"])
    assert status == 413 and read == 0
    answer = json.loads(body)
    assert answer["code"] == "request_too_large" and set(answer) == {"code", "message", "details"}
    assert answer["details"]["max_bytes"] == settings.REQUEST_BODY_MAX_BYTES


def test_a_30_mb_upload_is_refused_before_its_first_byte():
    status, body, read = call("/api/v1/expenses/00000000-0000-4000-8000-000000000000/receipt/",
                              [(b"content-type", b"multipart/form-data; boundary=x"),
                               (b"content-length", str(30 * 1024 * 1024).encode())], [b"--x"])
    assert status == 413 and read == 0 and json.loads(body)["code"] == "request_too_large"


def test_a_body_without_a_length_is_cut_off_at_the_limit(settings):
    settings.REQUEST_BODY_MAX_BYTES = 1000
    chunks = [b"x" * 600] * 10  # 6000 bytes, chunked
    status, body, read = call("/api/v1/expenses/", [(b"content-type", b"application/json")], chunks)
    assert status == 413 and read == 2 and json.loads(body)["code"] == "request_too_large"


def test_a_body_within_the_limit_reaches_the_api():
    status, body, _ = call("/api/v1/auth/token/", [(b"content-type", b"application/json"),
                                                   (b"content-length", b"2")], [b"{}"])
    assert status == 400 and json.loads(body)["code"] == "invalid"
