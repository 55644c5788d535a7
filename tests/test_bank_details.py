"""Bank details: schwifty's checks, masked everywhere but for finance and the owner (pages, API,
logs, events, audit), the change notified to the employee and flagged on the next payout batch."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounting import services as accounting
from audit.models import AuditEntry
from core.errors import PermissionDenied
from events.models import Event
from expenses import services as expense_services
from expenses.tests.factories import make_team
from money import services
from money.errors import InvalidBankDetails
from money.models import BankAccount
from notifications.models import Notification
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db

IBAN = "DE89370400440532013000"
MASKED = "DE89 **** **** **** 3000"


@pytest.mark.parametrize(("given", "stored"), [
    ("DE89370400440532013000", "DE89370400440532013000"),
    ("de89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    ("  GB29 NWBK 6016 1331 9268 19 ", "GB29NWBK60161331926819"),
])
def test_valid_ibans_are_stored_compact_and_upper_case(given, stored):
    team = make_team()
    account = services.bank_details_set(actor=team.employee, membership_id=team.employee.pk, holder="Eve",
                                        iban=given)
    assert account.iban == stored
    assert account.bic  # schwifty's bank registry knows these banks' BIC


@pytest.mark.parametrize(("given", "reason"), [
    ("DE88370400440532013000", "InvalidChecksumDigits"),
    ("DE8937040044053201300", "InvalidLength"),
    ("DE89370400440532013000123", "InvalidLength"),
    ("XX89370400440532013000", "InvalidCountryCode"),
    ("", "InvalidLength"),
])
def test_invalid_ibans_are_refused_without_writing_or_publishing(given, reason):
    team = make_team()
    with pytest.raises(InvalidBankDetails) as caught:
        services.bank_details_set(actor=team.employee, membership_id=team.employee.pk, holder="Eve", iban=given)
    assert caught.value.details["field"] == "iban"
    assert caught.value.details["reason"] in (reason, "InvalidStructure", "InvalidBBANChecksum")
    assert given.strip() == "" or given not in caught.value.message
    assert not BankAccount.objects.exists() and not Event.objects.filter(type="bank_details.changed").exists()


def test_a_bic_of_another_country_is_refused():
    team = make_team()
    with pytest.raises(InvalidBankDetails):
        services.bank_details_set(actor=team.employee, membership_id=team.employee.pk, holder="Eve", iban=IBAN,
                                  bic="NWBKGB2L")


def test_only_the_owner_and_finance_may_change_bank_details():
    team = make_team()
    with pytest.raises(PermissionDenied):
        services.bank_details_set(actor=team.manager, membership_id=team.employee.pk, holder="X", iban=IBAN)
    with pytest.raises(PermissionDenied):
        services.bank_details_set(actor=team.colleague, membership_id=team.employee.pk, holder="X", iban=IBAN)
    services.bank_details_set(actor=team.finance, membership_id=team.employee.pk, holder="Eve", iban=IBAN)
    assert BankAccount.objects.get().iban == IBAN


def test_api_shows_the_iban_in_clear_only_to_finance_and_the_owner():
    team = make_team()
    client = APIClient()
    client.force_authenticate(team.employee.user)
    put = client.put(f"/api/v1/members/{team.employee.pk}/bank-details/", {"holder": "Eve", "iban": IBAN.lower()},
                     format="json")
    assert put.status_code == 200 and put.json()["iban"] == IBAN
    for viewer, expected in [(team.employee, IBAN), (team.finance, IBAN), (team.admin, IBAN),
                             (team.manager, MASKED), (team.colleague, MASKED)]:
        client.force_authenticate(viewer.user)
        body = client.get(f"/api/v1/members/{team.employee.pk}/bank-details/").json()
        assert body["iban"] == expected, viewer.role
        assert body["masked"] is (expected == MASKED)
        if expected == MASKED:
            assert body["bic"] == "" and IBAN not in json.dumps(body)
    bad = client.put(f"/api/v1/members/{team.employee.pk}/bank-details/", {"holder": "Eve", "iban": "DE00"},
                     format="json")
    assert bad.status_code == 403  # the colleague may not change it


def test_pages_show_the_iban_masked_to_a_manager_and_in_clear_to_the_owner(client):
    team = make_team()
    services.bank_details_set(actor=team.employee, membership_id=team.employee.pk, holder="Eve", iban=IBAN)
    client.force_login(team.manager.user)
    page = client.get(f"/members/{team.employee.pk}/bank-details/").content.decode()
    assert MASKED in page
    assert IBAN not in page
    assert 'name="iban"' not in page
    client.force_login(team.employee.user)
    assert IBAN in client.get("/bank-details/").content.decode()
    client.force_login(team.finance.user)
    finance_page = client.get(f"/members/{team.employee.pk}/bank-details/").content.decode()
    assert IBAN in finance_page and 'name="iban"' in finance_page


def test_the_iban_never_reaches_logs_events_or_the_audit_trail_in_clear(caplog):
    caplog.set_level(logging.DEBUG)
    team = make_team()
    client = APIClient()
    client.force_authenticate(team.employee.user)
    client.put(f"/api/v1/members/{team.employee.pk}/bank-details/", {"holder": "Eve", "iban": IBAN}, format="json")
    client.put(f"/api/v1/members/{team.employee.pk}/bank-details/", {"holder": "Eve", "iban": "DE88" + IBAN[4:]},
               format="json")  # a refused one too
    services.bank_details_set(actor=team.finance, membership_id=team.employee.pk, holder="Eve",
                              iban="GB29NWBK60161331926819")
    run_deliveries()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "bank details of member" in logged  # the change is logged, without the number
    for number in (IBAN, "GB29NWBK60161331926819", IBAN[4:], "60161331926819"):
        assert number not in logged
        assert number not in json.dumps([e.payload for e in Event.objects.all()])
        assert number not in json.dumps([a.payload for a in AuditEntry.objects.all()], default=str)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_auditentry WHERE action = 'bank_details.changed'")
        assert cursor.fetchone()[0] == 2


def test_a_change_is_notified_to_the_employee_even_when_finance_made_it():
    team = make_team()
    services.bank_details_set(actor=team.finance, membership_id=team.employee.pk, holder="Eve", iban=IBAN)
    services.bank_details_set(actor=team.finance, membership_id=team.employee.pk, holder="Eve", iban=IBAN)  # same
    run_deliveries()
    notes = list(Notification.objects.filter(recipient=team.employee.user, kind="bank_details_changed"))
    assert len(notes) == 1
    assert MASKED in notes[0].title and team.finance.display_name in notes[0].body and IBAN not in notes[0].body


def test_a_batch_within_24_hours_of_a_change_flags_that_payee_only():
    team = make_team()
    for member in (team.employee, team.colleague):
        services.bank_details_set(actor=member, membership_id=member.pk, holder=member.display_name, iban=IBAN)
        expense = team.expense(employee=member, amount="30.00", submit=True)
        expense_services.expense_approve(actor=team.manager, expense_id=expense.pk)
    BankAccount.objects.filter(membership=team.colleague).update(
        updated_at=BankAccount.objects.get(membership=team.colleague).updated_at - accounting.BANK_CHANGE_WINDOW
        - accounting.timezone.timedelta(minutes=1))
    run_deliveries()
    batch = accounting.payout_run(organization=team.org)
    assert [(f["code"], f["employee_user_id"]) for f in batch.payee_flags] == [
        ("bank_details_changed_recently", team.employee.user_id)]
