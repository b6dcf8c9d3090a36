"""The demo broker: deterministic (pinned numbers, two instances, cold caches), realistic
(never negative, exact positions plus cash, flat weekends, salary and spending, rare trades)
and fast (ten years of every account well under a second)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from wealth_pipeline.brokers import demo
from wealth_pipeline.brokers.base import (
    BalanceInfo,
    IntegrationContext,
    MalformedAnswer,
    NoNewData,
)
from wealth_pipeline.brokers.catalogue import credential_fields, read_fixture
from wealth_pipeline.brokers.demo import (
    ACCOUNTS,
    BROKERAGE,
    CHECKING,
    ORIGIN,
    PILLAR_3A,
    SAVINGS,
    SECURITIES,
    DemoIntegration,
)
from wealth_pipeline.brokers.registry import build_integration

TODAY = date(2024, 6, 14)  # a Friday
CATALOGUE = next(entry for entry in read_fixture() if entry["code"] == "demo")
# Pinned: any change to the walk, the seed or the ledgers shows up here, and so would a
# machine or Python version computing differently.
PINNED = {
    CHECKING.identifier: Decimal("2704.2400"),
    SAVINGS.identifier: Decimal("92148.0500"),
    BROKERAGE.identifier: Decimal("513186.6187"),
    PILLAR_3A.identifier: Decimal("208874.3839"),
}


def integration(today: date = TODAY) -> DemoIntegration:
    built = build_integration(CATALOGUE, {}, IntegrationContext(today=today))
    assert isinstance(built, DemoIntegration)
    return built


def clear_caches() -> None:
    for cached in (
        demo.price_ticks_year,
        demo.ledger,
        demo.ledger_days,
        demo.salary,
        demo.checking_outflow,
    ):
        cached.cache_clear()


def days(first: date, last: date) -> Iterator[date]:
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


@pytest.fixture(scope="module")
def history() -> dict[str, list[BalanceInfo]]:
    """Every account's whole life up to TODAY (from ORIGIN: almost twenty years)."""
    broker = integration()
    return {
        a.identifier: broker.get_historical_balances(a.identifier, ORIGIN, TODAY) for a in ACCOUNTS
    }


def places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


# --- determinism ------------------------------------------------------------------------------


def test_pinned_balances_and_prices() -> None:
    broker = integration()
    for identifier, expected in PINNED.items():
        assert broker.get_balance(identifier).balance == expected
    assert demo.price_on("DVWRL", date(2015, 3, 2)) == Decimal("45.3131")
    held = {p.symbol: (p.quantity, p.price_per_unit) for p in broker.get_positions("brokerage")}
    assert held["DVWRL"] == (Decimal("4315"), Decimal("99.4431"))


def test_two_instances_and_cold_caches_agree() -> None:
    first = integration()
    before = {
        a.identifier: (
            first.get_historical_balances(a.identifier, date(2019, 1, 1), TODAY),
            first.get_positions(a.identifier),
        )
        for a in ACCOUNTS
    }
    clear_caches()
    second = integration()
    for account in ACCOUNTS:
        again = second.get_historical_balances(account.identifier, date(2019, 1, 1), TODAY)
        assert again == before[account.identifier][0]
        assert second.get_positions(account.identifier) == before[account.identifier][1]


def test_a_day_does_not_depend_on_the_range_or_today() -> None:
    day = date(2021, 11, 30)
    late = integration(today=date(2030, 1, 1))
    for account in ACCOUNTS:
        alone = integration(today=day).get_balance(account.identifier)
        (in_range,) = [
            b
            for b in late.get_historical_balances(
                account.identifier, date(2021, 1, 1), date(2022, 1, 1)
            )
            if b.balance_date == day
        ]
        assert in_range == alone


def test_history_of_checking_matches_the_closed_form() -> None:
    """The history walks day by day; single days use the closed form: they must agree."""
    broker = integration()
    for balance in broker.get_historical_balances("checking", date(2023, 1, 1), TODAY):
        assert balance.balance == broker_for(balance.balance_date).get_balance("checking").balance


def broker_for(day: date) -> DemoIntegration:
    return integration(today=day)


# --- realism ----------------------------------------------------------------------------------


def test_history_is_continuous_exact_and_never_negative(
    history: dict[str, list[BalanceInfo]],
) -> None:
    for account in ACCOUNTS:
        balances = history[account.identifier]
        assert [b.balance_date for b in balances] == list(days(ORIGIN, TODAY))
        for balance in balances:
            assert isinstance(balance.balance, Decimal) and balance.balance >= 0
            assert places(balance.balance) <= 4
            assert balance.currency == account.currency
            if balance.available_balance is not None:
                assert isinstance(balance.available_balance, Decimal)
                assert 0 <= balance.available_balance <= balance.balance
            raw = balance.raw_data or {}
            if "cash" in raw:  # invested accounts: exactly positions plus cash
                assert Decimal(raw["positions_value"]) + Decimal(raw["cash"]) == balance.balance
                assert Decimal(raw["cash"]) >= 0


