"""The web server's ASGI application runs Django's middleware chain and the view in one thread
hop (``config.asgi_handler``), and every middleware still does its work: sessions, CSRF,
authentication, the security headers, the error pages. Requests go through
``config.asgi.application``, the object uvicorn serves."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from asgiref import sync
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from config.asgi import application
from events.registry import FANOUT_QUEUE
from events.sending import broker_queue_length
from expenses.models import Expense, ExpenseState
from expenses.tests.factories import make_team

# The request runs on its own thread (Django's ThreadSensitiveContext), which must see the rows.
pytestmark = pytest.mark.django_db(transaction=True)


class Answer:
    def __init__(self, sent: list[dict]):
        start = next(m for m in sent if m["type"] == "http.response.start")
        self.status = start["status"]
        self.headers = [(k.decode().lower(), v.decode()) for k, v in start["headers"]]
        self.body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def cookies(self) -> dict[str, str]:
        found = {}
        for k, v in self.headers:
            if k == "set-cookie":
                name, _, rest = v.partition("=")
                found[name] = rest.split(";", 1)[0]
        return found


def call(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"",
         on_body=None) -> Answer:
    sent: list[dict] = []
    given = False

    async def receive():
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # connected until the answer

    async def send(message):
        sent.append(message)
        if on_body and message["type"] == "http.response.body" and not message.get("more_body"):
            on_body()

    raw = [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": raw, "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    async_to_sync(application)(scope, receive, send)
    return Answer(sent)


@pytest.fixture
def hops(monkeypatch):
    """How many times a request went from the event loop to a thread (``sync_to_async``)."""
    counted = []
    original = sync.SyncToAsync.__call__

    async def counting(self, *args, **kwargs):
        counted.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counting)
    return counted


def session_cookie(user) -> str:
    browser = Client()
    browser.force_login(user, backend="organizations.authentication.MemberModelBackend")
    return f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"


def test_a_page_runs_the_whole_middleware_chain_and_its_view_in_one_hop(hops):
    team = make_team()
    expense = team.expense(submit=True)
    hops.clear()

    page = call("GET", f"/expenses/{expense.pk}/", {"cookie": session_cookie(team.manager.user)})

    assert page.status == 200 and str(expense.pk).encode() in page.body
    chain = [name for name in hops if "get_response" in name or "process_" in name or "__call__" in name]
    # Django's own handler: a hop for each middleware's process_request and process_response,
    # and one for the view; here one for the whole chain.
    assert chain == ["OneHopASGIHandler.get_response"], hops
    assert len(hops) <= 4, hops  # with the request_started receivers and closing the response
    # and the middleware did their work: security headers, the CSP, clickjacking, a CSRF cookie
    assert page.header("x-frame-options") == "DENY"
    assert page.header("content-security-policy") and page.header("x-content-type-options") == "nosniff"
    assert settings.CSRF_COOKIE_NAME in page.cookies()


@pytest.mark.django_db(transaction=False)
def test_every_view_is_synchronous_so_one_hop_serves_it():
    from django.urls import URLPattern, URLResolver, get_resolver

    def views(patterns):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from views(entry.url_patterns)
            elif isinstance(entry, URLPattern):
                yield entry.callback

    found = list(views(get_resolver().url_patterns))
    assert len(found) > 50
    assert [v for v in found if asyncio.iscoroutinefunction(v) or getattr(v, "view_is_async", False)] == []


def test_csrf_and_authentication_still_guard_a_form_post():
    team = make_team()
    expense = team.expense(submit=True)
    cookie = session_cookie(team.manager.user)

    refused = call("POST", f"/expenses/{expense.pk}/approve/", {"cookie": cookie,
                                                                 "content-type": "application/x-www-form-urlencoded"})
    assert refused.status == 403
    assert Expense.objects.get(pk=expense.pk).state == ExpenseState.SUBMITTED

    page = call("GET", f"/expenses/{expense.pk}/", {"cookie": cookie})
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1).decode()
    csrf_cookie = page.cookies()[settings.CSRF_COOKIE_NAME]
    approved = call("POST", f"/expenses/{expense.pk}/approve/",
                    {"cookie": f"{cookie}; {settings.CSRF_COOKIE_NAME}={csrf_cookie}",
                     "content-type": "application/x-www-form-urlencoded"},
                    f"csrfmiddlewaretoken={token}".encode())
    assert approved.status in (200, 302), approved.body[:300]
    assert Expense.objects.get(pk=expense.pk).state == ExpenseState.APPROVED

    anonymous = call("GET", f"/expenses/{expense.pk}/")
    assert anonymous.status == 302 and "login" in anonymous.header("location")


def test_the_api_approves_and_refuses_in_its_error_shape_through_the_server_application(hops):
    team = make_team()
    expense = team.expense(submit=True)
    auth = {"authorization": f"Token {Token.objects.create(user=team.manager.user).key}",
            "content-type": "application/json"}
    hops.clear()

    approved = call("POST", f"/api/v1/expenses/{expense.pk}/approve/", auth, b"{}")

    assert approved.status == 200 and json.loads(approved.body)["state"] == "approved"
    assert [name for name in hops if "get_response" in name] == ["OneHopASGIHandler.get_response"]
    again = call("POST", f"/api/v1/expenses/{expense.pk}/approve/", auth, b"{}")
    assert again.status == 409 and set(json.loads(again.body)) == {"code", "message", "details"}
    missing = call("GET", "/api/v1/expenses/00000000-0000-4000-8000-000000000000/", auth)
    assert missing.status == 404 and json.loads(missing.body)["code"] == "not_found"


def test_the_approval_is_announced_to_the_broker_after_its_answer_was_sent(redis_client):
    team = make_team()
    expense = team.expense(submit=True)
    auth = {"authorization": f"Token {Token.objects.create(user=team.manager.user).key}",
            "content-type": "application/json"}
    before = broker_queue_length(FANOUT_QUEUE)
    waiting_when_answered = []

    approved = call("POST", f"/api/v1/expenses/{expense.pk}/approve/", auth, b"{}",
                    on_body=lambda: waiting_when_answered.append(broker_queue_length(FANOUT_QUEUE)))

    assert approved.status == 200
    assert waiting_when_answered == [before]  # the answer went first
    assert broker_queue_length(FANOUT_QUEUE) == before + 1  # then the one fan-out message


def test_a_refused_approval_through_the_server_sends_nothing_after_its_answer(redis_client):
    team = make_team(budget="10.00")
    expense = team.expense(amount="40.00", submit=True)
    auth = {"authorization": f"Token {Token.objects.create(user=team.manager.user).key}",
            "content-type": "application/json"}
    before = broker_queue_length(FANOUT_QUEUE)

    refused = call("POST", f"/api/v1/expenses/{expense.pk}/approve/", auth, b"{}")

    assert refused.status == 409 and json.loads(refused.body)["code"] == "insufficient_budget"
    assert broker_queue_length(FANOUT_QUEUE) == before


def test_the_benchmarks_synchronous_design_runs_every_delivery_before_its_answer(redis_client):
    """``make bench``'s baseline (``BENCH_SYNC_DELIVERY``, ``bench/hooks.py``) is the design the
    outbox is compared with: every subscriber inside the request. Its caller must wait for them,
    so they run at the commit, not after the response as the product's own sends do."""
    from bench.hooks import _run_in_request
    from events.models import Delivery, DeliveryStatus
    from events.sending import route_committed_deliveries

    team = make_team()
    expense = team.expense(submit=True)
    auth = {"authorization": f"Token {Token.objects.create(user=team.manager.user).key}",
            "content-type": "application/json"}
    before = broker_queue_length(FANOUT_QUEUE)
    order = []

    def run_and_note(deliveries):
        _run_in_request(deliveries)
        order.append("delivered")

    route_committed_deliveries(run_and_note, before_the_response=True)
    try:
        approved = call("POST", f"/api/v1/expenses/{expense.pk}/approve/", auth, b"{}",
                        on_body=lambda: order.append("answered"))
    finally:
        route_committed_deliveries(None)
    assert approved.status == 200
    assert order == ["delivered", "answered"]  # the caller waited for every subscriber
    statuses = set(Delivery.objects.filter(event__aggregate_id=str(expense.pk), event__type="expense.approved")
                   .values_list("status", flat=True))
    assert statuses == {DeliveryStatus.DONE}  # every subscriber of the approval ran
    assert broker_queue_length(FANOUT_QUEUE) == before  # and no message for a worker


