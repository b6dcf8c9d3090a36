"""CSV balances: parsed as a whole, every bad row reported with its line number."""

from datetime import date
from decimal import Decimal

import pytest

from wealth_pipeline.accounts import known_currency
from wealth_pipeline.snapshots.csv_import import (
    CsvRow,
    RowError,
    conflicts,
    decode,
    parse_balance_csv,
)
from wealth_pipeline.snapshots.values import parse_balance

TODAY = date(2025, 6, 30)


def parse(text: str, currency: str = "EUR"):
    return parse_balance_csv(
        text, account_currency=currency, known_currency=known_currency, today=TODAY
    )


def test_a_good_file_with_bom_whitespace_blank_lines_and_any_column_order() -> None:
    data = (
        "\ufeff Currency , DATE,balance \r\n"
        "eur, 2024-01-31 , 1234.56\r\n"
        "\r\n"
        "EUR,2024-02-29,-0.5,\r\n"  # a trailing comma, as spreadsheets write them
        'EUR,2024-03-31,"1000.12340"\r\n'  # trailing zeros beyond 4 places are exact
    ).encode("utf-8")
    parsed = parse(decode(data))
    assert parsed.ok, parsed.errors
    assert parsed.rows == [
        CsvRow(2, date(2024, 1, 31), Decimal("1234.5600"), "EUR"),
        CsvRow(4, date(2024, 2, 29), Decimal("-0.5000"), "EUR"),
        CsvRow(5, date(2024, 3, 31), Decimal("1000.1234"), "EUR"),
    ]


def test_every_bad_row_is_reported_with_its_line() -> None:
    text = "\n".join(
        [
            "date,balance,currency",
            "2024-01-31,100,EUR",  # 2 ok
            "31.01.2024,100,EUR",  # 3 bad date
            "2024-02-30,100,EUR",  # 4 no such day
            "2024-03-31,1.23456,EUR",  # 5 five decimals
            "2024-04-30,1e3,EUR",  # 6 exponent
            '2024-05-31,"1,000.00",EUR',  # 7 thousands separator
            "2024-06-30,NaN,EUR",  # 8 not a number
            "2024-07-31,5,XYZ",  # 9 unknown currency
            "2024-08-31,5,USD",  # 10 not the account's currency
            "2024-01-31,7,EUR",  # 11 same day as line 2
            "2024-09-30,5",  # 12 a value missing
            "2024-10-31,,EUR",  # 13 empty balance
            "2099-01-01,5,EUR",  # 14 future
            "2024-11-30,123456789012345,EUR",  # 15 too large
            "2024-12-31,5,EU",  # 16 malformed code
        ]
    )
    parsed = parse(text)
    assert [row.line for row in parsed.rows] == [2]
    messages = {error.line: error.message for error in parsed.errors}
    assert sorted(messages) == list(range(3, 17))
    assert messages[3] == "bad date '31.01.2024': use YYYY-MM-DD"
    assert messages[4] == "bad date '2024-02-30': use YYYY-MM-DD"
    assert "has 5 decimal places; at most 4" in messages[5]
    assert messages[6].startswith("bad number '1e3'")
    assert messages[7].startswith("bad number '1,000.00'")
    assert messages[8].startswith("bad number 'NaN'")
    assert messages[9].startswith("unknown currency XYZ")
    assert messages[10] == "currency USD differs from the account's currency EUR"
    assert messages[11] == "date 2024-01-31 appears again (first on line 2)"
    assert messages[12] == "expected 3 values (date,balance,currency), found 2"
    assert messages[13] == "balance is missing"
    assert messages[14] == "date 2099-01-01 is in the future (at most tomorrow, 2025-07-01)"
    assert "too large" in messages[15]
    assert messages[16].startswith("bad currency 'EU'")
    assert str(parsed.errors[0]) == "line 3: bad date '31.01.2024': use YYYY-MM-DD"


def test_several_problems_of_one_row_are_reported_together() -> None:
    parsed = parse("date,balance,currency\nyesterday,abc,CHF\n")
    assert parsed.errors == [
        RowError(
            2,
            "bad date 'yesterday': use YYYY-MM-DD; bad number 'abc': write ASCII digits 0-9 with "
            "a point for decimals, e.g. -1234.56; currency CHF differs from the account's currency EUR",
        )
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty: expected a header date,balance,currency"),
        ("\n\n", "the file is empty: expected a header date,balance,currency"),
        ("date,balance,currency\n", "the file has a header but no rows"),
        ("2024-01-31,1,EUR\n", "line 1: bad header (missing column(s) date, balance, currency"),
        ("date,amount,currency\n", "line 1: bad header (missing column(s) balance; unknown"),
        ("date;balance;currency\n", "line 1: columns are separated by ';': use commas"),
        ("date,balance,currency,date\n", "line 1: bad header (repeated column(s) date)"),
    ],
)
def test_file_level_problems(text: str, message: str) -> None:
    parsed = parse(text)
    assert not parsed.rows
    assert str(parsed.errors[0]).startswith(message)


def test_conflicts_with_existing_snapshots() -> None:
    parsed = parse("date,balance,currency\n2024-01-31,1,EUR\n2024-02-29,2,EUR\n")
    assert conflicts(parsed.rows, {date(2024, 2, 29), date(2020, 1, 1)}) == [
        RowError(3, "a snapshot for 2024-02-29 already exists (--replace overwrites it)")
    ]


def test_non_utf8_is_refused() -> None:
    with pytest.raises(ValueError, match="not UTF-8 text"):
        decode("date,balance,currency\n2024-01-31,1,€\n".encode("cp1252"))


def test_balance_parsing_is_exact() -> None:
    assert parse_balance(" -1234.5 ") == Decimal("-1234.5000")
    assert parse_balance(".25") == Decimal("0.2500")
    assert parse_balance("99999999999999.9999") == Decimal("99999999999999.9999")
    for bad in ("1_000", "Infinity", "0x10", "", "1.2.3", "12,5"):
        with pytest.raises(ValueError):
            parse_balance(bad)
