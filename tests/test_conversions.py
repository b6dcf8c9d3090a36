"""Set-based conversion of stored snapshots: exact values from the ECB sample, reasons kept
for what cannot convert (never 1.0), dry run and limit, one UPDATE per table whatever the
number of rows, the sensor, and a base-currency change reconverting the whole history."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from sqlalchemy import Connection, event, insert, select, update

from tests.support import factories
from tests.support.automation import Automation, conversion_metadata, convert_days, rates_arrived
from wealth_pipeline import money
from wealth_pipeline.accounts import Owner
from wealth_pipeline.brokers.catalogue import load_catalogue
from wealth_pipeline.conversions.convert import (
    ConversionReport,
    Skipped,
    convert_amount,
    convert_price,
    convert_snapshots,
    reconvert_user,
)
from wealth_pipeline.fx.lookup import FxRate
from wealth_pipeline.profiles import update_profile
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    mart_changes,
    portfolio_positions,
)

# From tests/data/eurofxref-sample.csv, 2024-01-05 (a Friday): 1 EUR = 1.0921 USD = 0.932 CHF.
USD_CHF_0105 = Decimal("0.853401703141")  # 0.932 / 1.0921, 12 places half-even
CHF_USD_0105 = Decimal("1.171781115880")  # 1.0921 / 0.932
# 2024-02-01: 1 EUR = 1.0814 USD = 0.9336 CHF.
RATE_0201 = Decimal("0.863325319031")  # 0.9336 / 1.0814
EXPECTED_0201 = Decimal("0.8633")
BERLIN = ZoneInfo("Europe/Berlin")


def snapshot(connection: Connection, snapshot_id: int):
    return connection.execute(
        select(account_snapshots).where(account_snapshots.c.id == snapshot_id)
    ).one()


@pytest.fixture
def world(warehouse_url: str):
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        load_catalogue(connection)
        owner = factories.user(connection, "alice", "CHF")
        usd = factories.account(
            connection, owner, "manual", f"manual USD {owner.username}", kind="savings", currency="USD"
        )
    return engine, owner, usd


def test_convert_amount_is_fxrate_convert() -> None:
    rate = FxRate("USD", "CHF", date(2024, 1, 5), USD_CHF_0105, date(2024, 1, 5))
    for amount in ("1234.5678", "-0.0001", "99999999999.9999", "0", "0.5000"):
        assert convert_amount(Decimal(amount), rate.rate) == rate.convert(Decimal(amount))
    # Half-even at the 4th place, exactly once: 0.00005 -> 0.0000, 0.00015 -> 0.0002.
    assert convert_amount(Decimal("0.0001"), Decimal("0.5")) == Decimal("0.0000")
    assert convert_amount(Decimal("0.0003"), Decimal("0.5")) == Decimal("0.0002")
    assert convert_price(Decimal("10.123456"), USD_CHF_0105) == money.quantize(
        Fraction("10.123456") * Fraction(USD_CHF_0105), money.PRICE_PLACES
    )


def test_skipped_reasons_group_one_gap_into_one_line() -> None:
    reason = "no ECB rate for ISK within 14 days before {}: the ECB published none for ISK"
    report = ConversionReport(
        skipped=[
            Skipped(n, 1, date(2008, 12, 20) + timedelta(days=n), "ISK", "EUR", reason.format(d))
            for n, d in enumerate(["2008-12-20", "2008-12-21", "2008-12-22"])
        ]
    )
    [(grouped, count, first, last)] = report.skipped_reasons()
    assert grouped == reason.format("<day>")
    assert (count, first, last) == (3, date(2008, 12, 20), date(2008, 12, 22))


def test_converts_exactly_with_cross_rates_and_records_the_mart_change(world) -> None:
    engine, owner, usd = world
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2023, 12, 20), date(2024, 1, 20))
        friday = factories.snapshot(connection, usd, date(2024, 1, 5), "1234.5678", "USD", source="auto")
        saturday = factories.snapshot(connection, usd, date(2024, 1, 6), "1000.0000", "USD", source="auto")
        connection.execute(
            insert(portfolio_positions).values(
                snapshot_id=friday,
                symbol="VT",
                quantity=Decimal("3.00000000"),
                price_per_unit=Decimal("10.1234560000"),
                market_value=Decimal("30.3704"),
                currency="USD",
            )
        )
    with engine.begin() as connection:
        report = convert_snapshots(connection)
    assert (report.fixed, report.positions_fixed, report.skipped, report.errors) == (2, 1, [], [])
    with engine.connect() as connection:
        row = snapshot(connection, friday)
        assert row.base_currency == "CHF"
        assert row.exchange_rate_used == USD_CHF_0105
        assert row.balance_base_currency == Decimal("1053.5823")  # 1234.5678 * 0.853401703141
        assert row.rate_date == date(2024, 1, 5)
        assert row.conversion_note is None
        weekend = snapshot(connection, saturday)  # the Friday rate, dated Friday
        assert (weekend.rate_date, weekend.balance_base_currency) == (
            date(2024, 1, 5),
            Decimal("853.4017"),
        )
        position = connection.execute(select(portfolio_positions)).one()
        assert position.exchange_rate_used == USD_CHF_0105
        assert position.price_base_currency == Decimal("8.6393745921")
        assert position.market_value_base_currency == Decimal("25.9182")
        change = connection.execute(select(mart_changes)).one()
        assert (change.user_id, change.earliest_changed_day) == (owner.id, date(2024, 1, 5))
    with engine.begin() as connection:  # nothing left to do: nothing selected, nothing written
        again = convert_snapshots(connection)
    assert (again.selected, again.fixed) == (0, 0)


def test_no_rate_stays_unconverted_with_the_reason_never_one(world) -> None:
    engine, owner, usd = world
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2008, 11, 25), date(2008, 12, 31))
        isk = factories.account(
            connection, owner, "manual", f"manual ISK {owner.username}", kind="savings", currency="ISK"
        )
        gap = factories.snapshot(connection, isk, date(2008, 12, 30), "5000.0000", "ISK", source="auto")
        unknown = factories.snapshot(connection, usd, date(2008, 12, 29), "10.0000", "XAU", source="auto")
        ok = factories.snapshot(connection, usd, date(2008, 12, 30), "10.0000", "USD", source="auto")
    with engine.begin() as connection:
        report = convert_snapshots(connection)
    assert report.fixed == 1
    assert {item.snapshot_id for item in report.skipped} == {gap, unknown}
    with engine.connect() as connection:
        for snapshot_id, words in ((gap, "published none for ISK"), (unknown, "unknown currency")):
            row = snapshot(connection, snapshot_id)
            assert row.balance_base_currency is None
            assert row.exchange_rate_used is None
            assert words in row.conversion_note
        assert snapshot(connection, ok).balance_base_currency is not None


def test_dry_run_writes_nothing_and_limit_takes_the_oldest(world) -> None:
    engine, _owner, usd = world
    days = [date(2024, 1, 3) + timedelta(days=n) for n in range(6)]
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2023, 12, 20), date(2024, 1, 20))
        ids = [factories.snapshot(connection, usd, day, "100.0000", "USD", source="auto") for day in days]
    with engine.begin() as connection:
        dry = convert_snapshots(connection, dry_run=True)
    assert (dry.fixed, dry.dry_run) == (6, True)
    with engine.connect() as connection:
        assert all(snapshot(connection, i).balance_base_currency is None for i in ids)
        assert connection.execute(select(mart_changes)).first() is None
    with engine.begin() as connection:
        limited = convert_snapshots(connection, limit=2)
    assert limited.fixed == 2
    with engine.connect() as connection:
        converted = [snapshot(connection, i).balance_base_currency is not None for i in ids]
    assert converted == [True, True, False, False, False, False]


@pytest.mark.parametrize("count", [3, 60])
def test_one_update_per_table_whatever_the_number_of_rows(world, count: int) -> None:
    engine, _owner, usd = world
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2023, 12, 20), date(2024, 4, 10))
        for n in range(count):
            snapshot_id = factories.snapshot(
                connection, usd, date(2024, 1, 2) + timedelta(days=n), "1.0000", "USD", source="auto"
            )
            connection.execute(
                insert(portfolio_positions).values(
                    snapshot_id=snapshot_id,
                    quantity=Decimal("1.00000000"),
                    market_value=Decimal("1.0000"),
                    currency="GBP",
                )
            )
    updates: list[str] = []

    def count_updates(_conn, _cursor, statement, _params, _context, _many) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append(statement)

    event.listen(engine, "before_cursor_execute", count_updates)
    try:
        with engine.begin() as connection:
            report = convert_snapshots(connection)
    finally:
        event.remove(engine, "before_cursor_execute", count_updates)
    assert (report.fixed, report.positions_fixed) == (count, count)
    assert len(updates) == 2  # one for snapshots, one for positions


def test_base_currency_change_reconverts_the_whole_history(world) -> None:
    engine, owner, _usd = world
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2023, 12, 20), date(2024, 1, 20))
        chf = factories.account(
            connection, owner, "manual", f"manual CHF {owner.username}", kind="savings", currency="CHF"
        )
        first = factories.snapshot(connection, chf, date(2024, 1, 5), "1000.0000", "CHF", source="auto")
        second = factories.snapshot(connection, chf, date(2024, 1, 10), "10.0000", "CHF", source="auto")
        convert_snapshots(connection)
        assert snapshot(connection, first).balance_base_currency == Decimal("1000.0000")
        connection.execute(update(mart_changes).values(earliest_changed_day=date(2024, 1, 9)))
    with engine.begin() as connection:
        update_profile(connection, owner.id, base_currency="USD")
        report = reconvert_user(connection, owner.id)
    assert report.fixed == 2
    with engine.connect() as connection:
        row = snapshot(connection, first)
        assert (row.base_currency, row.exchange_rate_used) == ("USD", CHF_USD_0105)
        assert row.balance_base_currency == Decimal("1171.7811")
        assert snapshot(connection, second).base_currency == "USD"
        change = connection.execute(select(mart_changes)).one()
        assert change.earliest_changed_day == date(2024, 1, 5)


def test_a_day_is_converted_when_its_rate_arrives_and_not_twice(world) -> None:
    """The automation condition of `converted_snapshots`: nothing while the day's rates are
    missing, one request once they arrive, none again after the day is converted."""
    engine, _owner, usd = world
    url = engine.url.render_as_string(hide_password=False)
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2023, 12, 20), date(2024, 1, 3))
        waiting = factories.snapshot(connection, usd, date(2024, 2, 1), "1.0000", "USD", source="auto")
    with dg.instance_for_test() as instance:
        automation = Automation(instance, datetime(2024, 2, 1, 18, tzinfo=BERLIN))
        assert automation.tick() == {}  # no rate within 14 days before 2024-02-01 yet
        assert automation.tick() == {}
        with engine.begin() as connection:
            factories.ecb_rates(connection, date(2024, 1, 29), date(2024, 2, 2))
        rates_arrived(instance, "2024-01-29", "2024-01-30", "2024-01-31", "2024-02-01")
        requested = automation.tick()
        assert requested == {
            "converted_snapshots": ["2024-01-29", "2024-01-30", "2024-01-31", "2024-02-01"]
        }
        assert automation.tick() == {}  # the same data: no second run
        job = convert_days(instance, url, requested["converted_snapshots"])
        assert job.success
        with engine.connect() as connection:
            row = snapshot(connection, waiting)
        assert row.balance_base_currency == EXPECTED_0201
        assert row.exchange_rate_used == RATE_0201
        assert automation.tick() == {}  # converted: nothing is left to do


# 2024-01-08 (a Monday): 1 EUR = 1.0946 USD = 0.9308 CHF.
RATE_0108 = Decimal("0.850356294537")  # 0.9308 / 1.0946


def test_a_day_converted_before_its_rate_is_refreshed_when_it_arrives(world) -> None:
    """The rate refresh failed on Monday and the sync converted Monday at Friday's rate: once
    Monday's rate arrives, the automation's run gives Monday (and its positions) that rate;
    the Saturday at Friday's rate stays, and nothing is requested again."""
    engine, owner, usd = world
    url = engine.url.render_as_string(hide_password=False)
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2023, 12, 20), date(2024, 1, 5))
        saturday = factories.snapshot(connection, usd, date(2024, 1, 6), "1000.0000", "USD", source="auto")
        monday = factories.snapshot(connection, usd, date(2024, 1, 8), "1234.5678", "USD", source="auto")
        connection.execute(
            insert(portfolio_positions).values(
                snapshot_id=monday,
                symbol="VT",
                quantity=Decimal("3.00000000"),
                price_per_unit=Decimal("10.1234560000"),
                market_value=Decimal("30.3704"),
                currency="USD",
            )
        )
        provisional = convert_snapshots(connection)
    assert (provisional.fixed, provisional.refreshed) == (2, 0)
    with engine.connect() as connection:
        assert snapshot(connection, monday).rate_date == date(2024, 1, 5)  # Friday's, for now
        assert snapshot(connection, monday).balance_base_currency == Decimal("1053.5823")
        weekend_before = snapshot(connection, saturday)
    with dg.instance_for_test() as instance:
        automation = Automation(instance, datetime(2024, 1, 8, 20, tzinfo=BERLIN))
        assert automation.tick() == {}  # Friday's rate is the newest: nothing to refresh
        with engine.begin() as connection:
            connection.execute(mart_changes.delete())
            factories.ecb_rates(connection, date(2024, 1, 8), date(2024, 1, 8))  # Monday's, late
        rates_arrived(instance, "2024-01-08")
        requested = automation.tick()  # the days whose as-of window holds Monday: Monday
        assert requested == {"converted_snapshots": ["2024-01-08"]}
        job = convert_days(instance, url, requested["converted_snapshots"])
        assert job.success
        metadata = conversion_metadata(job)
        assert (metadata["fixed"], metadata["refreshed"], metadata["skipped"]) == (0, 1, 0)
        with engine.connect() as connection:
            row = snapshot(connection, monday)
            assert (row.rate_date, row.exchange_rate_used) == (date(2024, 1, 8), RATE_0108)
            assert row.balance_base_currency == Decimal("1049.8225")  # 1234.5678 * RATE_0108
            position = connection.execute(select(portfolio_positions)).one()
            assert position.exchange_rate_used == RATE_0108
            assert position.price_base_currency == Decimal("8.6085445321")
            assert position.market_value_base_currency == Decimal("25.8257")
            weekend = snapshot(connection, saturday)  # Friday's rate is its own day's
            assert (weekend.rate_date, weekend.balance_base_currency) == (
                date(2024, 1, 5),
                Decimal("853.4017"),
            )
            assert weekend.updated_at == weekend_before.updated_at
            change = connection.execute(select(mart_changes)).one()
            assert (change.user_id, change.earliest_changed_day) == (owner.id, date(2024, 1, 8))
        assert automation.tick() == {}  # done: no second run
    with engine.begin() as connection:  # a re-run changes nothing and records nothing
        connection.execute(mart_changes.delete())
        again = convert_snapshots(connection)
        assert (again.selected, again.fixed, again.refreshed) == (0, 0, 0)
        assert connection.execute(select(mart_changes)).first() is None


