"""Authentication: tokens (obtain with username and password, revoke), and the session the UI
uses, which needs a CSRF token for anything that writes."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from expenses.tests.factories import make_team
from organizations.tests.factories import MembershipFactory

PASSWORD = "outlay-test-password"
ERROR_KEYS = {"code", "message", "details"}


def obtain(username: str, password: str = PASSWORD):
    return APIClient().post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.django_db
def test_a_token_obtained_with_username_and_password_authenticates(redis_client):
    member = MembershipFactory()

    response = obtain(member.user.username)

    assert response.status_code == 200 and set(response.json()) == {"token"}
    assert with_token(response.json()["token"]).get("/api/v1/expenses/").status_code == 200


@pytest.mark.django_db
def test_obtaining_twice_returns_the_same_token(redis_client):
    member = MembershipFactory()
    assert obtain(member.user.username).json() == obtain(member.user.username).json()
    assert Token.objects.filter(user=member.user).count() == 1


@pytest.mark.django_db
def test_a_wrong_password_gets_401_and_no_token(redis_client):
    member = MembershipFactory()

    response = obtain(member.user.username, "not-the-password")

    assert response.status_code == 401 and response.json()["code"] == "authentication_failed"
    assert set(response.json()) == ERROR_KEYS
    assert not Token.objects.exists()


@pytest.mark.django_db
def test_revoking_a_token_makes_it_useless(redis_client):
    member = MembershipFactory()
    key = obtain(member.user.username).json()["token"]
    client = with_token(key)

    revoked = client.delete("/api/v1/auth/token/")

    assert revoked.status_code == 204
    refused = client.get("/api/v1/expenses/")
    assert refused.status_code == 401 and refused.json()["code"] == "authentication_failed"
    assert not Token.objects.filter(user=member.user).exists()
    assert obtain(member.user.username).json()["token"] != key  # a new login gets a new token


@pytest.mark.django_db
def test_revoking_without_a_token_is_401(redis_client):
    response = APIClient().delete("/api/v1/auth/token/")
    assert response.status_code == 401 and set(response.json()) == ERROR_KEYS


@pytest.mark.django_db
def test_guessing_passwords_is_throttled_per_ip(redis_client, settings):
    settings.LOGIN_MAX_FAILURES = 1000  # the per-address request throttle, not the lock-out (access/tests)
    member = MembershipFactory()
    answers = [obtain(member.user.username, f"guess-{n}").status_code for n in range(11)]

    assert answers == [401] * 10 + [429]
    throttled = obtain(member.user.username)  # even the right password, until the window passes
    assert throttled.status_code == 429 and throttled.json()["code"] == "throttled"
    assert throttled.json()["details"]["retry_after_seconds"] > 0 and "Retry-After" in throttled


@pytest.mark.django_db
def test_a_session_reads_but_needs_csrf_to_write(redis_client):
    team = make_team()
    expense = team.expense(submit=True)
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(team.manager.user)  # a real session cookie, as after /login/

    assert browser.get(f"/api/v1/expenses/{expense.pk}/").status_code == 200
    refused = browser.post(f"/api/v1/expenses/{expense.pk}/approve/", {}, format="json")

    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert "CSRF" in refused.json()["message"]
    expense.refresh_from_db()
    assert expense.state == "submitted"


@pytest.mark.django_db
def test_a_token_reads_its_user_membership_and_organisation_in_one_statement(redis_client, django_assert_num_queries):
    from organizations.authentication import MemberTokenAuthentication

    member = MembershipFactory()
    key = Token.objects.create(user=member.user).key
    with django_assert_num_queries(1):
        user, token = MemberTokenAuthentication().authenticate_credentials(key)
        assert (token.key, user.pk, user.membership.pk) == (key, member.user.pk, member.pk)
        assert user.membership.organization.name == member.organization.name


@pytest.mark.django_db
def test_an_unknown_token_or_an_inactive_user_is_401_in_the_one_error_shape(redis_client):
    member = MembershipFactory()
    key = Token.objects.create(user=member.user).key
    for bad in ("0" * 40, "x" * 41, "' OR 1=1 --"):
        response = with_token(bad).get("/api/v1/expenses/")
        assert response.status_code == 401 and set(response.json()) == ERROR_KEYS, bad
    member.user.is_active = False
    member.user.save(update_fields=["is_active"])
    response = with_token(key).get("/api/v1/expenses/")
    assert response.status_code == 401 and set(response.json()) == ERROR_KEYS
