"""`warehouse.dialect`: what differs between SQLite and PostgreSQL, checked on both.

Each helper is run against the real database: the upsert keeps one row per key, the bulk
writers land exactly the rows given (COPY on PostgreSQL), date arithmetic crosses months and
years, and the SQLite storage encoding round-trips amounts to the last unit.
"""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Date, bindparam, case, insert, select, text

from wealth_pipeline import money
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import exchange_rates, mart_changes, users

AMOUNTS = ["0", "0.0001", "-0.0001", "1234567.8901", "-98765.4321", "922337203685477.5807"]


def _user(connection) -> int:
    return connection.execute(insert(users).values(username="ada")).inserted_primary_key[0]


def test_upsert_keeps_one_row_per_key_and_the_earliest_day(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        user_id = _user(connection)
        for day in (date(2024, 5, 3), date(2024, 5, 1), date(2024, 5, 9)):
            statement = dialect.insert(connection, mart_changes).values(
                user_id=user_id, earliest_changed_day=day, reason=str(day)
            )
            earlier = statement.excluded.earliest_changed_day < mart_changes.c.earliest_changed_day
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[mart_changes.c.user_id],
                    set_={
                        "earliest_changed_day": case(
                            (earlier, statement.excluded.earliest_changed_day),
                            else_=mart_changes.c.earliest_changed_day,
                        )
                    },
                )
            )
        ignored = dialect.insert(connection, mart_changes).values(
            user_id=user_id, earliest_changed_day=date(2000, 1, 1), reason="ignored"
        )
        connection.execute(ignored.on_conflict_do_nothing(index_elements=["user_id"]))
        rows = connection.execute(select(mart_changes.c.earliest_changed_day)).scalars().all()
    assert rows == [date(2024, 5, 1)]