def test_a_rate_for_a_later_day_does_not_refresh_an_earlier_snapshot(world) -> None:
    """Only a rate dated after the one used and on or before the snapshot's day counts."""
    engine, _owner, usd = world
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2023, 12, 20), date(2024, 1, 5))
        saturday = factories.snapshot(connection, usd, date(2024, 1, 6), "1000.0000", "USD", source="auto")
        sunday = factories.snapshot(connection, usd, date(2024, 1, 7), "1000.0000", "USD", source="auto")
        convert_snapshots(connection)
        factories.ecb_rates(connection, date(2024, 1, 8), date(2024, 1, 12))
        report = convert_snapshots(connection)
        assert (report.selected, report.refreshed) == (0, 0)
        assert {snapshot(connection, sid).rate_date for sid in (saturday, sunday)} == {
            date(2024, 1, 5)
        }


# --- PostgreSQL converts in the database: the same results as the Python planners ---------------

TIE_CASES = [
    ("0.0001", "0.5"),  # 0.00005: a tie, even neighbour 0.0000
    ("0.0003", "0.5"),  # 0.00015 -> 0.0002
    ("-0.0001", "0.5"),  # -0.00005 -> -0.0000
    ("-0.0003", "0.5"),  # -0.00015 -> -0.0002
    ("1.0005", "0.5"),  # 0.50025 -> 0.5002
    ("1.0007", "0.5"),  # 0.50035 -> 0.5004
    ("12345678901234567890.1234", "1.000000000001"),
    ("-99999999999.9999", "0.853401703141"),
    ("0.0000", "175.680000000000"),
    ("3.0000", "0.333333333333"),
    ("-2.5000", "0.000100000000"),  # -0.00025: tie -> -0.0002
]


