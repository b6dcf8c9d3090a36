"""The ECB's reference-rate file (`eurofxref-hist.zip` or its CSV member), parsed exactly.

Header `Date,USD,JPY,...,` (trailing comma), rows newest first, `N/A` where a currency has no
rate that day. Values are kept as published: `Decimal("136")` stays 136.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from datetime import date
from decimal import Decimal, InvalidOperation

from wealth_pipeline import money

DailyRates = dict[date, dict[str, Decimal]]


class MalformedRates(ValueError):
    """A rate source answered something that is not ECB reference rates."""


def read_ecb_bytes(data: bytes, origin: str) -> DailyRates:
    """Parse a zip (first CSV member) or a CSV; raise MalformedRates naming the line."""
    if data[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
                if not members:
                    raise MalformedRates(f"{origin}: the zip holds no CSV file")
                data = archive.read(members[0])
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise MalformedRates(f"{origin}: not a readable zip file ({exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedRates(f"{origin}: not UTF-8 text") from None
    return parse_ecb_csv(text, origin)


def parse_ecb_csv(text: str, origin: str) -> DailyRates:
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header or header[0].strip() != "Date":
        raise MalformedRates(f"{origin}: line 1 is not the ECB header (Date,USD,JPY,...)")
    currencies = [c.strip() for c in header[1:]]
    for index, code in enumerate(currencies):
        if code and not valid_currency_code(code):
            raise MalformedRates(f"{origin}: line 1 names an invalid currency {code!r}")
        if code and code in currencies[:index]:
            raise MalformedRates(f"{origin}: line 1 names {code} twice")
    result: DailyRates = {}
    for line_number, row in enumerate(rows, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        try:
            day = date.fromisoformat(row[0].strip())
        except ValueError:
            raise MalformedRates(f"{origin}: line {line_number}: bad date {row[0]!r}") from None
        if day in result:
            raise MalformedRates(f"{origin}: line {line_number}: {day} appears twice")
        if len(row) > len(header):
            raise MalformedRates(f"{origin}: line {line_number}: more values than currencies")
        rates: dict[str, Decimal] = {}
        for code, cell in zip(currencies, row[1:], strict=False):
            cell = cell.strip()
            if not code or cell in ("", "N/A"):
                continue
            rates[code] = parse_rate(cell, f"{origin}: line {line_number}, {code}")
        result[day] = rates
    if not result:
        raise MalformedRates(f"{origin}: no rates in the file")
    return result


def parse_rate(value: object, where: str) -> Decimal:
    """A published rate: a positive number with at most RATE_PLACES decimals."""
    try:
        rate = money.to_decimal(value)
    except (TypeError, ValueError, InvalidOperation):
        raise MalformedRates(f"{where}: not a rate: {value!r}") from None
    if rate <= 0:
        raise MalformedRates(f"{where}: rate must be positive, got {rate}")
    if rate != money.quantize(rate, money.RATE_PLACES):
        raise MalformedRates(f"{where}: more than {money.RATE_PLACES} decimals: {rate}")
    return rate


def valid_currency_code(code: str) -> bool:
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()