def test_bulk_insert_lands_exact_rates_and_refuses_extra_places(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    rows = [
        {
            "rate_date": date(2024, 1, 2 + i),
            "base_currency": "EUR",
            "quote_currency": "USD",
            "rate": Decimal("1.094512345678") + i,
            "source": "test",
        }
        for i in range(3)
    ]
    with engine.begin() as connection:
        dialect.bulk_insert(connection, exchange_rates, rows)
    with engine.connect() as connection:
        stored = connection.execute(
            select(exchange_rates.c.rate).order_by(exchange_rates.c.rate_date)
        ).scalars().all()
    assert stored == [row["rate"] for row in rows]
    too_precise = [{**rows[0], "rate_date": date(2024, 2, 1), "rate": Decimal("1.0000000000001")}]
    with pytest.raises(Exception, match="more than 12 decimal places"), engine.begin() as c:
        dialect.bulk_insert(c, exchange_rates, too_precise)


def test_copy_rows_fills_a_scratch_table(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE scratch (day DATE, amount "
            f"{dialect.amount_column(connection, money.AMOUNT_PLACES)}, note TEXT)"
        )
        rows = [
            (
                date(2024, 3, i + 1),
                dialect.stored_value(connection.dialect, i * 10_001, money.AMOUNT_PLACES),
                None if i % 2 else f"row {i}",
            )
            for i in range(5)
        ]
        dialect.copy_rows(connection, "scratch", ("day", "amount", "note"), rows)
        dialect.analyze(connection, "scratch")
        got = connection.exec_driver_sql("SELECT amount, note FROM scratch ORDER BY day").all()
        connection.exec_driver_sql(f"DROP TABLE {dialect.temporary(connection, 'scratch')}")
    assert [
        dialect.stored_units(engine.dialect, amount, money.AMOUNT_PLACES) for amount, _ in got
    ] == [i * 10_001 for i in range(5)]
    assert [note for _, note in got] == ["row 0", None, "row 2", None, "row 4"]


@pytest.mark.parametrize(
    ("day", "days", "expected"),
    [
        (date(2024, 1, 31), 1, date(2024, 2, 1)),
        (date(2024, 3, 1), -1, date(2024, 2, 29)),
        (date(2023, 12, 25), 14, date(2024, 1, 8)),
        (date(2024, 1, 10), -14, date(2023, 12, 27)),
    ],
)
def test_add_days_crosses_months_and_years(
    warehouse_url: str, day: date, days: int, expected: date
) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        user_id = _user(connection)
        connection.execute(
            insert(mart_changes).values(user_id=user_id, earliest_changed_day=day, reason="x")
        )
        shifted = connection.execute(
            select(dialect.add_days(connection, mart_changes.c.earliest_changed_day, days))
        ).scalar_one()
    assert date.fromisoformat(str(shifted)) == expected


def test_sql_helpers_agree_on_days(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    sql = dialect.sql_helpers(engine.dialect.name)
    with engine.connect() as connection:
        next_day, month, between, shown = connection.execute(
            text(
                f"SELECT {sql['next_day']('d')}, {sql['month_start']('d')}, "
                f"{sql['days_between']('e', 'd')}, {sql['day_text']('d')} "
                "FROM (SELECT :d AS d, :e AS e) days"
            ).bindparams(bindparam("d", type_=Date), bindparam("e", type_=Date)),
            {"d": date(2024, 2, 29), "e": date(2025, 3, 1)},
        ).one()
    assert str(next_day) == "2024-03-01"
    assert str(month) == "2024-02-01"
    assert between == 366
    assert shown == "2024-02-29"


@pytest.mark.parametrize("value", AMOUNTS)
def test_amount_text_prints_the_stored_amount_exactly(warehouse_url: str, value: str) -> None:
    engine = get_engine(warehouse_url)
    name = engine.dialect.name
    stored = dialect.stored_value(
        name, dialect.to_units(Decimal(value), money.AMOUNT_PLACES), money.AMOUNT_PLACES
    )
    column = "CAST(:v AS BIGINT)" if name == dialect.SQLITE else "CAST(:v AS NUMERIC(28, 4))"
    with engine.connect() as connection:
        printed = connection.execute(
            text(f"SELECT {dialect.amount_text(name, 'v', money.AMOUNT_PLACES)} "
                 f"FROM (SELECT {column} AS v) stored"),
            {"v": stored},
        ).scalar_one()
    assert Decimal(printed) == Decimal(value)
    assert printed == f"{Decimal(value).quantize(Decimal('0.0001'))}"


def test_joined_text_keeps_the_order(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        user_id = _user(connection)
        connection.execute(
            insert(exchange_rates),
            [
                {
                    "rate_date": date(2024, 1, day),
                    "base_currency": "EUR",
                    "quote_currency": "USD",
                    "rate": Decimal(day),
                    "source": "t",
                }
                for day in (9, 2, 5)
            ],
        )
        sql = dialect.sql_helpers(engine.dialect.name)
        joined = connection.execute(
            text(
                dialect.joined_text(
                    engine.dialect.name,
                    sql["day_text"]("rate_date"),
                    "exchange_rates WHERE quote_currency = :q",
                    "rate_date",
                )
            ),
            {"q": "USD"},
        ).scalar_one()
    assert user_id and joined == "2024-01-02,2024-01-05,2024-01-09"


@pytest.mark.parametrize("value", AMOUNTS)
def test_units_round_trip(value: str) -> None:
    units = dialect.to_units(Decimal(value), money.AMOUNT_PLACES)
    assert dialect.from_units(units, money.AMOUNT_PLACES) == Decimal(value)
    assert dialect.stored_units(dialect.SQLITE, units, money.AMOUNT_PLACES) == units
    assert dialect.stored_units(dialect.POSTGRESQL, Decimal(value), money.AMOUNT_PLACES) == units


def test_units_refuse_extra_places_and_int64_overflow() -> None:
    with pytest.raises(ValueError, match="more than 4 decimal places"):
        dialect.to_units(Decimal("0.00001"), 4)
    with pytest.raises(OverflowError, match="too large"):
        dialect.to_units(Decimal("922337203685477.5808"), 4)
    assert dialect.to_units(None, 4) is None


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported SQL dialect"):
        dialect.sql_helpers("oracle")