@pytest.mark.postgres
def test_half_even_in_sql_matches_python(postgres_server_url: str) -> None:
    from wealth_pipeline.conversions.in_database import half_even

    engine = get_engine(postgres_server_url)
    cases = [(Decimal(a), Decimal(r)) for a, r in TIE_CASES]
    # and every tie pattern of the 4th and 10th place around a few magnitudes and signs
    cases += [
        (Decimal(sign) * Decimal(units).scaleb(-4), Decimal("0.5"))
        for units in range(0, 40)
        for sign in ("1", "-1")
    ]
    with engine.connect() as connection:
        for amount, rate in cases:
            product = f"(CAST('{amount}' AS numeric) * CAST('{rate}' AS numeric))"
            got_amount, got_price = connection.exec_driver_sql(
                f"SELECT {half_even(product, 4)}, {half_even(product, 10)}"
            ).one()
            assert got_amount == convert_amount(amount, rate), (amount, rate)
            assert got_price == convert_price(amount, rate), (amount, rate)


def _mixed_history(connection: Connection, owner: Owner, usd: int) -> dict[str, int]:
    """Snapshots and positions in several currencies for two owners, some without a rate."""
    bob = factories.user(connection, "bob", "USD")
    gbp = factories.account(
            connection, bob, "manual", f"manual GBP {bob.username}", kind="savings", currency="GBP"
        )
    isk = factories.account(
            connection, owner, "manual", f"manual ISK {owner.username}", kind="savings", currency="ISK"
        )
    ids = {}
    for n in range(12):
        day = date(2008, 12, 22) + timedelta(days=n)
        ids[f"usd{n}"] = factories.snapshot(connection, usd, day, f"{1000 + n}.0{n % 10}05", "USD", source="auto")
        ids[f"gbp{n}"] = factories.snapshot(connection, gbp, day, f"-{77 + n}.3333", "GBP", source="auto")
        ids[f"isk{n}"] = factories.snapshot(connection, isk, day, "5000.0000", "ISK", source="auto")
        connection.execute(
            insert(portfolio_positions),
            [
                {"snapshot_id": ids[f"usd{n}"], "symbol": "VT", "quantity": Decimal("3"),
                 "price_per_unit": Decimal("10.1234560001"), "market_value": Decimal("30.3704"),
                 "currency": "USD"},
                {"snapshot_id": ids[f"gbp{n}"], "symbol": "CASH", "quantity": Decimal("1"),
                 "price_per_unit": None, "market_value": Decimal("0.0001"), "currency": "EUR"},
                {"snapshot_id": ids[f"isk{n}"], "symbol": "ISK", "quantity": Decimal("1"),
                 "price_per_unit": Decimal("1"), "market_value": Decimal("5000.0000"),
                 "currency": "ISK"},
            ],
        )  # fmt: skip
    ids["unknown"] = factories.snapshot(connection, usd, date(2009, 1, 5), "10.0000", "XAU", source="auto")
    return ids


