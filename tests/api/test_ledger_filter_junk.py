"""Junk in an account ledger's filters is a 400 with the error shape, never a 500 (schemathesis
found one: a control character in date_to with an amount in other scripts' digits)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounting.models import Account
from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("query", [
    {"date_to": "\x15Ø;\x98ÿ", "amount_max": "\U000fabf5mkûµß\U000ef59f¨9©J%"},
    {"date_to": "\x15Ø;\x98ÿ"},
    {"amount_max": "\U000fabf5mkûµß\U000ef59f¨9©J%"},
    {"date_from": "2026-13-45", "amount_min": "1e3"},
])
def test_junk_in_an_account_ledgers_filters_is_a_400(query):
    team = make_team()
    account = Account.objects.create(organization=team.org, code="6000", name="Travel", kind="expense")
    client = APIClient()
    client.force_authenticate(team.finance.user)
    response = client.get(f"/api/v1/ledger/accounts/{account.pk}/", query)
    assert response.status_code == 400, response.content
    assert set(response.json()) == {"code", "message", "details"}
