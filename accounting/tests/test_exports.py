"""Accounting exports: CSV and DATEV of a known ledger match golden files; "since last export"
repeats and skips nothing, also when an entry commits after an export that began before it."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from accounting import exports
from accounting.models import Account, AccountingExport, AccountKind, JournalEntry, JournalLine
from core.errors import DomainError
from organizations.models import Role
from organizations.tests.factories import MembershipFactory, OrganizationFactory

GOLDEN = Path(__file__).parent / "golden"
CREATED = dt.datetime(2026, 11, 30, 17, 5, 9, 123000, tzinfo=dt.UTC)


def _ledger(org):
    cash = Account.objects.create(organization=org, code="1000", name="Cash at bank", kind=AccountKind.ASSET)
    payable = Account.objects.create(organization=org, code="2100", name="Reimbursements payable",
                                     kind=AccountKind.LIABILITY)
    travel = Account.objects.create(organization=org, code="4900", name="Expenses: Travel; \"Reisekosten\"",
                                    kind=AccountKind.EXPENSE)
    entries = [
        ("00000000-0000-4000-8000-000000000001", dt.date(2026, 11, 2), "Approved expense Hotel Adlon (Eve Müller)",
         travel, payable, Decimal("107.21"), "aaaaaaaa-0000-4000-8000-000000000001", Decimal("120.00"), "USD"),
        ("00000000-0000-4000-8000-000000000002", dt.date(2026, 11, 3), "=Approved expense Ramen (Ed)",
         travel, payable, Decimal("8.55"), "aaaaaaaa-0000-4000-8000-000000000002", Decimal("1500"), "JPY"),
        ("00000000-0000-4000-8000-000000000003", dt.date(2026, 11, 20), "Reimbursement paid to Eve Müller",
         payable, cash, Decimal("107.21"), "aaaaaaaa-0000-4000-8000-000000000001", None, ""),
    ]
    for pk, day, memo, debit, credit, amount, expense, original, currency in entries:
        entry = JournalEntry.objects.create(id=uuid.UUID(pk), organization=org, date=day, memo=memo,
                                            expense_id=uuid.UUID(expense), original_amount=original,
                                            original_currency=currency)
        JournalLine.objects.create(entry=entry, account=debit, debit=amount)
        JournalLine.objects.create(entry=entry, account=credit, credit=amount)


@pytest.mark.django_db
def test_csv_and_datev_of_a_known_ledger_match_the_golden_files():
    org = OrganizationFactory(slug="acme", currency="EUR")
    _ledger(org)
    _, lines = exports.read_lines(organization_id=org.pk)
    assert exports.render_csv(lines, currency="EUR") == (GOLDEN / "journal.csv").read_bytes()
    datev = exports.render_datev(lines, organization=org, created_at=CREATED, date_from=dt.date(2026, 11, 1),
                                 date_to=dt.date(2026, 11, 30), description="Outlay journal")
    assert datev == (GOLDEN / "EXTF_Buchungsstapel.csv").read_bytes()
    _, november_first_half = exports.read_lines(organization_id=org.pk, date_from=dt.date(2026, 11, 1),
                                                date_to=dt.date(2026, 11, 3))
    assert len(november_first_half) == 4


@pytest.mark.django_db
def test_exports_are_recorded_and_refused_without_finance():
    org = OrganizationFactory()
    _ledger(org)
    finance = MembershipFactory(organization=org, role=Role.FINANCE)
    export = exports.accounting_export(actor=finance, file_format="datev", date_from=dt.date(2026, 11, 1),
                                       date_to=dt.date(2026, 11, 30))
    assert export.content.startswith(b'"EXTF";700;21;"Buchungsstapel";13;')
    record = AccountingExport.objects.get()
    assert (record.format, record.line_count, record.created_by_user_id, record.date_from) == (
        "datev", 6, finance.user_id, dt.date(2026, 11, 1))
    with pytest.raises(DomainError):
        exports.accounting_export(actor=MembershipFactory(organization=org, role=Role.MANAGER))
    with pytest.raises(exports.ExportRefused):
        exports.accounting_export(actor=finance, date_from=dt.date(2026, 11, 2), date_to=dt.date(2026, 11, 1))
    assert AccountingExport.objects.count() == 1


def _other_connection():
    s = connection.settings_dict
    return psycopg.connect(host=s["HOST"], port=s["PORT"], user=s["USER"], password=s["PASSWORD"],
                           dbname=s["NAME"])


def _post_elsewhere(conn, org, debit, credit, amount, memo):
    """An entry written by another session's transaction (committed only when the caller says)."""
    pk = uuid.uuid4()
    conn.execute("INSERT INTO accounting_journalentry (id, organization_id, date, memo, created_at, "
                 "original_currency) VALUES (%s, %s, %s, %s, now(), '')", [pk, org.pk, dt.date(2026, 11, 5), memo])
    for account, d, c in ((debit, amount, 0), (credit, 0, amount)):
        conn.execute("INSERT INTO accounting_journalline (entry_id, account_id, debit, credit) VALUES (%s, %s, %s, %s)",
                     [pk, account.pk, d, c])
    return str(pk)


@pytest.mark.django_db(transaction=True)
def test_since_last_export_takes_a_late_committing_entry_once_and_skips_nothing():
    org = OrganizationFactory()
    finance = MembershipFactory(organization=org, role=Role.FINANCE)
    cash = Account.objects.create(organization=org, code="1000", name="Cash", kind=AccountKind.ASSET)
    payable = Account.objects.create(organization=org, code="2100", name="Payable", kind=AccountKind.LIABILITY)

    def since_last():
        export = exports.accounting_export(actor=finance, since_last=True)
        return {row.split(",")[1] for row in export.content.decode().splitlines()[1:]}

    with _other_connection() as early, _other_connection() as late, _other_connection() as after:
        first = _post_elsewhere(early, org, payable, cash, Decimal("10.00"), "first")
        early.commit()
        late_entry = _post_elsewhere(late, org, payable, cash, Decimal("20.00"), "late")  # begun, not committed
        assert since_last() == {first}
        late.commit()  # commits after the export that ran while it was open; its row is older than the export
        third = _post_elsewhere(after, org, payable, cash, Decimal("30.00"), "third")
        after.commit()
    assert since_last() == {late_entry, third}
    assert since_last() == set()
    chain = list(AccountingExport.objects.order_by("created_at").values_list("line_count", "previous_id"))
    assert [count for count, _ in chain] == [2, 4, 0]
    assert chain[0][1] is None and all(previous is not None for _, previous in chain[1:])
