"""Loading reference rates: the ECB's real file formats, idempotent; a malformed file writes
nothing; the beat task fetches from a local HTTP server; finance's own rates."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from core.errors import DomainError
from events.models import Event
from money import errors, services
from money.models import ExchangeRate, RateSource
from money.tasks import fetch_rates
from organizations.models import Role
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HIST_CSV = FIXTURES / "eurofxref-hist-2026-q3.csv"
DAILY_XML = FIXTURES / "eurofxref-daily-2026-10-30.xml"


def _rows():
    return sorted(ExchangeRate.objects.values_list("date", "quote", "rate", "source"))


def test_import_rates_reads_the_ecb_history_csv_and_is_idempotent():
    out = StringIO()
    call_command("import_rates", str(HIST_CSV), stdout=out)
    assert "1885 rates for 65 day(s), 2026-08-03 to 2026-10-30" in out.getvalue()
    first = _rows()
    assert len(first) == 1885  # N/A cells (BGN, CYP, ...) are no rate, not a zero
    assert ExchangeRate.objects.get(date=dt.date(2026, 10, 23), quote="USD").rate == Decimal("1.1193")
    assert not ExchangeRate.objects.filter(quote="BGN").exists()
    call_command("import_rates", str(HIST_CSV), stdout=StringIO())
    assert _rows() == first


def test_import_rates_reads_the_daily_xml_and_agrees_with_the_csv():
    call_command("import_rates", str(DAILY_XML), stdout=StringIO())
    daily = _rows()
    assert len(daily) == 29 and {d for d, *_ in daily} == {dt.date(2026, 10, 30)}
    call_command("import_rates", str(HIST_CSV), str(DAILY_XML), stdout=StringIO())
    assert ExchangeRate.objects.filter(date=dt.date(2026, 10, 30)).count() == 29
    assert ExchangeRate.objects.get(date=dt.date(2026, 10, 30), quote="GBP").rate == Decimal("0.83380")


@pytest.mark.parametrize("content", [
    b"Date,USD,JPY,\n2026-10-30,1.1172,175.68,\n2026-10-29,1.113,not-a-rate,\n",
    b"Date,USD,JPY,\n2026-10-30,1.1172,175.68,\n2026-13-29,1.113,175.92,\n",
    b"Date,USD,JPY,\n2026-10-30,1.1172,\n",
    b"Date,USD,JPY,\n2026-10-30,-1.1172,175.68,\n",
    b"<gesmes:Envelope xmlns:gesmes='http://www.gesmes.org/xml/2002-08-01'><Cube>",
    b"<?xml version='1.0'?><gesmes:Envelope xmlns:gesmes='http://www.gesmes.org/xml/2002-08-01' "
    b"xmlns='http://www.ecb.int/vocabulary/2002-08-01/eurofxref'><Cube><Cube time='2026-10-30'>"
    b"<Cube currency='USD' rate='1.1'/><Cube currency='usd!' rate='1.2'/></Cube></Cube></gesmes:Envelope>",
    b"",
], ids=["bad rate", "bad date", "short row", "negative", "truncated xml", "bad code", "empty"])
def test_a_malformed_file_is_refused_whole_and_writes_nothing(tmp_path, content):
    path = tmp_path / "rates.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_rates", str(path), stdout=StringIO())
    assert ExchangeRate.objects.count() == 0


class _Served(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *args):
        pass


@pytest.fixture
def rate_server():
    """A real HTTP server on a free local port serving whatever ``serve(body)`` was given."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Served)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(body: bytes) -> str:
        _Served.body = body
        return f"http://127.0.0.1:{server.server_port}/stats/eurofxref/eurofxref-daily.xml"

    yield serve
    server.shutdown()
    server.server_close()


def test_the_fetch_task_loads_the_daily_xml_from_the_configured_url(settings, rate_server):
    settings.EXCHANGE_RATES_URL = rate_server(DAILY_XML.read_bytes())
    assert fetch_rates() == 29
    assert ExchangeRate.objects.filter(date=dt.date(2026, 10, 30), source=RateSource.ECB).count() == 29
    assert fetch_rates() == 29 and ExchangeRate.objects.count() == 29  # idempotent


def test_the_fetch_task_refuses_a_malformed_file_and_writes_nothing(settings, rate_server):
    broken = DAILY_XML.read_bytes().replace(b"rate='175.68'", b"rate='175,68'")
    settings.EXCHANGE_RATES_URL = rate_server(broken)
    with pytest.raises(errors.RatesFileInvalid):
        fetch_rates()
    assert ExchangeRate.objects.count() == 0


def test_the_fetch_task_is_off_without_a_url(settings):
    settings.EXCHANGE_RATES_URL = ""
    assert fetch_rates() == 0
    assert ExchangeRate.objects.count() == 0


def test_finance_sets_an_organisations_rate_with_a_reason_and_it_is_published():
    org = OrganizationFactory()
    finance = MembershipFactory(organization=org, role=Role.FINANCE)
    row = services.exchange_rate_set(actor=finance, quote="kwd", on=dt.date(2026, 10, 23), rate="0.3412",
                                     reason="our bank's rate")
    again = services.exchange_rate_set(actor=finance, quote="KWD", on=dt.date(2026, 10, 23), rate="0.3415",
                                       reason="corrected")
    assert row.pk == again.pk and ExchangeRate.objects.get(pk=row.pk).rate == Decimal("0.3415")
    payloads = [e.payload for e in Event.objects.filter(type="exchange_rate.set").order_by("sequence")]
    assert [(p["rate"], p["previous_rate"], p["reason"]) for p in payloads] == [
        ("0.3412", None, "our bank's rate"), ("0.3415", "0.3412", "corrected")]


@pytest.mark.parametrize(("role", "data", "code"), [
    (Role.EMPLOYEE, {}, "permission_denied"),
    (Role.MANAGER, {}, "permission_denied"),
    (Role.FINANCE, {"reason": " "}, "reason_required"),
    (Role.FINANCE, {"rate": "0"}, "invalid_rate"),
    (Role.FINANCE, {"rate": 1.5}, "invalid_rate"),
    (Role.FINANCE, {"quote": "EUR"}, "invalid_currency"),
    (Role.FINANCE, {"quote": "XXY"}, "invalid_currency"),
    (Role.FINANCE, {"on": dt.date(2999, 1, 1)}, "future_date"),
])
def test_setting_a_rate_is_refused_without_writing_or_publishing(role, data, code):
    actor = MembershipFactory(role=role)
    args = {"quote": "USD", "on": dt.date(2026, 10, 23), "rate": "1.2", "reason": "why", **data}
    with pytest.raises(DomainError) as caught:
        services.exchange_rate_set(actor=actor, **args)
    assert getattr(caught.value, "code", None) == code
    assert ExchangeRate.objects.count() == 0 and not Event.objects.filter(type="exchange_rate.set").exists()
