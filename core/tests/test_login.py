"""Login throttling per account: a locked-out account is refused even with the right password."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def eve(db, redis_client):
    return get_user_model().objects.create_user(username="eve", password="correct-horse-battery")


def test_wrong_password_shows_a_message(client, eve):
    response = client.post("/login/", {"username": "eve", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_account_is_locked_after_repeated_failures(client, eve, settings):
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        client.post("/login/", {"username": "eve", "password": "nope"})

    response = client.post("/login/", {"username": "eve", "password": "correct-horse-battery"})

    assert response.status_code == 429
    assert "Too many failed log-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_throttle_can_be_shown_to_matter(client, eve, settings):
    # With the limit out of reach the same sequence logs in: the lock-out above is the throttle's doing.
    settings.LOGIN_MAX_FAILURES = 1000
    for _ in range(3):
        client.post("/login/", {"username": "eve", "password": "nope"})
    response = client.post("/login/", {"username": "eve", "password": "correct-horse-battery"})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(eve.pk)


def test_pages_carry_a_content_security_policy_without_inline_script(client, db):
    policy = client.get("/login/")["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