def test_positions_plus_cash_is_the_balance_on_any_day() -> None:
    for day in list(days(date(2005, 1, 3), TODAY))[::97]:
        broker = broker_for(day)
        for account in (BROKERAGE, PILLAR_3A, SAVINGS):
            balance = broker.get_balance(account.identifier)
            positions = broker.get_positions(account.identifier)
            cash = Decimal(balance.raw_data["cash"])
            assert sum((p.market_value for p in positions), Decimal(0)) + cash == balance.balance
            for p in positions:
                assert p.price_per_unit is not None and p.price_per_unit > 0
                assert p.market_value == (p.quantity * p.price_per_unit).quantize(Decimal("0.0001"))
                assert places(p.market_value) <= 4 and places(p.cost_basis or Decimal(0)) <= 4
                assert p.quantity > 0 and p.currency == account.currency
                assert p.isin and p.isin.startswith("ZZ") and "Demo" in p.name
                assert p.asset_class in ("equity", "fixed_income", "fund")
        assert broker.get_positions("checking") == []


def test_prices_are_positive_and_flat_on_weekends_and_holidays() -> None:
    for symbol in SECURITIES:
        previous = None
        moved = 0
        for day in days(ORIGIN, TODAY):
            price = demo.price_on(symbol, day)
            assert price > 0 and places(price) <= 4
            if previous is not None:
                if not demo.is_trading_day(day):
                    assert price == previous, (symbol, day)
                elif price != previous:
                    moved += 1
            previous = price
        trading = sum(1 for day in days(ORIGIN, TODAY) if demo.is_trading_day(day)) - 1
        assert moved > 0.95 * trading  # markets move nearly every trading day


def test_invested_accounts_are_flat_on_weekends(history: dict[str, list[BalanceInfo]]) -> None:
    for account in (BROKERAGE, PILLAR_3A):
        by_day = {b.balance_date: b.balance for b in history[account.identifier]}
        for day, balance in by_day.items():
            if day.weekday() >= 5:
                friday = day - timedelta(days=day.weekday() - 4)
                assert balance == by_day[friday], (account.identifier, day)


def test_market_moves_are_plausible() -> None:
    """Daily moves stay within a few volatilities; decades grow, but not absurdly."""
    for symbol, security in SECURITIES.items():
        limit = Decimal(security.drift_ppm + 4 * security.volatility_ppm).scaleb(-6)
        trading = [
            day for day in days(ORIGIN + timedelta(days=1), TODAY) if demo.is_trading_day(day)
        ]
        for day in trading:
            today, before = (
                demo.price_on(symbol, day),
                demo.price_on(symbol, day - timedelta(days=1)),
            )
            assert abs(today / before - 1) <= limit + Decimal("0.0001"), (symbol, day)
        growth = demo.price_on(symbol, TODAY) / security.start_price
        assert Decimal("0.3") < growth < Decimal("30"), symbol


def test_checking_gets_the_salary_and_spends_it() -> None:
    for year in range(2005, 2025):
        for month in range(1, 13):
            paid = demo.payday(year, month)
            if paid <= ORIGIN or paid > TODAY:
                continue
            payments = demo.checking_payments(paid)
            assert payments["salary"] == demo.salary(year) >= Decimal("4900.00")
            assert payments["sweep_to_savings"] >= 0  # the salary always refills the buffer
    balances = integration().get_historical_balances("checking", date(2023, 1, 1), TODAY)
    for before, after in pairwise(balances):
        if after.balance_date != demo.payday(after.balance_date.year, after.balance_date.month):
            assert after.balance <= before.balance  # between paydays money only goes out
    assert len({b.balance for b in balances}) > 0.5 * len(balances)


def test_savings_earn_interest_and_grow(history: dict[str, list[BalanceInfo]]) -> None:
    by_day = {b.balance_date: b.balance for b in history[SAVINGS.identifier]}
    for year in range(2005, 2024):
        before, after = by_day[date(year, 12, 30)], by_day[date(year, 12, 31)]
        assert after > before  # interest credited on 31 December
        assert after - before < before * Decimal("0.02")  # slowly
    assert by_day[TODAY] > by_day[date(2014, 6, 14)] > by_day[ORIGIN]


def test_pillar_3a_contributes_monthly() -> None:
    broker = integration()
    units = []
    for month in range(1, 7):
        day = date(2024, month, 10)
        (fund,) = broker_for(day).get_positions("pillar3a")
        units.append(fund.quantity)
        assert places(fund.quantity) <= 3
    assert units == sorted(units) and len(set(units)) == 6
    assert broker.get_balance("pillar3a").available_balance is None  # locked until retirement


