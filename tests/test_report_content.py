"""The report's rules as pure functions: changes, shares, ordering, and numbers as shown."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from wealth_pipeline import formatting as fmt
from wealth_pipeline.clock import iso_week
from wealth_pipeline.report.content import (
    AccountRow,
    WeeklyReport,
    account_lines,
    change,
    changes,
    chart_points,
    slices,
)
from wealth_pipeline.report.render import render, subject, text_table

D = Decimal


# --- formatting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        ("1234567.8912", "EUR", "€1,234,567.89"),
        ("0.0050", "EUR", "€0.00"),  # half-even: 0.005 -> 0.00
        ("0.0150", "EUR", "€0.02"),  # half-even: 0.015 -> 0.02
        ("2.3450", "USD", "$2.34"),
        ("2.3550", "USD", "$2.36"),
        ("-1234.5000", "EUR", "-€1,234.50"),
        ("-0.0040", "EUR", "€0.00"),  # never "-€0.00"
        ("1234.5000", "CHF", "CHF 1,234.50"),
        ("98765.5000", "JPY", "¥98,766"),  # no minor unit; half-even of .5 to even
        ("98764.5000", "JPY", "¥98,764"),
        ("0", "GBP", "£0.00"),
        ("99999999999999.9999", "EUR", "€100,000,000,000,000.00"),
    ],
)
def test_money_is_exact_to_the_currencys_minor_unit(value: str, currency: str, shown: str) -> None:
    assert fmt.money(D(value), currency) == shown


def test_signed_money_and_percentages() -> None:
    assert fmt.signed_money(D("12.3450"), "EUR") == "+€12.34"
    assert fmt.signed_money(D("-5.1000"), "EUR") == "-€5.10"
    assert fmt.signed_money(D("0.0049"), "EUR") == "±€0.00"
    assert fmt.percent(Fraction(1, 8)) == "12.5 %"
    assert fmt.percent(Fraction(1, 8), signed=True) == "+12.5 %"
    assert fmt.percent(Fraction(-1, 3), signed=True) == "-33.3 %"
    assert fmt.percent(Fraction(1, 4000), signed=True) == "±0.0 %"  # 0.025 % rounds to zero
    assert fmt.percent(Fraction(-1, 4000)) == "0.0 %"  # never "-0.0 %"
    assert fmt.percent(Fraction(1, 2000)) == "0.0 %"  # 0.05 -> 0.0, half-even, exactly once
    assert fmt.percent(Fraction(3, 2000)) == "0.2 %"  # 0.15 -> 0.2
    assert fmt.percent(None) == "n/a"
    assert fmt.percent(Fraction(123456, 100)) == "123,456.0 %"


def test_no_float_is_accepted_as_money() -> None:
    with pytest.raises(TypeError):
        fmt.money(1.5, "EUR")


# --- changes ---------------------------------------------------------------------------


def series(first: date, values: list[str]) -> dict[date, Decimal]:
    return {first + timedelta(days=i): D(v) for i, v in enumerate(values)}


def test_a_negative_change_over_seven_days() -> None:
    history = series(date(2026, 11, 1), ["1000"] * 23 + ["800"] * 7)
    as_of = date(2026, 11, 30)
    week = change(history, as_of, as_of - timedelta(days=7), "7 days")
    assert week.since == date(2026, 11, 23)
    assert (week.start, week.absolute) == (D("1000"), D("-200"))
    assert week.ratio == Fraction(-1, 5)
    assert not week.partial


def test_a_zero_start_has_an_amount_but_no_percentage() -> None:
    history = series(date(2026, 11, 1), ["0"] * 25 + ["500"] * 5)
    week = change(history, date(2026, 11, 30), date(2026, 11, 23), "7 days")
    assert week.absolute == D("500")
    assert week.ratio is None
    assert fmt.percent(week.ratio) == "n/a"


def test_a_negative_start_compares_against_its_size() -> None:
    history = series(date(2026, 11, 1), ["-1000"] * 25 + ["-500"] * 5)
    week = change(history, date(2026, 11, 30), date(2026, 11, 23), "7 days")
    assert week.absolute == D("500")
    assert week.ratio == Fraction(1, 2)  # debt halved: +50 %, not -50 %


def test_year_to_date_across_the_year_start() -> None:
    history = series(date(2026, 12, 1), [str(100 + i) for i in range(40)])  # to 2027-01-09
    as_of = date(2027, 1, 3)
    ytd = changes(history, as_of)[2]
    assert ytd.label == "Year to date (2027)"
    assert ytd.since == date(2026, 12, 31)  # the last day of the previous year
    assert ytd.start == D("130")
    assert ytd.absolute == D("3")  # 2027-01-03 holds 133; later days are not looked at
    assert ytd.ratio == Fraction(3, 130)

    on_new_year = changes(history, date(2027, 1, 1))[2]
    assert (on_new_year.since, on_new_year.absolute) == (date(2026, 12, 31), D("1"))


def test_history_shorter_than_the_period_compares_with_the_first_day() -> None:
    history = series(date(2026, 11, 25), ["100", "110", "120", "130", "140", "150"])
    as_of = date(2026, 11, 30)
    week, month, ytd = changes(history, as_of)
    assert week.partial and week.since == date(2026, 11, 25)
    assert (week.absolute, week.ratio) == (D("50"), Fraction(1, 2))
    assert month.since == ytd.since == date(2026, 11, 25)

    only_today = changes({as_of: D("5")}, as_of)
    assert all(c.absolute is None and c.since is None for c in only_today)


def test_gaps_use_the_latest_day_before_the_reference() -> None:
    history = {date(2026, 11, 1): D("10"), date(2026, 11, 20): D("30"), date(2026, 11, 30): D("40")}
    week = change(history, date(2026, 11, 30), date(2026, 11, 23), "7 days")
    assert (week.since, week.start, week.absolute) == (date(2026, 11, 23), D("30"), D("10"))


def test_the_chart_shows_twelve_months_or_since_the_start() -> None:
    history = series(date(2024, 1, 1), ["1"] * 1000)
    as_of = date(2026, 9, 26)
    points = chart_points(history, as_of)
    assert points[0][0] == as_of - timedelta(days=365)
    assert points[-1][0] == as_of
    short = series(date(2026, 9, 1), ["1"] * 10)
    assert chart_points(short, date(2026, 9, 10))[0][0] == date(2026, 9, 1)


def test_iso_weeks_across_the_year_start() -> None:
    assert iso_week(date(2026, 11, 30)) == "2026-W49"
    assert iso_week(date(2027, 1, 1)) == "2026-W53"
    assert iso_week(date(2024, 12, 30)) == "2025-W01"


# --- accounts and allocation -----------------------------------------------------------


def row(account_id: int, name: str, base: str | None, week_ago: str | None, existed: bool = True):
    return AccountRow(account_id, name, "Broker", "checking", "EUR", D(base or "1"),
                      date(2026, 11, 27), D(base) if base else None,
                      D(week_ago) if week_ago else None, existed)  # fmt: skip


def test_accounts_sorted_by_value_with_share_and_weekly_change() -> None:
    lines = account_lines(
        [
            row(1, "Small", "100", "90"),
            row(2, "Big", "900", "1000"),
            row(3, "Unconverted", None, "50"),
            row(4, "New", "100", None, existed=False),
            row(5, "Loan", "-100", "-100"),
        ],
        total=D("1000"),
    )
    assert [line.name for line in lines] == ["Big", "New", "Small", "Loan", "Unconverted"]
    big, new, small, loan, unconverted = lines
    assert (big.share, big.weekly_change) == (Fraction(9, 10), D("-100"))
    assert (new.new, new.weekly_change) == (True, None)
    assert small.weekly_change == D("10")
    assert loan.share == Fraction(-1, 10)
    assert (unconverted.share, unconverted.weekly_change) == (None, None)


def test_slices_share_their_dimensions_total() -> None:
    found = slices([("equity", D("750")), ("fixed_income", D("250")), ("Cash", D("0"))])
    assert [(s.label, s.share) for s in found] == [
        ("Equity", Fraction(3, 4)),
        ("Fixed income", Fraction(1, 4)),
        ("Cash", Fraction(0)),
    ]
    assert slices([("Cash", D("0"))])[0].share is None


def test_text_tables_align_columns() -> None:
    assert text_table(["a", "bb"], [["ccc", "1"]], "lr") == "a    bb\nccc   1"


# --- rendering ------------------------------------------------------------------------


def report(**overrides):
    as_of = date(2026, 11, 27)
    history = series(as_of - timedelta(days=9), ["1000.0000"] * 3 + ["900.5050"] * 7)
    values = dict(
        username="zoe",
        base_currency="EUR",
        as_of=as_of,
        week="2026-W49",
        total=D("900.5050"),
        account_count=1,
        unconverted_count=0,
        changes=changes(history, as_of),
        history=chart_points(history, as_of),
        accounts=account_lines([row(1, "Giro <main>", "900.5050", "1000.0000")], D("900.5050")),
        by_asset_class=slices([("cash", D("900.5050"))]),
        by_currency=slices([("EUR", D("900.5050"))]),
        allocation_as_of=as_of,
    )
    values.update(overrides)
    return WeeklyReport(**values)


def test_subject_holds_the_total_and_the_weeks_change() -> None:
    # Half-even at display: 900.505 -> 900.50 (0 is even), -99.495 -> -99.50 (9 is odd).
    assert subject(report()) == "[Wealth Tracker] Weekly Report - €900.50 (-€99.50 this week)"
    lone = report(changes=changes({date(2026, 11, 27): D("5")}, date(2026, 11, 27)))
    assert subject(lone) == "[Wealth Tracker] Weekly Report - €900.50"


def test_rendering_escapes_names_and_shows_negative_changes() -> None:
    rendered = render(report())
    html = rendered.html()
    assert "Giro &lt;main&gt;" in html and "Giro <main>" not in html
    assert "Giro <main>" in rendered.text
    assert "-€99.50" in html and "-€99.50" in rendered.text
    assert "-9.9 %" in rendered.text  # -99.495 / 1000 = -9.9495 %, shown once rounded
    assert "#b91c1c" in html  # negative changes in red
    assert "wealth users set zoe --no-weekly-report" in rendered.text
    assert "<script" not in html.lower()
    inline = rendered.html(inline_images=True)
    assert inline.count("data:image/png;base64,") == len(rendered.images) == 2
    assert "cid:" not in inline


def test_a_first_day_with_nothing_to_compare_renders() -> None:
    """One day of history, a zero total, no allocation yet: no crash, no invented figures."""
    day = date(2026, 11, 27)
    lone = report(
        changes=changes({day: D("0")}, day),
        history=chart_points({day: D("0")}, day),
        total=D("0"),
        accounts=account_lines([row(1, "Empty", "0", None, existed=False)], D("0")),
        by_asset_class=[],
        by_currency=[],
    )
    rendered = render(lone)
    assert [image.name for image in rendered.images] == ["net_worth"]
    assert "Total wealth: €0.00" in rendered.text
    assert "n/a" in rendered.text and "no earlier data" in rendered.text
    assert "ALLOCATION" not in rendered.text
    assert "Allocation" not in rendered.html()
    assert "new" in rendered.text  # the account's weekly change


def test_each_warning_reads_as_a_title_line_then_its_text_in_the_text_part() -> None:
    from wealth_pipeline.report.content import Notice

    rendered = render(
        report(
            warnings=[
                Notice(
                    "error", "Giro", "The last sync failed: PIN wrong.", "wealth accounts test 1"
                ),
                Notice("stale", "2 accounts", "Not synced lately", items=("A: x", "B: y")),
            ]
        )
    )
    lines = rendered.text.splitlines()
    title = lines.index("- Sync failed: Giro")
    assert lines[title + 1 : title + 3] == [
        "  The last sync failed: PIN wrong.",
        "  -> wealth accounts test 1",
    ]
    stale = lines.index("- Not synced lately: 2 accounts")
    assert lines[stale + 1 : stale + 4] == ["  Not synced lately", "  * A: x", "  * B: y"]


def test_a_currency_without_cents_is_not_called_exact_to_the_cent() -> None:
    day = date(2026, 11, 27)
    history = series(day - timedelta(days=9), ["1000000"] * 3 + ["1250000.5000"] * 7)
    yen = report(
        base_currency="JPY",
        total=D("1250000.5000"),
        changes=changes(history, day),
        history=chart_points(history, day),
        accounts=account_lines([row(1, "Yen", "1250000.5000", "1000000")], D("1250000.5000")),
        by_asset_class=slices([("cash", D("1250000.5000"))]),
        by_currency=slices([("JPY", D("1250000.5000"))]),
    )
    rendered = render(yen)
    assert rendered.subject == "[Wealth Tracker] Weekly Report - ¥1,250,000 (+¥250,000 this week)"
    for part in (rendered.text, rendered.html()):
        assert "to the cent" not in part
        assert "exact to the yen" in part.replace("\n", " ")
    assert "exact to the cent" in render(report()).text
    assert "exact to the centime" not in render(report(base_currency="CHF")).text


def test_no_percentage_against_a_zero_start_is_shown_as_nothing_rather_than_n_a() -> None:
    day = date(2026, 11, 27)
    history = series(day - timedelta(days=9), ["0"] * 3 + ["500"] * 7)
    rendered = render(report(total=D("500"), changes=changes(history, day)))
    assert "This week:    +€500.00\n" in rendered.text
    assert "(n/a)" not in rendered.text and "(n/a)" not in rendered.html()
