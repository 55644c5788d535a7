"""Shared steps of the money tests: real ECB fixture files and organisations whose claim window
reaches the fixture's dates (2026-08-03 to 2026-10-30) on any day the tests run."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command

from expenses.tests.factories import make_team
from organizations.tests.factories import OrganizationFactory

FIXTURES = Path(__file__).resolve().parents[2] / "money" / "fixtures"
HIST_CSV = FIXTURES / "eurofxref-hist-2026-q3.csv"
DAILY_XML = FIXTURES / "eurofxref-daily-2026-10-30.xml"


def load_reference_rates() -> None:
    call_command("import_rates", str(HIST_CSV), stdout=open("/dev/null", "w"))  # noqa: SIM115


def team_in(currency: str = "EUR", **org_fields):
    org = OrganizationFactory(currency=currency, expense_window_days=36500, **org_fields)
    return make_team(org=org, budget="100000.00")