def run_side_by_side(limit: int, requests: int, first_leaves: bool = False,
                     timings: list | None = None) -> tuple[int, list[int | None]]:
    """``requests`` concurrent requests through a handler admitting ``limit`` at a time, each
    request's chain taking 50 ms in its thread: how many ran at once at most, and the statuses
    (None: no answer). ``first_leaves``: the first request's client disconnects 10 ms in.
    ``timings`` gets each answer's Server-Timing durations, {"queue": ms, "app": ms}."""
    import threading
    import time

    from django.http import HttpResponse

    from config.asgi_handler import OneHopASGIHandler

    handler = OneHopASGIHandler()
    handler.admission_limit = limit
    running, most, lock = 0, 0, threading.Lock()

    def chain(request):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return HttpResponse("ok")

    handler._middleware_chain = chain

    async def one(leaves: bool) -> int | None:
        sent = []
        given = False

        async def receive():
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if leaves:
                await asyncio.sleep(0.01)
                return {"type": "http.disconnect"}
            await asyncio.Event().wait()

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": "/healthz", "raw_path": b"/healthz", "query_string": b"",
                 "root_path": "", "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5000),
                 "server": ("testserver", 80)}
        await handler(scope, receive, send)
        if sent and timings is not None:
            header = Answer(sent).header("server-timing") or ""
            timings.append({name: float(dur) for name, dur in re.findall(r"(\w+);dur=([\d.]+)", header)})
        return Answer(sent).status if sent else None

    async def all_of_them():
        return await asyncio.gather(*(one(first_leaves and i == 0) for i in range(requests)))

    # asyncio.run, as uvicorn runs its loop: under async_to_sync every thread-sensitive call
    # would go to the one calling thread, and the requests could not overlap at all
    statuses = asyncio.run(all_of_them())
    return most, statuses


