"""The live websocket: session-authenticated, origin-checked, and it joins only the groups the
user may see — their own user group, their organisation's role group, and the expenses they
may see. Runs the real ASGI application against the real Redis channel layer."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.layers import get_channel_layer
from django.test import Client

from config.asgi import application
from events.hints import aggregate_group
from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://testserver")


class Socket(ApplicationCommunicator):
    """A websocket client speaking ASGI to the application (channels.testing would pull in daphne)."""

    def __init__(self, headers):
        super().__init__(application, {"type": "websocket", "path": "/ws/live/", "raw_path": b"/ws/live/",
                                       "query_string": b"", "headers": headers, "subprotocols": [],
                                       "client": ("127.0.0.1", 40000), "server": ("testserver", 80)})

    async def connect(self):
        await self.send_input({"type": "websocket.connect"})
        answer = await self.receive_output(5)
        return answer["type"] == "websocket.accept", answer.get("code")

    async def send_json_to(self, data):
        await self.send_input({"type": "websocket.receive", "text": json.dumps(data)})

    async def receive_json_from(self, timeout=3):
        answer = await self.receive_output(timeout)
        assert answer["type"] == "websocket.send", answer
        return json.loads(answer["text"])

    async def disconnect(self):
        await self.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.wait(2)


def _headers(member=None, origin=ORIGIN):
    headers = [(b"host", b"testserver")] + ([origin] if origin else [])
    if member is not None:
        client = Client()
        client.force_login(member.user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


def _run(scenario):
    """Run an async scenario with a communicator on /ws/live/ (always disconnected)."""

    async def wrapper():
        communicator = Socket(scenario.headers)
        try:
            return await scenario(communicator)
        finally:
            await communicator.disconnect()

    return async_to_sync(wrapper)()


def _scenario(headers):
    def decorate(coroutine):
        coroutine.headers = headers
        return coroutine

    return decorate


def test_an_anonymous_connection_is_refused():
    @_scenario(_headers())
    async def scenario(ws):
        return await ws.connect()

    connected, code = _run(scenario)
    assert connected is False and code == 4401


def test_a_foreign_origin_is_refused_even_with_a_session():
    team = make_team()

    @_scenario(_headers(team.manager, origin=(b"origin", b"http://evil.example")))
    async def scenario(ws):
        return await ws.connect()

    connected, _ = _run(scenario)
    assert connected is False


def test_a_member_hears_their_own_user_group_and_their_role_group():
    team = make_team()
    layer = get_channel_layer()

    @_scenario(_headers(team.manager))
    async def scenario(ws):
        connected, _ = await ws.connect()
        await layer.group_send(f"user.{team.manager.user_id}", {"type": "notifications.new", "unread": 3})
        first = await ws.receive_json_from(timeout=3)
        await layer.group_send(f"org.{team.org.pk}.manager", {"type": "events.delivery",
                                                             "event_type": "expense.submitted", "subscriber": "x"})
        second = await ws.receive_json_from(timeout=3)
        return connected, first, second

    connected, first, second = _run(scenario)
    assert connected
    assert first == {"type": "notifications", "unread": 3}
    assert second == {"type": "delivery", "event_type": "expense.submitted", "subscriber": "x"}


def test_subscribing_to_a_visible_expense_joins_its_group():
    team = make_team()
    expense = team.expense(submit=True)
    layer = get_channel_layer()

    @_scenario(_headers(team.manager))
    async def scenario(ws):
        await ws.connect()
        await ws.send_json_to({"subscribe": "expense", "id": str(expense.pk)})
        answer = await ws.receive_json_from(timeout=3)
        await layer.group_send(aggregate_group("expense", str(expense.pk)), {
            "type": "events.delivery", "event_type": "expense.approved", "subscriber": "audit.record"})
        hint = await ws.receive_json_from(timeout=3)
        return answer, hint

    answer, hint = _run(scenario)
    assert answer == {"type": "subscribed", "subscribe": "expense", "id": str(expense.pk)}
    assert hint == {"type": "delivery", "event_type": "expense.approved", "subscriber": "audit.record"}


@pytest.mark.parametrize("whose", ["another organisation", "a colleague (employee)", "not an id"])
def test_subscribing_to_an_expense_one_may_not_see_is_refused_and_hears_nothing(whose):
    team, other = make_team(), make_team()
    target = {"another organisation": lambda: str(other.expense(submit=True).pk),
              "a colleague (employee)": lambda: str(team.expense(employee=team.colleague, submit=True).pk),
              "not an id": lambda: "../user.1"}[whose]()
    layer = get_channel_layer()

    @_scenario(_headers(team.employee))
    async def scenario(ws):
        await ws.connect()
        await ws.send_json_to({"subscribe": "expense", "id": target})
        answer = await ws.receive_json_from(timeout=3)
        await layer.group_send(aggregate_group("expense", target), {
            "type": "events.delivery", "event_type": "expense.approved", "subscriber": "audit.record"})
        heard = not await ws.receive_nothing(timeout=0.5)
        return answer, heard

    answer, heard = _run(scenario)
    assert answer == {"type": "refused", "subscribe": "expense", "id": target}
    assert heard is False


def test_an_unknown_request_gets_an_error_and_joins_nothing():
    team = make_team()

    @_scenario(_headers(team.manager))
    async def scenario(ws):
        await ws.connect()
        await ws.send_json_to({"subscribe": "user", "id": "1"})
        return await ws.receive_json_from(timeout=3)

    assert _run(scenario) == {"type": "error", "message": "unknown request"}


def test_a_member_hears_no_other_user_organisation_or_role_group():
    # The groups are chosen by the server from the session, never from the client: what is sent
    # to a colleague, to another organisation, or to the managers of one's own never arrives.
    team, other = make_team(), make_team()
    layer = get_channel_layer()
    foreign = [f"user.{team.colleague.user_id}", f"user.{other.employee.user_id}",
               f"org.{other.org.pk}.employee", f"org.{other.org.pk}.manager", f"org.{team.org.pk}.manager",
               f"org.{team.org.pk}.admin", f"org.{team.org.pk}"]

    @_scenario(_headers(team.employee))
    async def scenario(ws):
        connected, _ = await ws.connect()
        for group in foreign:
            await layer.group_send(group, {"type": "notifications.new", "unread": 99})
        heard_foreign = not await ws.receive_nothing(timeout=0.5)
        await layer.group_send(f"user.{team.employee.user_id}", {"type": "notifications.new", "unread": 1})
        own = await ws.receive_json_from(timeout=3)
        return connected, heard_foreign, own

    connected, heard_foreign, own = _run(scenario)
    assert connected
    assert heard_foreign is False
    assert own == {"type": "notifications", "unread": 1}  # the socket was listening all along
