"""The API's request counters (core.api): one Redis round trip, the limit held, a clear wait, and
open when Redis is down."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from core.throttles import UserThrottle
from expenses.tests.factories import make_team


class ThreeAMinute(UserThrottle):
    rate = "3/minute"


def _caller(pk: int):
    return SimpleNamespace(user=SimpleNamespace(pk=pk, is_authenticated=True))


def test_the_counter_allows_the_rate_then_says_how_long_to_wait(redis_client):
    answers = [ThreeAMinute().allow_request(_caller(1), None) for _ in range(4)]
    assert answers == [True, True, True, False]
    refused = ThreeAMinute()
    assert refused.allow_request(_caller(1), None) is False
    assert 0 < refused.wait() <= 60
    assert ThreeAMinute().allow_request(_caller(2), None) is True  # per caller
    assert int(redis_client.get("outlay:throttle_user_1")) == 5  # a counter, not a list of timestamps


def test_the_counters_fail_open_when_redis_is_unreachable(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    assert all(ThreeAMinute().allow_request(_caller(1), None) for _ in range(5))


@pytest.mark.django_db
def test_an_api_caller_over_the_limit_gets_429_with_retry_after(redis_client, monkeypatch):
    monkeypatch.setattr(UserThrottle, "rate", "2/minute", raising=False)
    team = make_team()
    client = APIClient()
    client.force_authenticate(team.employee.user)
    statuses = [client.get("/api/v1/expenses/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = client.get("/api/v1/expenses/")
    assert refused.json()["code"] == "throttled" and int(refused["Retry-After"]) > 0
