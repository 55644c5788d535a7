"""The European Central Bank's published reference-rate formats, read strictly: the whole file
is checked before a single rate is written, so a malformed file writes nothing.

- ``eurofxref-hist.csv`` (also inside ``eurofxref-hist.zip``): ``Date,USD,JPY,...,`` then one row
  per working day, newest first, ``N/A`` where a currency had no rate (it did not exist yet, or
  no longer); every line ends with a comma.
- ``eurofxref-daily.xml`` (and the 90-day / historical XML): a gesmes envelope with
  ``<Cube time="YYYY-MM-DD"><Cube currency="USD" rate="1.0866"/>...``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from .errors import RatesFileInvalid

ECB_NAMESPACE = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"
_CODE = re.compile(r"^[A-Z]{3}$")
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class ReferenceRate:
    date: dt.date
    quote: str
    rate: Decimal


def _rate(raw: str, where: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except (InvalidOperation, ValueError):
        raise RatesFileInvalid(f"{where}: {raw[:20]!r} is not a rate.") from None
    if not value.is_finite() or value <= 0 or value >= Decimal("1e10") or -value.as_tuple().exponent > 10:
        raise RatesFileInvalid(f"{where}: {raw[:20]!r} is not a rate (positive, below 10^10, 10 decimals at most).")
    return value


def _date(raw: str, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise RatesFileInvalid(f"{where}: {raw[:20]!r} is not a date (YYYY-MM-DD).") from None


def _code(raw: str, where: str) -> str:
    code = raw.strip()
    if not _CODE.match(code):
        raise RatesFileInvalid(f"{where}: {code[:10]!r} is not a currency code.")
    return code


def parse_hist_csv(text: str) -> list[ReferenceRate]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not rows[0] or rows[0][0].strip() != "Date":
        raise RatesFileInvalid("Not an ECB eurofxref-hist CSV: the first column must be Date.")
    header = rows[0][1:]
    trailing = bool(header) and not header[-1].strip()  # the ECB ends every line with a comma
    codes = [_code(c, "header") for c in (header[:-1] if trailing else header)]
    if not codes:
        raise RatesFileInvalid("The file names no currency.")
    rates: list[ReferenceRate] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = row[1:]
        if trailing:
            if not cells or cells[-1].strip():
                raise RatesFileInvalid(f"line {number}: {len(cells)} cells for {len(codes)} currencies.")
            cells = cells[:-1]
        if len(cells) != len(codes):
            raise RatesFileInvalid(f"line {number}: {len(cells)} rates for {len(codes)} currencies.")
        day = _date(row[0], f"line {number}")
        for code, cell in zip(codes, cells, strict=True):
            if cell.strip() == "N/A":
                continue
            rates.append(ReferenceRate(date=day, quote=code, rate=_rate(cell, f"line {number} {code}")))
    return rates


def parse_xml(data: bytes) -> list[ReferenceRate]:
    try:
        root = SafeElementTree.fromstring(data)
    except (SafeElementTree.ParseError, DefusedXmlException) as exc:
        raise RatesFileInvalid(f"Not well-formed XML: {exc}.") from None
    outer = root.find(f"{ECB_NAMESPACE}Cube")
    if outer is None:
        raise RatesFileInvalid("Not an ECB reference-rate XML: no Cube element.")
    rates: list[ReferenceRate] = []
    days = outer.findall(f"{ECB_NAMESPACE}Cube")
    if not days:
        raise RatesFileInvalid("The file holds no day of rates.")
    for day_cube in days:
        day = _date(day_cube.get("time", ""), "Cube time")
        for cube in day_cube.findall(f"{ECB_NAMESPACE}Cube"):
            code = _code(cube.get("currency", ""), f"{day}")
            rates.append(ReferenceRate(date=day, quote=code, rate=_rate(cube.get("rate", ""), f"{day} {code}")))
    if not rates:
        raise RatesFileInvalid("The file holds no rate.")
    return rates


def parse(data: bytes, *, name: str = "") -> list[ReferenceRate]:
    """Any of the ECB formats, told apart by content (a ZIP, XML, or the CSV)."""
    if len(data) > MAX_FILE_BYTES:
        raise RatesFileInvalid("The file is larger than 20 MB.")
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [n for n in archive.namelist() if n.endswith(".csv")]
                if len(members) != 1 or archive.getinfo(members[0]).file_size > 10 * MAX_FILE_BYTES:
                    raise RatesFileInvalid("The ZIP must hold exactly one CSV file.")
                data = archive.read(members[0])
        except zipfile.BadZipFile:
            raise RatesFileInvalid("Not a readable ZIP file.") from None
    stripped = data.lstrip()
    if stripped.startswith(b"<"):
        return parse_xml(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RatesFileInvalid("The CSV is not UTF-8.") from None
    return parse_hist_csv(text)
