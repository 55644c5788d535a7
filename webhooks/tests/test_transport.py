"""The HTTP side of a webhook try against real sockets on 127.0.0.1: SSRF refusals (nothing
leaves), no redirects, the response cap, and what each answer means (``judge``)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from webhooks import transport
from webhooks.models import WebhookStatus
from webhooks.sending import judge


class _Server:
    """Counts every TCP connection it accepts; answers with what ``reply`` says."""

    def __init__(self, family=socket.AF_INET, host="127.0.0.1", reply=(200, {}, b"ok")):
        self.connections = 0
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                outer.connections += 1
                super().setup()

            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", "0")))
                outer.paths.append(self.path)
                status, headers, body = reply
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            address_family = family

        self.server = Server((host, 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_allowed(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    return settings


@pytest.fixture
def v4():
    server = _Server()
    yield server
    server.stop()


@pytest.fixture
def v6():
    server = _Server(socket.AF_INET6, "::1")
    yield server
    server.stop()


def test_private_loopback_and_link_local_addresses_are_refused_and_no_request_leaves(http_allowed, v4, v6,
                                                                                     monkeypatch):
    urls = [f"http://127.0.0.1:{v4.port}/h", "http://10.0.0.1/h", "http://169.254.169.254/latest/meta-data",
            f"http://[::1]:{v6.port}/h", f"http://localhost:{v4.port}/h"]
    opened = []
    real_socket = socket.socket

    class NoSocket(real_socket):
        def __init__(self, *args, **kwargs):
            opened.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(transport.socket, "socket", NoSocket)
    for url in urls:
        response = transport.post(url, b"{}", {"content-type": "application/json"})
        assert response.blocked and response.status is None, url
        assert "not a public address" in response.error or "not sent" in response.error, url
    assert opened == []  # no socket was even created, so no SYN went anywhere
    assert v4.connections == 0 and v6.connections == 0


def test_a_name_is_checked_at_send_time_against_what_it_resolves_to(http_allowed, v4, monkeypatch):
    # The endpoint was saved while the name looked public; now it resolves to loopback (rebinding).
    assert transport.url_refusal(f"http://rebind.example:{v4.port}/h") is None
    real = socket.getaddrinfo

    def rebound(host, *args, **kwargs):
        return real("127.0.0.1" if host == "rebind.example" else host, *args, **kwargs)

    monkeypatch.setattr(transport.socket, "getaddrinfo", rebound)
    response = transport.post(f"http://rebind.example:{v4.port}/h", b"{}", {})
    assert response.blocked and "127.0.0.1" in response.error
    assert v4.connections == 0


def test_private_networks_setting_lets_a_local_receiver_through(http_allowed, v4):
    http_allowed.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    response = transport.post(f"http://localhost:{v4.port}/h?x=1", b"{}", {})
    assert response.status == 200 and not response.blocked
    assert v4.paths == ["/h?x=1"]


def test_http_is_refused_unless_allowed(settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    assert transport.url_refusal("http://example.com/h") == "webhook URLs must use https"
    assert transport.url_refusal("https://example.com/h") is None
    assert transport.url_refusal("https://user:pw@example.com/h") == "the URL must not carry credentials"
    assert transport.post("http://example.com/h", b"{}", {}).blocked


def test_redirects_are_not_followed(http_allowed):
    http_allowed.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    target = _Server()
    redirecting = _Server(reply=(302, {"Location": f"http://127.0.0.1:{target.port}/else"}, b""))
    try:
        response = transport.post(f"http://127.0.0.1:{redirecting.port}/h", b"{}", {})
        assert response.status == 302
        assert target.connections == 0
        assert judge(response, 1).status == WebhookStatus.FAILED
    finally:
        target.stop()
        redirecting.stop()


def test_response_body_is_capped_and_two_kilobytes_are_kept(http_allowed):
    http_allowed.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    http_allowed.WEBHOOK_MAX_RESPONSE_BYTES = 16384
    big = _Server(reply=(200, {}, b"x" * 1_000_000))
    try:
        response = transport.post(f"http://127.0.0.1:{big.port}/h", b"{}", {})
        assert response.status == 200 and len(response.body) == 2048
    finally:
        big.stop()


def _response(status, retry_after=None):
    return transport.Response(status=status, body="", duration_ms=3, retry_after=retry_after)


@pytest.mark.parametrize(("status", "expected"), [
    (200, "delivered"), (204, "delivered"), (299, "delivered"),
    (410, "dead"), (400, "dead"), (401, "dead"), (404, "dead"), (422, "dead"),
    (408, "failed"), (409, "failed"), (425, "failed"), (429, "failed"),
    (301, "failed"), (500, "failed"), (503, "failed"), (None, "failed"),
])
def test_what_each_answer_means(settings, status, expected):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 5, 300]
    assert judge(_response(status), 1).status == expected


def test_410_disables_the_endpoint_and_other_refusals_do_not(settings):
    assert judge(_response(410), 1).disable_reason
    assert not judge(_response(400), 1).disable_reason


def test_retries_follow_the_schedule_with_jitter_and_end_dead(settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 5, 300]
    settings.WEBHOOK_RETRY_JITTER = 0.1
    before = timezone.now()
    first = judge(_response(500), 1).next_attempt_at
    second = judge(_response(500), 2).next_attempt_at
    assert before + dt.timedelta(seconds=4.5) <= first <= timezone.now() + dt.timedelta(seconds=5.5)
    assert before + dt.timedelta(seconds=270) <= second <= timezone.now() + dt.timedelta(seconds=330)
    assert judge(_response(500), 3).status == WebhookStatus.DEAD


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_for_429_and_503(settings, status):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0.5, 0.5]
    before = timezone.now()
    assert judge(_response(status, retry_after=7), 1).next_attempt_at >= before + dt.timedelta(seconds=7)
    # not for a 500, which has no such contract
    assert judge(_response(500, retry_after=7), 1).next_attempt_at < before + dt.timedelta(seconds=7)


def test_retry_after_reads_seconds_and_http_dates():
    assert transport.retry_after_seconds("7") == 7
    assert transport.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert transport.retry_after_seconds("soon") is None
