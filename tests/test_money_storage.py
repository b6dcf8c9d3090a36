"""Amounts and rates are exact on both backends: in storage, in SQL sums, order and comparisons."""

import random
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import func, insert, select

from tests.support import factories
from wealth_pipeline import money
from wealth_pipeline.fx.lookup import FxRate
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import (
    account_snapshots,
    exchange_rates,
)


def _account(connection) -> int:
    factories.broker(connection, "manual", "Manual")
    return factories.account(connection, factories.user(connection, "ada"), "manual", "Cash")


def _snapshots(connection, account_id: int, balances: list[str]) -> None:
    connection.execute(
        insert(account_snapshots),
        [
            {
                "account_id": account_id,
                "snapshot_date": date(2024, 1, 1 + i),
                "balance": Decimal(b),
                "currency": "EUR",
            }
            for i, b in enumerate(balances)
        ],
    )


@pytest.mark.parametrize("value", ["0.1", "123456789012.3456", "-0.0001", "0"])
def test_amounts_round_trip_exactly(warehouse_url: str, value: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        account_id = _account(connection)
        _snapshots(connection, account_id, [value])
        stored = connection.execute(select(account_snapshots.c.balance)).scalar_one()
    assert isinstance(stored, Decimal)
    assert stored == Decimal(value)
    assert str(stored) == str(money.quantize(Decimal(value), 4))


def test_twelve_place_rate_round_trips(warehouse_url: str) -> None:
    rate = Decimal("0.784153507161")
    with get_engine(warehouse_url).begin() as connection:
        connection.execute(
            insert(exchange_rates).values(
                rate_date=date(2024, 1, 2), quote_currency="GBP", rate=rate, source="test"
            )
        )
        stored = connection.execute(select(exchange_rates.c.rate)).scalar_one()
    assert stored == rate and isinstance(stored, Decimal)


def test_ten_tenths_sum_to_exactly_one_in_sql(warehouse_url: str) -> None:
    with get_engine(warehouse_url).begin() as connection:
        _snapshots(connection, _account(connection), ["0.1"] * 10)
        total = connection.execute(select(func.sum(account_snapshots.c.balance))).scalar_one()
    assert total == Decimal("1.0000")
    assert str(total) == "1.0000"


def test_ordering_and_comparisons_match_decimal(warehouse_url: str) -> None:
    values = ["10", "9.9999", "-2.5", "0.1", "100000000000.0001", "0.0999", "-0.0001"]
    with get_engine(warehouse_url).begin() as connection:
        _snapshots(connection, _account(connection), values)
        ordered = (
            connection.execute(
                select(account_snapshots.c.balance).order_by(account_snapshots.c.balance)
            )
            .scalars()
            .all()
        )
        above = (
            connection.execute(
                select(account_snapshots.c.balance).where(
                    account_snapshots.c.balance > Decimal("0.1")
                )
            )
            .scalars()
            .all()
        )
    assert ordered == sorted(Decimal(v) for v in values)
    assert sorted(above) == sorted(Decimal(v) for v in values if Decimal(v) > Decimal("0.1"))


def test_more_places_than_the_column_holds_is_refused(warehouse_url: str) -> None:
    with get_engine(warehouse_url).begin() as connection:
        account_id = _account(connection)
        with pytest.raises(Exception, match="more than 4 decimal places"):
            _snapshots(connection, account_id, ["0.12345"])


def test_floats_are_refused(warehouse_url: str) -> None:
    with get_engine(warehouse_url).begin() as connection:
        account_id = _account(connection)
        with pytest.raises(Exception, match="refusing a float"):
            connection.execute(
                insert(account_snapshots).values(
                    account_id=account_id,
                    snapshot_date=date(2024, 1, 1),
                    balance=0.1,
                    currency="EUR",
                )
            )


def test_one_snapshot_per_account_and_day(warehouse_url: str) -> None:
    engine = get_engine(warehouse_url)
    with engine.begin() as connection:
        account_id = _account(connection)
        _snapshots(connection, account_id, ["1"])
    with pytest.raises(Exception, match=r"(?i)unique"), engine.begin() as connection:
        _snapshots(connection, account_id, ["2"])


def test_quantize_rounds_half_even_once() -> None:
    assert money.quantize(Decimal("0.00005"), 4) == Decimal("0.0000")
    assert money.quantize(Decimal("0.00015"), 4) == Decimal("0.0002")
    assert money.divide(Decimal(1), Decimal(3), 12) == Decimal("0.333333333333")
    assert money.divide(Decimal("0.8595"), Decimal("1.0942"), 12) == Decimal(
        "0.785505392067"
    )  # ...06726 rounds down
    assert money.divide(Decimal(1), Decimal(8), 2) == Decimal("0.12")  # tie goes to even
    assert money.divide(Decimal(3), Decimal(8), 2) == Decimal("0.38")
    with pytest.raises(TypeError):
        money.quantize(0.1, 4)


def _at(units: int, places: int) -> Decimal:
    """`units` * 10**-places, exactly (`scaleb` would round to the context's 28 digits)."""
    return Decimal(f"{units}E-{places}")


def _random_products(rng: random.Random, count: int):
    """(amount, rate) pairs at the stored scales, a third of them exact half-unit ties."""
    for n in range(count):
        amount_units = rng.choice(
            [rng.randrange(-(10**6), 10**6), rng.randrange(-(10**27), 10**27)]
        )
        rate_units = rng.randrange(1, 10 ** rng.randrange(1, 16))
        if n % 3 == 0:  # the product ends in exactly 5 at the 5th place: a tie
            amount_units |= 1
            rate_units = rate_units // 10**12 * 10**12 + 5 * 10**11
        yield Decimal(amount_units).scaleb(-4), Decimal(rate_units).scaleb(-12)


def test_multiply_is_fxrate_convert_and_rounds_half_even() -> None:
    """The batch path (`money.multiply`, Decimal in C) against the reference conversion
    (`FxRate.convert`: an exact Fraction product rounded once) and Python's own half-even
    `round` of the exact product, over random values and ties on both sides of even."""
    rng = random.Random(20260101)
    ties = 0
    for amount, rate in _random_products(rng, 20_000):
        exact = Fraction(amount) * Fraction(rate)
        expected = _at(round(exact * 10**4), 4)
        reference = FxRate("USD", "CHF", date(2024, 1, 5), rate, date(2024, 1, 5)).convert(amount)
        assert money.multiply(amount, rate, money.AMOUNT_PLACES) == reference == expected
        ties += (exact * 10**4).denominator == 2
    assert ties >= 6_000


@pytest.mark.parametrize("places", [0, 4, 10, 12])
def test_quantize_of_a_fraction_is_pythons_half_even_round(places: int) -> None:
    rng = random.Random(places)
    for _ in range(5_000):
        value = Fraction(rng.randrange(-(10**20), 10**20), rng.choice([2, 8, 3, 10**places * 2, 7]))
        assert money.quantize(value, places) == _at(round(value * 10**places), places)


def test_json_numbers_never_become_floats() -> None:
    parsed = money.loads_json('{"rate": 1.0876, "n": 136}')
    assert parsed == {"rate": Decimal("1.0876"), "n": 136}
    assert isinstance(parsed["rate"], Decimal)
