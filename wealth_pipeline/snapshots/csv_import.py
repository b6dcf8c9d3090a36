"""Balances from a CSV file: parsed and checked as a whole, before anything is written.

Format: a header naming the columns `date,balance,currency` (any order, any case), then one
snapshot per line: `2024-01-31,1234.56,EUR`. A UTF-8 byte-order mark, blank lines and
whitespace around values are tolerated. Every bad row is reported with its line number:
bad date, date before 1999 or after tomorrow, bad number (ASCII digits only), more than 4 decimals, unknown currency, a
currency other than the account's, a date appearing twice in the file, and (checked
against the warehouse by `conflicts`) a day that already has a snapshot. The first
MAX_LISTED_ERRORS errors are kept, the rest counted.

The currency must be the account's own: an account holds one currency, and a different one
in the file almost always means the wrong file or the wrong account.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from wealth_pipeline.snapshots.values import parse_balance, parse_currency, parse_day

COLUMNS = ("date", "balance", "currency")
# Errors kept and listed; the rest are only counted, so a million bad rows cost no memory.
MAX_LISTED_ERRORS = 50


@dataclass(frozen=True)
class CsvRow:
    line: int
    day: date
    balance: Decimal
    currency: str


@dataclass(frozen=True)
class RowError:
    line: int  # 0: the file as a whole
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class ParsedCsv:
    rows: list[CsvRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)  # the first MAX_LISTED_ERRORS
    error_count: int = 0  # all of them
    bad_lines: int = 0  # errors on a line of the file (not about the file as a whole)

    def add(self, error: RowError) -> None:
        self.error_count += 1
        self.bad_lines += 1 if error.line else 0
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(error)

    @property
    def ok(self) -> bool:
        return not self.error_count


def decode(data: bytes) -> str:
    """UTF-8 text, with or without a byte-order mark."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start}): save the file as UTF-8 CSV") from None


def parse_balance_csv(
    text: str,
    *,
    account_currency: str,
    known_currency: Callable[[str], bool],
    today: date | None = None,
) -> ParsedCsv:
    """Every row of `text` parsed, or the reason it cannot be, by line number."""
    result = ParsedCsv()
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    columns: dict[str, int] | None = None
    first_line: dict[date, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            width = len(COLUMNS) if columns is None else len(columns)
            while len(cells) > width and not cells[-1].strip():
                cells.pop()  # trailing commas, as some spreadsheets write them
            if columns is None:
                columns = _header(cells, line, result)
                if columns is None:
                    return result
                continue
            row = _row(cells, line, columns, account_currency, known_currency, today, result)
            if row is None:
                continue
            if row.day in first_line:
                result.add(
                    RowError(
                        line, f"date {row.day} appears again (first on line {first_line[row.day]})"
                    )
                )
                continue
            first_line[row.day] = line
            result.rows.append(row)
    except csv.Error as exc:
        result.add(RowError(reader.line_num, f"unreadable CSV: {exc}"))
    if columns is None:
        result.add(RowError(0, "the file is empty: expected a header date,balance,currency"))
    elif not result.rows and not result.error_count:
        result.add(RowError(0, "the file has a header but no rows"))
    return result


def _header(cells: list[str], line: int, result: ParsedCsv) -> dict[str, int] | None:
    names = [cell.strip().lower() for cell in cells]
    if len(names) == 1 and ";" in names[0]:
        result.add(
            RowError(line, "columns are separated by ';': use commas (date,balance,currency)")
        )
        return None
    missing = [name for name in COLUMNS if name not in names]
    unknown = [name for name in names if name not in COLUMNS]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if missing or unknown or repeated:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(repr(n) for n in unknown)}")
        if repeated:
            problems.append(f"repeated column(s) {', '.join(repeated)}")
        result.add(
            RowError(line, f"bad header ({'; '.join(problems)}): expected date,balance,currency")
        )
        return None
    return {name: names.index(name) for name in COLUMNS}


def _row(
    cells: list[str],
    line: int,
    columns: dict[str, int],
    account_currency: str,
    known_currency: Callable[[str], bool],
    today: date | None,
    result: ParsedCsv,
) -> CsvRow | None:
    if len(cells) != len(columns):
        result.add(
            RowError(
                line, f"expected {len(columns)} values (date,balance,currency), found {len(cells)}"
            )
        )
        return None
    problems = []
    values: dict[str, object] = {}
    parsers: dict[str, Callable[[str], object]] = {
        "date": lambda text: parse_day(text, today=today),
        "balance": parse_balance,
        "currency": lambda text: parse_currency(text, known_currency),
    }
    for name in COLUMNS:
        try:
            values[name] = parsers[name](cells[columns[name]])
        except ValueError as exc:
            problems.append(str(exc))
    currency = values.get("currency")
    if currency is not None and currency != account_currency:
        problems.append(
            f"currency {currency} differs from the account's currency {account_currency}"
        )
    if problems:
        result.add(RowError(line, "; ".join(problems)))
        return None
    return CsvRow(line, values["date"], values["balance"], values["currency"])


def conflicts(rows: list[CsvRow], existing_days: Collection[date]) -> list[RowError]:
    """Rows whose day already has a snapshot (refused unless the import replaces them)."""
    return [
        RowError(row.line, f"a snapshot for {row.day} already exists (--replace overwrites it)")
        for row in rows
        if row.day in existing_days
    ]