def _expected(connection: Connection) -> tuple[dict, dict]:
    """What the Python planners make of the stored rows (as they are now)."""
    from wealth_pipeline.conversions import convert

    scope = convert._scope(None, None, None)
    snapshots = convert._select_snapshots(connection, scope, False, None)
    positions = convert._select_positions(connection, scope, False, None)
    days = [row[2] for row in snapshots]
    book = convert.RateBook.load(connection, min(days), max(days), None)
    report = ConversionReport()
    planned_snapshots = {
        row[0]: row[1:]
        for row in convert.plan_snapshot_updates(
            [(*row[:6], None, None, None, None, None) for row in snapshots], book, report
        )
    }
    planned_positions = {
        row[0]: row[1:]
        for row in convert.plan_position_updates(
            [(*row[:7], "x", None, None) for row in positions], book, report
        )
    }
    return planned_snapshots, planned_positions


def _stored(connection: Connection) -> tuple[dict, dict]:
    s, p = account_snapshots, portfolio_positions
    snapshots = {
        row[0]: tuple(row[1:])
        for row in connection.execute(
            select(s.c.id, s.c.base_currency, s.c.balance_base_currency, s.c.exchange_rate_used,
                   s.c.rate_date, s.c.conversion_note)
        )
    }  # fmt: skip
    positions = {
        row[0]: tuple(row[1:])
        for row in connection.execute(
            select(p.c.id, p.c.price_base_currency, p.c.market_value_base_currency,
                   p.c.exchange_rate_used)
        )
    }  # fmt: skip
    return snapshots, positions


