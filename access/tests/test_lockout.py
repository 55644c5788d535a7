"""One lock-out for every way in (web log-in, admin log-in, API token), shared counters, one
window; the lock-out says when it ends, is audited and told to the account's owner."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEntry
from events.models import Delivery, DeliveryStatus, Event
from events.running import run_delivery
from notifications.models import EmailMessage, Kind, Notification
from organizations.tests.factories import MembershipFactory

PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def owner(db, redis_client, settings):
    settings.LOGIN_MAX_FAILURES = 3
    settings.LOGIN_FAILURE_WINDOW = 900
    member = MembershipFactory(user__username="owner", user__email="owner@example.com")
    member.user.set_password(PASSWORD)
    member.user.is_staff = member.user.is_superuser = True
    member.user.save()
    return member


def web_login(password: str, *, ip: str = "203.0.113.7", **headers):
    client = Client(REMOTE_ADDR=ip, **headers)
    response = client.post("/login/", {"username": "owner", "password": password})
    return response, "_auth_user_id" in client.session


def admin_login(password: str, *, ip: str = "203.0.113.7"):
    client = Client(REMOTE_ADDR=ip)
    response = client.post("/admin/login/?next=/admin/", {"username": "owner", "password": password})
    return response, "_auth_user_id" in client.session


def token(password: str, *, ip: str = "203.0.113.7", **headers):
    return APIClient(REMOTE_ADDR=ip, **headers).post("/api/v1/auth/token/", {"username": "owner", "password": password},
                                                     format="json")


def test_failures_on_the_token_endpoint_lock_the_web_login(owner):
    for i in range(3):
        assert token(f"guess-{i}").status_code in (401, 429)
    response, logged_in = web_login(PASSWORD, ip="198.51.100.20")
    assert response.status_code == 429 and not logged_in


def test_a_web_lock_out_refuses_the_right_password_on_the_token_endpoint(owner):
    for i in range(3):
        web_login(f"guess-{i}")
    response = token(PASSWORD, ip="198.51.100.20")
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "locked_out" and set(body) == {"code", "message", "details"}
    assert body["details"]["locked_until"] and int(response["Retry-After"]) > 800
    assert "token" not in body


def test_the_admin_login_is_locked_out_too(owner):
    for i in range(3):
        admin_login(f"guess-{i}")
    response, logged_in = admin_login(PASSWORD, ip="198.51.100.20")
    assert response.status_code == 429 and not logged_in


def test_admin_failures_count_toward_the_token_lock_out(owner):
    admin_login("guess-1")
    web_login("guess-2")
    assert token("guess-3").status_code == 429  # the third failure, whichever way in, locks
    assert token(PASSWORD, ip="198.51.100.20").status_code == 429


def test_the_lock_out_page_says_when_it_ends(owner):
    for i in range(3):
        web_login(f"guess-{i}")
    response, _ = web_login(PASSWORD)
    text = response.content.decode()
    assert response.status_code == 429
    assert "locked until" in text and "<time datetime=" in text


def test_without_a_lock_out_the_right_password_still_logs_in(owner):
    for i in range(2):
        web_login(f"guess-{i}")
    assert web_login(PASSWORD)[1]
    assert token(PASSWORD).status_code == 200


def test_a_lock_out_is_audited_once_and_told_to_the_owner(owner):
    for i in range(3):
        web_login(f"guess-{i}")
    for i in range(3):  # refused during the lock-out: not a second lock-out
        token(f"more-{i}")
    (event,) = Event.objects.filter(type="account.locked_out")
    assert event.payload["user_id"] == owner.user_id and event.payload["failures"] == 3
    assert event.organization_id == owner.organization_id
    for pk in Delivery.objects.filter(event=event, status=DeliveryStatus.PENDING).values_list("pk", flat=True):
        assert run_delivery(pk) == "done"
    (entry,) = AuditEntry.objects.filter(event_id=event.pk)
    assert entry.action == "account.locked_out" and entry.origin_ip == "203.0.113.7"
    (note,) = Notification.objects.filter(recipient=owner.user, kind=Kind.ACCOUNT_LOCKED)
    assert "locked until" in note.title and "203.0.113.7" in note.body
    assert EmailMessage.objects.filter(kind=Kind.ACCOUNT_LOCKED, to=owner.user.email).count() == 1


def test_an_address_lock_out_of_other_accounts_publishes_no_account_event(owner):
    for i in range(12):  # 4 x 3 failures from one address, no account reaching 3
        Client(REMOTE_ADDR="203.0.113.9").post("/login/", {"username": f"someone-{i}", "password": "x"})
    response, logged_in = web_login(PASSWORD, ip="203.0.113.9")
    assert response.status_code == 429 and not logged_in
    assert not Event.objects.filter(type="account.locked_out").exists()
    assert web_login(PASSWORD, ip="203.0.113.10")[1]  # the account itself is not locked


# --- TRUSTED_PROXIES: whose X-Forwarded-For counts ---------------------------------------------

def test_a_forwarded_header_from_an_untrusted_peer_is_ignored(owner, settings):
    settings.TRUSTED_PROXIES = []
    for i in range(12):  # a new X-Forwarded-For each time, from one real address
        Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").post(
            "/login/", {"username": f"someone-{i}", "password": "x"})
    assert web_login(PASSWORD, ip="203.0.113.9", HTTP_X_FORWARDED_FOR="192.0.2.200")[0].status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(owner, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for i in range(12):
        Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.1").post(
            "/login/", {"username": f"someone-{i}", "password": "x"})
    # the client behind the proxy is locked out; another client behind the same proxy is not
    assert web_login(PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9")[0].status_code == 429
    assert web_login(PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.5")[1]


def test_the_token_throttle_keys_on_the_real_address(owner, settings):
    settings.LOGIN_MAX_FAILURES = 1000  # the throttle, not the lock-out
    statuses = [token(f"guess-{i}", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code for i in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