def test_brokerage_trades_rarely() -> None:
    quantities = {
        tuple((p.symbol, p.quantity) for p in broker_for(day).get_positions("brokerage"))
        for day in days(date(2014, 1, 1), date(2023, 12, 31))
        if day.day in (1, 10, 20)
    }
    assert 35 <= len(quantities) <= 45  # about four buys a year (one a quarter)


# --- range, identifiers, clock ----------------------------------------------------------------


def test_ranges_are_clipped_to_the_accounts_life() -> None:
    broker = integration()
    early = broker.get_historical_balances("savings", date(1999, 1, 1), date(2005, 1, 5))
    assert [b.balance_date for b in early] == [ORIGIN, date(2005, 1, 4), date(2005, 1, 5)]
    late = broker.get_historical_balances("savings", date(2024, 6, 10), date(2030, 1, 1))
    assert late[-1].balance_date == TODAY
    assert broker.get_historical_balances("savings", date(2024, 6, 10), date(2024, 6, 1)) == []
    assert broker.supports_historical_data()


def test_ten_years_of_every_account_have_every_day() -> None:
    clear_caches()
    broker = integration()
    total = 0
    for account in ACCOUNTS:
        total += len(broker.get_historical_balances(account.identifier, date(2014, 6, 14), TODAY))
    assert total == 4 * 3654


def test_identifiers_aliases_and_unknown_accounts() -> None:
    broker = integration()
    assert broker.authenticate().success
    assert [a.identifier for a in broker.get_accounts()] == [a.identifier for a in ACCOUNTS]
    assert broker.get_balance("").currency == "USD"  # no identifier: the brokerage account
    assert broker.get_balance("demo-chf-savings") == broker.get_balance("savings")
    assert broker.get_balance(" Checking ").currency == "EUR"
    with pytest.raises(MalformedAnswer, match="DEMO-EUR-CHECKING"):
        broker.get_balance("DE89370400440532013000")


def test_before_the_accounts_open_there_is_nothing() -> None:
    broker = integration(today=date(2004, 12, 31))
    with pytest.raises(NoNewData, match="2005-01-03"):
        broker.get_balance("checking")
    assert broker.get_historical_balances("checking", date(2004, 1, 1), date(2004, 12, 31)) == []


def test_catalogue_entry_needs_no_login() -> None:
    assert credential_fields(CATALOGUE["credential_schema"]) == []
    assert integration().export_state() is None


@pytest.mark.parametrize(
    ("isin", "valid"),
    [("IE00B3RBWM25", True), ("US0378331005", True), ("US0378331006", False)],
)
def test_isin_check_digit(isin: str, valid: bool) -> None:
    assert (demo.isin_check_digit(isin[:11]) == isin[11]) is valid
    for security in SECURITIES.values():
        assert demo.isin_check_digit(security.isin[:11]) == security.isin[11]


def test_cash_flows_explain_every_balance_change() -> None:
    """Each day's change of each demo account is its flows plus its market move: exactly its
    flows for the accounts without securities on days without trades, and the brokerage
    gets dividends with withholding tax, the savings a withdrawal and interest."""
    broker = integration()
    first, last = date(2023, 6, 1), date(2024, 1, 31)
    kinds: dict[str, set[str]] = {}
    for account in demo.ACCOUNTS:
        balances = broker.get_historical_balances(account.identifier, first, last)
        flows = broker.get_cash_flows(account.identifier, first, last)
        kinds[account.identifier] = {flow.kind for flow in flows}
        assert len({flow.external_id for flow in flows}) == len(flows)
        assert all(
            flow.currency == account.currency and first <= flow.flow_date <= last for flow in flows
        )
        if account in (CHECKING, SAVINGS):
            by_day: dict[date, Decimal] = {}
            for flow in flows:
                by_day[flow.flow_date] = by_day.get(flow.flow_date, Decimal(0)) + flow.amount
            for before, after in pairwise(balances):
                assert after.balance - before.balance == by_day.get(after.balance_date, 0)
    assert {"dividend", "tax", "deposit"} <= kinds[BROKERAGE.identifier]
    assert {"deposit", "withdrawal", "interest"} <= kinds[SAVINGS.identifier]
    assert {"deposit", "withdrawal"} <= kinds[CHECKING.identifier]
    assert kinds[PILLAR_3A.identifier] == {"deposit"}
    # a re-fetch gives the same flows (idempotent re-sync by external id)
    again = broker.get_cash_flows(SAVINGS.identifier, first, last)
    assert again == broker.get_cash_flows(SAVINGS.identifier, first, last)