def test_every_row_as_the_python_planners_compute_it(world) -> None:
    engine, owner, usd = world
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2008, 11, 25), date(2009, 1, 10))
        ids = _mixed_history(connection, owner, usd)
    with engine.connect() as connection:
        expected = _expected(connection)
    with engine.begin() as connection:
        report = convert_snapshots(connection)
    with engine.connect() as connection:
        assert _stored(connection) == expected
        change = {
            r.user_id: r.earliest_changed_day for r in connection.execute(select(mart_changes))
        }
    assert report.selected == 37
    skipped = {item.snapshot_id for item in report.skipped}
    assert ids["unknown"] in skipped and ids["usd0"] not in skipped
    assert report.fixed == 37 - len(skipped)
    assert all(item.reason for item in report.skipped)
    # the ISK rows of the ECB's own gap (December 2008) stay unconverted, with the reason
    assert {item.currency for item in report.skipped} == {"ISK", "XAU"}
    assert set(change.values()) == {date(2008, 12, 22)}
    assert report.earliest_by_user == {owner.id: date(2008, 12, 22), **{
        uid: date(2008, 12, 22) for uid in change if uid != owner.id}}  # fmt: skip


def test_rerun_writes_no_row_and_a_sparse_scope_converts_the_same(world) -> None:
    engine, _owner, usd = world
    with engine.begin() as connection:
        factories.ecb_rates(connection, date(2008, 11, 25), date(2009, 1, 10))
        factories.ecb_rates(connection, date(2023, 12, 20), date(2024, 1, 20))
        old = factories.snapshot(connection, usd, date(2008, 12, 30), "10.0000", "USD", source="auto")
        new = factories.snapshot(connection, usd, date(2024, 1, 5), "1234.5678", "USD", source="auto")
        connection.execute(
            insert(portfolio_positions).values(
                snapshot_id=new, quantity=Decimal("1"), market_value=Decimal("1.0000"),
                currency="GBP",
            )
        )  # fmt: skip
    with engine.connect() as connection:
        expected = _expected(connection)
    with engine.begin() as connection:  # 15 years apart: only the days that occur get rates
        report = convert_snapshots(connection)
    assert (report.fixed, report.positions_fixed, report.skipped) == (2, 1, [])
    with engine.connect() as connection:
        assert _stored(connection) == expected
        assert snapshot(connection, new).balance_base_currency == Decimal("1053.5823")
        assert snapshot(connection, old).conversion_note is None

    written: list[int] = []

    def rowcount(_conn, cursor, statement, _params, _context, _many) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            written.append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", rowcount)
    try:
        with engine.begin() as connection:
            again = convert_snapshots(connection, only_missing=False)
    finally:
        event.remove(engine, "after_cursor_execute", rowcount)
    assert (again.fixed, again.positions_fixed) == (2, 1)
    assert sum(n for n in written if n > 0) == 0  # every row already held its result
