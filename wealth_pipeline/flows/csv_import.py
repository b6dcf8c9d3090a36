"""Cash flows from bank CSV exports: presets for the files people have, and column mapping
for any other. Parsed and checked as a whole: every bad row is reported by line number and
nothing is written unless all rows are good.

What the presets know of the banks' exports (facts gathered from real exports by
lsgd/WealthTracker, backend/portfolio/csv_import.py):
- DKB: semicolon-separated, a preamble (account, period, balance) before the header row,
  which starts with "Buchungsdatum"; columns Buchungsdatum, Wertstellung, Status,
  Zahlungspflichtige(r), Zahlungsempfänger(in), Verwendungszweck, IBAN, "Betrag (€)"; German
  numbers ("-1.234,56"); dates dd.mm.yy (or dd.mm.yyyy); only "Gebucht" rows are booked
  (pending rows change on booking and are skipped). No unique bank reference.
- Commerzbank: semicolon-separated, the header in row one starting "Buchungstag"; columns
  Buchungstag, Wertstellung, Umsatzart, Buchungstext, Betrag, Währung, IBAN Kontoinhaber;
  German numbers; dates dd.mm.yyyy. No unique bank reference.
- ZKB (account export "with details"): semicolon-separated, header in row one; English or
  German headers: Date/Datum, Booking text/Buchungstext, ZKB reference/ZKB-Referenz,
  "Debit CHF"/"Belastung CHF", "Credit CHF"/"Gutschrift CHF" (the header names the
  currency), Value date/Valuta, Payment purpose/Zahlungszweck, Details; dates dd.mm.yyyy;
  numbers with a decimal point (thousands with ' or ,); detail continuation rows carry no date
  and no amount (skipped). The ZKB reference is unique: it is the flow's external id.

Without a bank reference, a row's external id is a hash of its date, amount and text plus
its occurrence among identical rows, so importing the same file again changes nothing.
The kind comes from a kind column when mapped, else from the text (interest, fees, taxes,
dividends by their usual German and English words), else from the sign (deposit/withdrawal).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from wealth_pipeline import money
from wealth_pipeline.flows.store import NewFlow
from wealth_pipeline.warehouse.schema import FLOW_KINDS

MAX_ABS = Decimal(10) ** 13


@dataclass(frozen=True)
class Mapping:
    """Which columns hold what (header names, case-insensitive; a trailing * matches a
    prefix), and how the file writes numbers and dates."""

    date: tuple[str, ...] = ("date",)
    amount: tuple[str, ...] = ("amount",)
    debit: tuple[str, ...] = ()
    credit: tuple[str, ...] = ()
    description: tuple[str, ...] = ()
    reference: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    currency: tuple[str, ...] = ()  # a column naming each row's currency
    booked: tuple[str, ...] = ()  # the status values of booked rows (others are skipped)
    delimiter: str = ","
    decimal_comma: bool = False
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    header_first: str | None = None  # the header row is the first starting with this cell
    currency_in_header: bool = False  # "Debit CHF", "Betrag (€)"
    skip_undated: bool = False  # rows without date and amount are continuation lines


PRESETS = {
    "dkb": Mapping(
        date=("buchungsdatum",),
        amount=("betrag*",),
        description=("verwendungszweck", "zahlungsempfänger*", "zahlungspflichtige*"),
        status=("status",),
        booked=("gebucht",),
        delimiter=";",
        decimal_comma=True,
        date_formats=("%d.%m.%y", "%d.%m.%Y"),
        header_first="buchungsdatum",
        currency_in_header=True,
    ),
    "commerzbank": Mapping(
        date=("buchungstag",),
        amount=("betrag",),
        description=("buchungstext", "verwendungszweck", "umsatzart"),
        currency=("währung",),
        delimiter=";",
        decimal_comma=True,
        date_formats=("%d.%m.%Y",),
        header_first="buchungstag",
    ),
    "zkb": Mapping(
        date=("date", "datum"),
        amount=(),
        debit=("debit*", "belastung*"),
        credit=("credit*", "gutschrift*"),
        description=("booking text", "buchungstext", "payment purpose", "zahlungszweck"),
        reference=("zkb reference", "zkb-referenz"),
        delimiter=";",
        date_formats=("%d.%m.%Y",),
        currency_in_header=True,
        skip_undated=True,
    ),
    "generic": Mapping(),
}

KEYWORDS = (
    ("tax", ("kapitalertragsteuer", "quellensteuer", "solidaritätszuschlag", "withholding tax")),
    ("interest", ("zinsen", "zins ", "habenzins", "interest", "zinsgutschrift")),
    ("fee", ("entgelt", "gebühr", "kontoführung", "fee", "spesen", "kommission")),
    ("dividend", ("dividende", "dividend", "ausschüttung", "ertragsgutschrift")),
)
CURRENCY_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP"}


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class ParsedFlows:
    flows: list[NewFlow] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    skipped: int = 0
    currency: str | None = None  # what the header says, if it says

    @property
    def span(self) -> tuple[date, date] | None:
        days = [flow.flow_date for flow in self.flows]
        return (min(days), max(days)) if days else None


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or, as German banks often write, Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def mapping_for(preset: str, **overrides: object) -> Mapping:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: one of {', '.join(PRESETS)}")
    changes = {k: v for k, v in overrides.items() if v not in (None, ())}
    return replace(PRESETS[preset], **changes)


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        for index, cell in enumerate(header):
            if (name.endswith("*") and cell.startswith(name[:-1])) or cell == name:
                return index
    return None


def _find_all(header: list[str], names: tuple[str, ...]) -> list[int]:
    found = []
    for name in names:
        index = _find(header, (name,))
        if index is not None and index not in found:
            found.append(index)
    return found


def parse_amount(text: str, decimal_comma: bool) -> Decimal:
    """An exact amount: decimal point (thousands with , or ') or decimal comma (thousands
    with .); a separator in the wrong place is refused rather than guessed."""
    raw = text.strip()
    cleaned = raw.replace("\u2212", "-").replace("'", "").replace(" ", "").replace("\u00a0", "")
    group, point = (".", ",") if decimal_comma else (",", ".")
    pattern = rf"[+-]?(\d{{1,3}}(\{group}\d{{3}})+|\d+)(\{point}\d*)?|[+-]?\{point}\d+"
    if not re.fullmatch(pattern, cleaned):
        raise ValueError(f"bad amount {raw!r}")
    cleaned = cleaned.replace(group, "").replace(point, ".")
    value = Decimal(cleaned)
    if value != money.quantize(value, money.AMOUNT_PLACES):
        raise ValueError(f"amount {raw} has more than {money.AMOUNT_PLACES} decimals")
    if abs(value) >= MAX_ABS:
        raise ValueError(f"amount {raw} is too large")
    return money.quantize(value, money.AMOUNT_PLACES)


def parse_date(text: str, formats: tuple[str, ...]) -> date:
    for fmt in formats:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    shown = " or ".join(
        f.replace("%d", "dd").replace("%m", "mm").replace("%Y", "yyyy").replace("%y", "yy")
        for f in formats
    )
    raise ValueError(f"bad date {text.strip()!r}: expected {shown}")


def guess_kind(description: str, amount: Decimal) -> str:
    text = f" {description.lower()} "
    for kind, words in KEYWORDS:
        if kind in ("fee", "tax") and amount > 0:
            continue  # a refund: money coming in is not a cost
        if any(word in text for word in words):
            return kind
    return "deposit" if amount >= 0 else "withdrawal"


def _header_currency(cell: str) -> str | None:
    for symbol, code in CURRENCY_SYMBOLS.items():
        if symbol in cell:
            return code
    token = cell.strip().split()[-1].strip("()").upper() if cell.strip() else ""
    return token if re.fullmatch(r"[A-Z]{3}", token) else None


def parse_flows_csv(text: str, mapping: Mapping, *, today: date | None = None) -> ParsedFlows:
    """Every row of `text` as a flow, or the reason it cannot be, by line number."""
    result = ParsedFlows()
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter)
    header: list[str] | None = None
    columns: dict[str, object] = {}
    seen: dict[str, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                names = [cell.strip().lower() for cell in cells]
                if mapping.header_first and names[0] != mapping.header_first:
                    continue  # the preamble before the header
                header = names
                columns = _columns(header, mapping, line, result)
                if result.errors:
                    return result
                if mapping.currency_in_header:
                    index = (
                        columns.get("amount")
                        if columns.get("amount") is not None
                        else columns["debit"]
                    )
                    result.currency = _header_currency(cells[index])
                continue
            _row(cells, line, columns, mapping, today, result, seen)
    except csv.Error as exc:
        result.errors.append(RowError(reader.line_num, f"unreadable CSV: {exc}"))
    if header is None:
        wanted = mapping.header_first or ", ".join(mapping.date + mapping.amount)
        result.errors.append(RowError(0, f"no header row found (expected columns {wanted})"))
    elif not result.flows and not result.errors:
        result.errors.append(RowError(0, "the file has no booked rows"))
    return result


def _columns(
    header: list[str], mapping: Mapping, line: int, result: ParsedFlows
) -> dict[str, object]:
    columns: dict[str, object] = {
        "date": _find(header, mapping.date),
        "amount": _find(header, mapping.amount) if mapping.amount else None,
        "debit": _find(header, mapping.debit) if mapping.debit else None,
        "credit": _find(header, mapping.credit) if mapping.credit else None,
        "description": _find_all(header, mapping.description),
        "reference": _find(header, mapping.reference) if mapping.reference else None,
        "kind": _find(header, mapping.kind) if mapping.kind else None,
        "status": _find(header, mapping.status) if mapping.status else None,
        "currency": _find(header, mapping.currency) if mapping.currency else None,
    }
    missing = []
    if columns["date"] is None:
        missing.append("/".join(mapping.date))
    if columns["amount"] is None and (columns["debit"] is None or columns["credit"] is None):
        missing.append("/".join(mapping.amount) or "/".join(mapping.debit + mapping.credit))
    if mapping.kind and columns["kind"] is None:
        missing.append("/".join(mapping.kind))
    if missing:
        shown = mapping.delimiter.join(header)
        result.errors.append(
            RowError(line, f"missing column(s) {', '.join(missing)} in the header {shown!r}")
        )
    return columns


def _cell(cells: list[str], index: object) -> str:
    return cells[index].strip() if isinstance(index, int) and index < len(cells) else ""


def _row(
    cells: list[str],
    line: int,
    columns: dict[str, object],
    mapping: Mapping,
    today: date | None,
    result: ParsedFlows,
    seen: dict[str, int],
) -> None:
    date_text = _cell(cells, columns["date"])
    if columns["amount"] is not None:
        amount_texts = [_cell(cells, columns["amount"])]
    else:
        amount_texts = [_cell(cells, columns["debit"]), _cell(cells, columns["credit"])]
    if mapping.skip_undated and not date_text and not any(amount_texts):
        result.skipped += 1
        return
    status = _cell(cells, columns["status"]).lower()
    if columns["status"] is not None and mapping.booked and status not in mapping.booked:
        result.skipped += 1
        return
    problems = []
    day = None
    try:
        day = parse_date(date_text, mapping.date_formats)
        if today is not None and day > today:
            problems.append(f"date {day} is in the future")
    except ValueError as exc:
        problems.append(str(exc))
    amount = None
    try:
        if columns["amount"] is not None:
            amount = parse_amount(amount_texts[0], mapping.decimal_comma)
        else:
            debit, credit = amount_texts
            if bool(debit) == bool(credit):
                raise ValueError("expected exactly one of debit and credit")
            amount = (
                -abs(parse_amount(debit, mapping.decimal_comma))
                if debit
                else abs(parse_amount(credit, mapping.decimal_comma))
            )
    except ValueError as exc:
        problems.append(str(exc))
    description = " · ".join(
        text
        for text in (_cell(cells, i) for i in columns["description"])
        if text
    )
    kind = None
    if columns["kind"] is not None:
        kind = _cell(cells, columns["kind"]).lower()
        if kind not in FLOW_KINDS:
            problems.append(f"unknown kind {kind!r}: one of {', '.join(FLOW_KINDS)}")
    currency = _cell(cells, columns["currency"]).upper()
    if currency:
        if result.currency is None:
            result.currency = currency
        elif currency != result.currency:
            problems.append(f"currency {currency} differs from the file's {result.currency}")
    if problems:
        result.errors.append(RowError(line, "; ".join(problems)))
        return
    assert day is not None and amount is not None
    if kind is None:
        kind = guess_kind(description, amount)
    if kind in ("deposit", "transfer_in") and amount < 0:
        kind = "withdrawal" if kind == "deposit" else "transfer_out"
    if kind in ("withdrawal", "transfer_out") and amount > 0:
        kind = "deposit" if kind == "withdrawal" else "transfer_in"
    reference = _cell(cells, columns["reference"])
    if not reference:
        content = f"{day.isoformat()}|{amount}|{description}"
        seen[content] = seen.get(content, 0) + 1
        digest = hashlib.sha256(f"{content}|{seen[content]}".encode()).hexdigest()[:32]
        reference = f"csv:{digest}"
    result.flows.append(
        NewFlow(
            flow_date=day,
            amount=amount,
            kind=kind,
            external_id=reference[:200],
            description=description[:2000],
        )
    )
    result.lines.append(line)
