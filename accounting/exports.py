"""Accounting exports of journal lines: CSV, and DATEV's booking batch (EXTF Buchungsstapel) for
German accountants; each export recorded (who, when, which lines).

"Since the last export" never skips or repeats a line, even when an entry commits late (its
transaction began before an export read the journal and committed after): every entry carries
the id of the transaction that wrote it (column ``xact_id``), every export the PostgreSQL
snapshot its one reading statement saw, and the next export takes exactly the entries that were
not visible in that snapshot. An id or timestamp high-water mark would skip the late entry: it
has an older id and an earlier ``created_at`` than entries the previous export already took.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction

from core.currencies import plain
from core.errors import PermissionDenied, ValidationFailed
from organizations.models import Membership, Organization, Role

from .models import AccountingExport, ExportFormat

CSV_HEADER = ["date", "entry_id", "account_code", "account_name", "debit", "credit", "currency",
              "original_amount", "original_currency", "memo", "expense_id"]
DATEV_COLUMNS = ["Umsatz (ohne Soll/Haben-Kz)", "Soll/Haben-Kennzeichen", "WKZ Umsatz", "Kurs", "Basis-Umsatz",
                 "WKZ Basis-Umsatz", "Konto", "Gegenkonto (ohne BU-Schlüssel)", "BU-Schlüssel", "Belegdatum",
                 "Belegfeld 1", "Belegfeld 2", "Skonto", "Buchungstext"]


class ExportRefused(ValidationFailed):
    code = "invalid_export"


@dataclass(frozen=True)
class ExportLine:
    line_id: int
    entry_id: str
    date: dt.date
    memo: str
    account_code: str
    account_name: str
    debit: Decimal
    credit: Decimal
    original_amount: Decimal | None
    original_currency: str
    expense_id: str


@dataclass(frozen=True)
class Export:
    record: AccountingExport
    content: bytes
    content_type: str
    filename: str


_READ = """
WITH snap AS (SELECT pg_current_snapshot() AS s)
SELECT snap.s::text, x.* FROM snap LEFT JOIN LATERAL (
    SELECT l.id AS line_id, e.id::text AS entry_id, e.date, e.memo, a.code, a.name, l.debit, l.credit,
           e.original_amount, e.original_currency, coalesce(e.expense_id::text, '') AS expense_id, e.created_at
    FROM accounting_journalline l
    JOIN accounting_journalentry e ON e.id = l.entry_id
    JOIN accounting_account a ON a.id = l.account_id
    WHERE e.organization_id = %(org)s
      AND (%(from)s::date IS NULL OR e.date >= %(from)s::date)
      AND (%(to)s::date IS NULL OR e.date <= %(to)s::date)
      AND (%(after)s::text IS NULL OR NOT pg_visible_in_snapshot(e.xact_id, %(after)s::text::pg_snapshot))
) x ON TRUE
ORDER BY x.date, x.created_at, x.line_id
"""


def read_lines(*, organization_id: int, date_from: dt.date | None = None, date_to: dt.date | None = None,
               after_snapshot: str | None = None) -> tuple[str, list[ExportLine]]:
    """(the snapshot of the reading statement, the lines): one statement, so the lines are
    exactly those committed as of that snapshot."""
    with connection.cursor() as cursor:
        cursor.execute(_READ, {"org": organization_id, "from": date_from, "to": date_to, "after": after_snapshot})
        rows = cursor.fetchall()
    snapshot = rows[0][0]
    lines = [ExportLine(line_id=r[1], entry_id=r[2], date=r[3], memo=r[4], account_code=r[5], account_name=r[6],
                        debit=r[7], credit=r[8], original_amount=r[9], original_currency=r[10], expense_id=r[11])
             for r in rows if r[1] is not None]
    return snapshot, lines


def render_csv(lines: Sequence[ExportLine], *, currency: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for line in lines:
        original = plain(line.original_amount, line.original_currency) if line.original_amount is not None else ""
        writer.writerow([line.date.isoformat(), line.entry_id, line.account_code, _safe(line.account_name),
                         f"{line.debit:.2f}", f"{line.credit:.2f}", currency, original, line.original_currency,
                         _safe(line.memo), line.expense_id])
    return buffer.getvalue().encode()


def _safe(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _bookings(lines: Sequence[ExportLine]) -> list[tuple[ExportLine, str, str, Decimal]]:
    """DATEV books account against contra account: each entry's lines paired with its one
    opposite line (all our entries have one debit or one credit line). Returns (line, side,
    contra account, amount) with side S (debit) or H (credit) for the account."""
    by_entry: dict[str, list[ExportLine]] = {}
    for line in lines:
        by_entry.setdefault(line.entry_id, []).append(line)
    bookings = []
    for entry_lines in by_entry.values():
        debit_lines = [ln for ln in entry_lines if ln.debit > 0]
        credit_lines = [ln for ln in entry_lines if ln.credit > 0]
        if len(credit_lines) == 1:
            bookings += [(d, "S", credit_lines[0].account_code, d.debit) for d in debit_lines]
        elif len(debit_lines) == 1:
            bookings += [(c, "H", debit_lines[0].account_code, c.credit) for c in credit_lines]
        else:
            raise ExportRefused(f"Entry {entry_lines[0].entry_id} has several debit and credit lines; DATEV needs "
                                "an account and a contra account per booking.")
    return bookings


def _datev_text(value: str, length: int) -> str:
    return '"' + value.replace('"', "'")[:length] + '"'


def render_datev(lines: Sequence[ExportLine], *, organization: Organization, created_at: dt.datetime,
                 date_from: dt.date, date_to: dt.date, description: str) -> bytes:
    """EXTF format 700, category 21 (Buchungsstapel), format version 13: the header record, the
    column names, one booking per line pair. Amounts with a decimal comma; Windows-1252."""
    bookings = _bookings(lines)
    account_length = max([len(ln.account_code) for ln in lines] + [4])
    header = ["\"EXTF\"", "700", "21", "\"Buchungsstapel\"", "13", created_at.strftime("%Y%m%d%H%M%S%f")[:17],
              "", "\"OU\"", "\"Outlay\"", "\"\"", str(settings.DATEV_CONSULTANT_NUMBER),
              str(settings.DATEV_CLIENT_NUMBER), f"{date_from.year}0101", str(account_length),
              date_from.strftime("%Y%m%d"), date_to.strftime("%Y%m%d"), _datev_text(description, 30), "\"\"",
              "1", "0", "0", _datev_text(organization.currency, 3), "", "\"\"", "", "", "\"\"", "", "", "\"\"",
              "\"\""]
    rows = [";".join(header), ";".join(DATEV_COLUMNS)]
    for line, side, contra, amount in bookings:
        rows.append(";".join([
            f"{amount:.2f}".replace(".", ","), _datev_text(side, 1), _datev_text(organization.currency, 3), "", "",
            "\"\"", line.account_code, contra, "\"\"", line.date.strftime("%d%m"),
            _datev_text(line.expense_id[:8].upper() or line.entry_id[:8].upper(), 36),
            _datev_text(line.entry_id[:12], 12), "", _datev_text(line.memo, 60)]))
    return ("\r\n".join(rows) + "\r\n").encode("cp1252", errors="replace")


def _require_finance(actor: Membership) -> None:
    if actor.role not in (Role.FINANCE, Role.ADMIN):
        raise PermissionDenied("Only finance can do this.")


@transaction.atomic
def accounting_export(*, actor: Membership, file_format: str = ExportFormat.CSV, date_from: dt.date | None = None,
                      date_to: dt.date | None = None, since_last: bool = False) -> Export:
    """Export journal lines as CSV or DATEV, for a date range or since the last export of the same
    format, and record it. Refuses (``invalid_export``) an unknown format, a range that ends
    before it starts, and dates together with "since last export". Exports of one organisation
    and format run one at a time (the organisation row is locked), so two "since last" exports
    cannot both continue the same previous one."""
    _require_finance(actor)
    if file_format not in ExportFormat.values:
        raise ExportRefused("Choose format csv or datev.", details={"field": "format"})
    if date_from and date_to and date_to < date_from:
        raise ExportRefused("The range ends before it starts.", details={"field": "to"})
    if since_last and (date_from or date_to):
        raise ExportRefused("Give a date range or since=last, not both.", details={"field": "since"})
    org = Organization.objects.select_for_update().get(pk=actor.organization_id)
    previous = None
    if since_last:
        previous = (AccountingExport.objects.filter(organization=org, format=file_format, since_last=True)
                    .order_by("-created_at", "-id").first())
    snapshot, lines = read_lines(organization_id=org.pk, date_from=date_from, date_to=date_to,
                                 after_snapshot=previous.snapshot if previous else None)
    now = dt.datetime.now(dt.UTC)
    if file_format == ExportFormat.DATEV:
        first = date_from or (lines[0].date if lines else org.today())
        last = date_to or (lines[-1].date if lines else org.today())
        content = render_datev(lines, organization=org, created_at=now, date_from=first, date_to=last,
                               description="Outlay " + ("since last export" if since_last else "journal"))
        content_type, extension = "text/csv; charset=windows-1252", "csv"
        name = f"EXTF_Buchungsstapel_{org.slug}_{now:%Y%m%d%H%M%S}"
    else:
        content = render_csv(lines, currency=org.currency)
        content_type, extension, name = "text/csv; charset=utf-8", "csv", f"journal_{org.slug}_{now:%Y%m%d%H%M%S}"
    record = AccountingExport.objects.create(
        organization=org, format=file_format, since_last=since_last, previous=previous, date_from=date_from,
        date_to=date_to, snapshot=snapshot, line_count=len(lines), sha256=hashlib.sha256(content).hexdigest(),
        created_by_user_id=actor.user_id, created_by_name=actor.display_name)
    return Export(record=record, content=content, content_type=content_type, filename=f"{name}.{extension}")
