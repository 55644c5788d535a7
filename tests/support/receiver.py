"""A real HTTP receiver on 127.0.0.1 for webhook tests: it verifies every request with the
``standardwebhooks`` library, deduplicates on ``webhook-id`` as a receiver should, and answers
as the test scripts it (a status, headers, a delay)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Call:
    number: int
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    verified_with: list[int]  # indexes of the secrets whose signature verified
    received_at: float
    answered: int | None = None

    @property
    def document(self) -> dict:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


class Receiver:
    """``answer(call) -> Answer`` decides each response; ``accepted`` is the receiver's own
    dedup store: webhook-id -> document, written only for a verified request answered 2xx."""

    def __init__(self, secrets: list[str] | None = None, answer: Callable[[Call], Answer] | None = None) -> None:
        self.secrets = list(secrets or [])
        self.answer = answer or (lambda call: Answer())
        self.calls: list[Call] = []
        self.accepted: dict[str, dict] = {}
        self.accepted_order: list[str] = []
        self.duplicates = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = []
                for index, secret in enumerate(receiver.secrets):
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.append(index)
                    except WebhookVerificationError:
                        pass
                with receiver._lock:
                    call = Call(len(receiver.calls) + 1, headers.get("webhook-id", ""), headers, body, verified,
                                time.monotonic())
                    receiver.calls.append(call)
                reply = receiver.answer(call)
                # A receiver processes first and answers after: a slow answer to an accepted
                # webhook is what a sender that dies (or times out) mid-send leaves behind.
                with receiver._lock:
                    call.answered = reply.status
                    if 200 <= reply.status < 300 and verified:
                        if call.webhook_id in receiver.accepted:
                            receiver.duplicates += 1
                        else:
                            receiver.accepted[call.webhook_id] = call.document
                            receiver.accepted_order.append(call.webhook_id)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the sender gave up (timeout) or died

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def calls_for(self, webhook_id: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.webhook_id == webhook_id]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
