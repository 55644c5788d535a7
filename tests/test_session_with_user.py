"""A page reads its session and the session's user in one statement once the process has seen the
key (``organizations.sessions``), and that changes nothing a session guarantees: the user is as
fresh as a read of its own (deactivated, password changed, membership gone: out on the next
request), a logout ends the session, another user's login on the same browser is that user, and
a user read with one session is never handed to another user's ``get_user``."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from expenses.tests.factories import make_team
from organizations.authentication import MemberModelBackend, holding

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-test-password-1"


def _log_in(client, member) -> None:
    member.user.set_password(PASSWORD)
    member.user.save()
    response = client.post("/login/", {"username": member.user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]


def _statements(client, path: str):
    with CaptureQueriesContext(connection) as read:
        response = client.get(path)
    return response, [q["sql"] for q in read.captured_queries]


def test_a_known_session_reads_its_user_in_the_same_statement(client):
    team = make_team()
    _log_in(client, team.manager)
    client.get("/approvals/")  # the process learns whose key it is
    response, sql = _statements(client, "/approvals/")
    assert response.status_code == 200 and team.manager.user.username in response.content.decode()
    session_reads = [s for s in sql if '"django_session"' in s]
    assert len(session_reads) == 1 and "LATERAL" in session_reads[0]
    assert not [s for s in sql if s.startswith('SELECT t0."id", t0."password"')]  # no user read of its own


@pytest.mark.parametrize("change", ["deactivated", "password", "membership"])
def test_a_change_to_the_user_is_seen_on_the_very_next_request(client, change):
    team = make_team()
    _log_in(client, team.manager)
    assert client.get("/approvals/").status_code == 200
    assert client.get("/approvals/").status_code == 200  # read with the session now
    user = get_user_model().objects.get(pk=team.manager.user.pk)
    if change == "deactivated":
        user.is_active = False
        user.save()
    elif change == "password":
        user.set_password("another-long-password-2")
        user.save()
    else:
        team.manager.delete()
    response = client.get("/approvals/")
    if change == "membership":
        assert response.status_code == 403  # signed in, but no longer a member
    else:
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_logout_ends_the_session_and_another_login_is_that_user(client):
    team = make_team()
    _log_in(client, team.manager)
    client.get("/approvals/")
    old_cookie = client.cookies["sessionid"].value
    client.post("/logout/")
    client.cookies["sessionid"] = old_cookie  # the old cookie, replayed
    assert client.get("/approvals/").status_code == 302

    _log_in(client, team.finance)
    client.get("/approvals/")
    response = client.get("/approvals/")
    assert response.status_code == 200 and f"Log out {team.finance.user.username}" in response.content.decode()


def test_a_held_user_goes_only_to_its_own_get_user_and_only_while_held():
    team = make_team()
    backend = MemberModelBackend()
    manager, finance = team.manager.user, team.finance.user
    stale = get_user_model().objects.get(pk=manager.pk)
    stale.username = "held-copy"
    with holding((str(manager.pk), stale)):
        assert backend.get_user(finance.pk).pk == finance.pk  # another id: read from the database
        assert backend.get_user(manager.pk) is stale  # its own id, while held
    assert backend.get_user(manager.pk).username == manager.username  # after: read again


def test_a_session_read_outside_a_request_hands_nobody_on(client):
    """A websocket's session check (web.consumers) reads the session too: the user it brought
    is kept on that store only, never for a later get_user on the same thread."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    team = make_team()
    _log_in(client, team.manager)
    client.get("/approvals/")
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(client.cookies["sessionid"].value)
    store.load()
    assert store.session_user is not None and store.session_user[0] == str(team.manager.user.pk)
    get_user_model().objects.filter(pk=team.manager.user.pk).update(is_active=False)
    assert MemberModelBackend().get_user(team.manager.user.pk) is None  # read now: deactivated


def test_a_column_registered_after_a_session_was_read_lands_on_its_own_attribute(client):
    """The joined statement is built from get_user's as it is now: a column registered later is
    a new statement, never the old one's columns read under new names."""
    from organizations import authentication

    team = make_team()
    _log_in(client, team.manager)
    client.get("/approvals/")
    client.get("/approvals/")  # the joined read, built
    saved = dict(authentication._session_user_columns)
    try:
        authentication.read_with_the_session_user("answer", "SELECT 42")
        client.get("/approvals/")
        user = client.get("/approvals/").wsgi_request.user
        assert user.answer == 42 and isinstance(user.unread_count, int)
    finally:
        authentication._session_user_columns.clear()
        authentication._session_user_columns.update(saved)
        authentication._user_with_membership.cache_clear()