@pytest.mark.django_db(transaction=False)
def test_a_web_process_runs_at_most_its_admission_limit_of_requests_at_once():
    most, statuses = run_side_by_side(limit=2, requests=6)
    assert statuses == [200] * 6 and most == 2  # the other four waited, and were all answered

    unlimited, statuses = run_side_by_side(limit=0, requests=6)
    assert statuses == [200] * 6 and unlimited == 6  # without the gate every request has a thread


@pytest.mark.django_db(transaction=False)
def test_each_answer_says_how_long_it_waited_at_the_gate_and_how_long_it_took():
    timings: list[dict] = []
    _, statuses = run_side_by_side(limit=1, requests=3, timings=timings)
    assert statuses == [200] * 3 and len(timings) == 3
    assert all(t["app"] >= 45 for t in timings)  # each chain sleeps 50 ms
    waits = sorted(t["queue"] for t in timings)
    assert waits[0] < 20 and waits[1] >= 40 and waits[2] >= 90  # one at a time: the 2nd and 3rd queued

    timings.clear()
    run_side_by_side(limit=0, requests=2, timings=timings)
    assert [t["queue"] for t in timings] == [0.0, 0.0] and all(t["app"] >= 45 for t in timings)


@pytest.mark.django_db(transaction=False)
def test_a_request_whose_client_left_keeps_its_place_until_its_thread_is_done():
    # Django cancels a request whose client disconnects, but its thread runs on to the end: the
    # next request is admitted only then, so the limit holds.
    most, statuses = run_side_by_side(limit=1, requests=3, first_leaves=True)
    assert most == 1 and statuses == [None, 200, 200]


@pytest.mark.django_db(transaction=False)
def test_the_admission_limit_is_a_setting():
    from config.asgi_handler import OneHopASGIHandler

    assert OneHopASGIHandler().admission_limit == settings.WEB_REQUEST_CONCURRENCY > 0
