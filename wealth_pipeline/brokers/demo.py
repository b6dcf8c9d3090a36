"""The demo broker: a made-up, plausible portfolio for trying the product without a bank login.

Four accounts open on `ORIGIN` and evolve day by day: an EUR checking account (salary on the
25th, rent, insurance and card payments, the surplus swept away on payday), a CHF savings
account (monthly deposits, a summer withdrawal, yearly interest), a USD brokerage account
(quarterly deposits buying ETFs, two single stocks, one partial sale) and a CHF pillar 3a
account (monthly contributions buying fund units).

Everything is a pure function of (account, day): the randomness comes from BLAKE2b of a fixed
seed, the security and the day, and prices walk forward from `ORIGIN`, so every machine and
every run gives the same numbers. The only clock is `IntegrationContext.current_day()`.
Market prices move on trading days only (flat on weekends, 1 January and 25 December).
The securities are fictitious: names say "Demo", ISINs use the user-assigned country ZZ.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

from wealth_pipeline.brokers.base import (
    AccountInfo,
    AuthResult,
    BalanceInfo,
    BrokerIntegrationBase,
    CashFlowInfo,
    MalformedAnswer,
    NoNewData,
    PositionInfo,
)
from wealth_pipeline.brokers.registry import register
from wealth_pipeline.money import AMOUNT_PLACES, divide, quantize

ORIGIN = date(2005, 1, 3)  # a Monday: the day every demo account opens
SEED = "wealth-pipeline-demo-v1"
PRICE_PLACES = 4
AMOUNT_STEP = Decimal(1).scaleb(-AMOUNT_PLACES)
MINIMUM_TICKS = 100  # a price never falls below 0.0100
CENTS = 2
MARKET_HOLIDAYS = ((1, 1), (12, 25))


def isin_check_digit(body: str) -> str:
    """The ISO 6166 check digit of the first 11 characters of an ISIN (Luhn over digits)."""
    digits = "".join(str(int(char, 36)) for char in body.upper())
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
        total += value // 10 + value % 10
    return str((10 - total % 10) % 10)


def demo_isin(body: str) -> str:
    return body + isin_check_digit(body)


@dataclass(frozen=True)
class Security:
    symbol: str
    name: str
    isin: str
    currency: str
    asset_class: str
    start_price: Decimal
    drift_ppm: int  # expected daily return, parts per million
    volatility_ppm: int  # standard deviation of the daily return, parts per million


SECURITIES = {
    security.symbol: security
    for security in (
        Security(
            "DVWRL", "Demo All-World Equity ETF", demo_isin("ZZDEMOVWRL0"), "USD",
            "equity", Decimal("38.5000"), 300, 10000,
        ),
        Security(
            "DAGGB", "Demo Global Aggregate Bond ETF", demo_isin("ZZDEMOAGGB0"), "USD",
            "fixed_income", Decimal("45.0000"), 90, 3000,
        ),
        Security(
            "DACME", "Demo Acme Robotics Inc.", demo_isin("ZZDEMOACME0"), "USD",
            "equity", Decimal("27.8000"), 550, 19000,
        ),
        Security(
            "DGLBX", "Demo Globex Corp.", demo_isin("ZZDEMOGLBX0"), "USD",
            "equity", Decimal("61.2000"), 380, 15000,
        ),
        Security(
            "D3AGL", "Demo Pillar 3a Global 80 Fund", demo_isin("ZZDEMO3AGL0"), "CHF",
            "fund", Decimal("100.0000"), 170, 7500,
        ),
    )
}  # fmt: skip

CHECKING = AccountInfo("DEMO-EUR-CHECKING", "Demo Everyday Account", "checking", "EUR")
SAVINGS = AccountInfo("DEMO-CHF-SAVINGS", "Demo Savings Account", "savings", "CHF")
BROKERAGE = AccountInfo("DEMO-USD-BROKERAGE", "Demo Brokerage Account", "brokerage", "USD")
PILLAR_3A = AccountInfo("DEMO-CHF-PILLAR3A", "Demo Pillar 3a", "retirement", "CHF")
ACCOUNTS = (CHECKING, SAVINGS, BROKERAGE, PILLAR_3A)
DEFAULT_ACCOUNT = BROKERAGE  # what an account added without an identifier shows
ALIASES = {
    "checking": CHECKING,
    "savings": SAVINGS,
    "brokerage": BROKERAGE,
    "pillar3a": PILLAR_3A,
    "retirement": PILLAR_3A,
}

# Swiss pillar 3a maximum yearly contribution (employees with a pension fund), from a year on.
PILLAR_3A_MAXIMUM = {
    2005: 6192, 2007: 6365, 2009: 6566, 2011: 6682, 2013: 6739,
    2015: 6768, 2019: 6826, 2021: 6883, 2023: 7056, 2025: 7258,
}  # fmt: skip
DIVIDEND_SYMBOL = "DVWRL"
DIVIDEND_YIELD = Decimal("0.004")  # per distribution, twice a year
WITHHOLDING_TAX = Decimal("0.15")
# Savings interest in percent a year, from a year on (roughly the Swiss savings rates).
SAVINGS_RATE = {
    2005: "0.75", 2007: "1.25", 2009: "0.50", 2012: "0.25",
    2015: "0.10", 2016: "0.05", 2022: "0.10", 2023: "0.75", 2024: "0.60",
}  # fmt: skip


# --- deterministic randomness ---------------------------------------------------------------


def draws(*parts: object) -> tuple[int, ...]:
    """Sixteen numbers 0..65535 that depend only on `parts` (BLAKE2b, the same everywhere)."""
    digest = hashlib.blake2b("|".join((SEED, *map(str, parts))).encode(), digest_size=32)
    return struct.unpack(">16H", digest.digest())


def cents_between(low: str, high: str, *parts: object) -> Decimal:
    """An amount in [low, high] to the cent, chosen by `parts`."""
    low_cents, high_cents = int(Decimal(low) * 100), int(Decimal(high) * 100)
    pick = draws(*parts)[0]
    return Decimal(low_cents + pick * (high_cents - low_cents) // 65535).scaleb(-CENTS)


# --- calendar -------------------------------------------------------------------------------


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and (day.month, day.day) not in MARKET_HOLIDAYS


def on_or_after(day: date) -> date:
    while not is_trading_day(day):
        day += timedelta(days=1)
    return day


def on_or_before(day: date) -> date:
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day


def month_before(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def from_year(table: dict[int, str] | dict[int, int], year: int) -> Decimal:
    """The table's value for the latest year not after `year` (the first one before)."""
    known = [start for start in sorted(table) if start <= year] or [min(table)]
    return Decimal(table[known[-1]])


# --- prices ---------------------------------------------------------------------------------


def daily_return_ppm(security: Security, day: date) -> int:
    """One day's return in parts per million: drift plus a roughly normal shock (Irwin-Hall)."""
    key = f"{SEED}|price|{security.symbol}|{day.toordinal()}".encode()
    spread = sum(struct.unpack(">4H", hashlib.blake2b(key, digest_size=8).digest())) - 131070
    shock = spread * security.volatility_ppm // 37837  # the sum's standard deviation
    return max(security.drift_ppm + shock, -150_000)


def apply_return(ticks: int, return_ppm: int) -> int:
    """`ticks` (price in 1/10000) grown by `return_ppm`, rounded half-even, in integers."""
    whole, rest = divmod(ticks * (1_000_000 + return_ppm), 1_000_000)
    if rest > 500_000 or (rest == 500_000 and whole % 2):
        whole += 1
    return max(whole, MINIMUM_TICKS)


@lru_cache(maxsize=4096)
def price_ticks_year(symbol: str, year: int) -> tuple[int, ...]:
    """Closing prices (in 1/10000) of every day of `year`, 1 January first.

    The walk starts at the start price on ORIGIN and moves on trading days only; it is
    computed in integers (exactly what Decimal rounding half-even would give) to stay fast.
    """
    security = SECURITIES[symbol]
    start_ticks = int(security.start_price.scaleb(PRICE_PLACES))
    first = date(year, 1, 1).toordinal()
    days = date(year + 1, 1, 1).toordinal() - first
    ticks = start_ticks if year <= ORIGIN.year else price_ticks_year(symbol, year - 1)[-1]
    if year < ORIGIN.year:
        return (ticks,) * days
    start = max(first, ORIGIN.toordinal() + 1)
    prices = [ticks] * (start - first)
    for ordinal in range(start, first + days):
        day = date.fromordinal(ordinal)
        if is_trading_day(day):
            ticks = apply_return(ticks, daily_return_ppm(security, day))
        prices.append(ticks)
    return tuple(prices)


def price_on(symbol: str, day: date) -> Decimal:
    """The closing price of `day` (the last trading day's on weekends and holidays)."""
    ticks = price_ticks_year(symbol, day.year)[day.toordinal() - date(day.year, 1, 1).toordinal()]
    return Decimal(ticks).scaleb(-PRICE_PLACES)


# --- holdings: what an account holds after each of its events --------------------------------


@dataclass(frozen=True)
class Lot:
    symbol: str
    quantity: Decimal
    cost: Decimal  # what was paid for the quantity held, in the account's currency


@dataclass(frozen=True)
class Holdings:
    day: date
    lots: tuple[Lot, ...]
    cash: Decimal
    # The cash flows of `day` so far, (kind, amount): what `get_cash_flows` reports.
    flows: tuple[tuple[str, Decimal], ...] = ()

    def flows_of(self, day: date) -> tuple[tuple[str, Decimal], ...]:
        return self.flows if self.day == day else ()


def _deposit(state: Holdings, day: date, amount: Decimal, kind: str = "deposit") -> Holdings:
    return Holdings(day, state.lots, state.cash + amount, (*state.flows_of(day), (kind, amount)))


def _buy(state: Holdings, day: date, symbol: str, budget: Decimal, places: int) -> Holdings:
    """Spend at most `budget` of the cash on `symbol` (units rounded down to `places`)."""
    price = price_on(symbol, day)
    budget = min(budget, state.cash)
    units = Decimal(int(budget.scaleb(places) // price)).scaleb(-places)
    if units <= 0:
        return Holdings(day, state.lots, state.cash, state.flows_of(day))
    cost = quantize(units * price, CENTS)
    lots = {lot.symbol: lot for lot in state.lots}
    held = lots.get(symbol, Lot(symbol, Decimal(0), Decimal(0)))
    lots[symbol] = Lot(symbol, held.quantity + units, held.cost + cost)
    return Holdings(day, tuple(lots.values()), state.cash - cost, state.flows_of(day))


def _sell(state: Holdings, day: date, symbol: str, units: Decimal) -> Holdings:
    lots = {lot.symbol: lot for lot in state.lots}
    held = lots[symbol]
    units = min(units, held.quantity)
    proceeds = quantize(units * price_on(symbol, day), CENTS)
    remaining = held.quantity - units
    cost = divide(held.cost * remaining, held.quantity, CENTS) if remaining else Decimal(0)
    lots[symbol] = Lot(symbol, remaining, cost)
    kept = tuple(lot for lot in lots.values() if lot.quantity > 0)
    return Holdings(day, kept, state.cash + proceeds, state.flows_of(day))


def _opening(state: Holdings | None, day: date) -> Holdings:
    return state if state is not None else Holdings(day, (), Decimal(0))


def _dividend(state: Holdings, day: date) -> Holdings:
    """The all-world ETF distributes twice a year (0.4 % of its value each time); 15 %
    withholding tax is kept back."""
    etf = next((lot for lot in state.lots if lot.symbol == DIVIDEND_SYMBOL), None)
    if etf is None:
        return state
    gross = quantize(etf.quantity * price_on(DIVIDEND_SYMBOL, day) * DIVIDEND_YIELD, CENTS)
    tax = quantize(gross * WITHHOLDING_TAX, CENTS)
    state = _deposit(state, day, gross, "dividend")
    return _deposit(state, day, -tax, "tax")


def brokerage_events(state: Holdings | None, year: int) -> Iterator[Holdings]:
    """The brokerage account's year: quarterly deposits buying ETFs, dividends in June and
    December, rare stock trades."""
    if year == ORIGIN.year:
        state = _deposit(_opening(state, ORIGIN), ORIGIN, Decimal("10000.00"))
        state = _buy(state, ORIGIN, "DACME", Decimal("1200.00"), 0)
        state = _buy(state, ORIGIN, "DVWRL", Decimal("6000.00"), 0)
        state = _buy(state, ORIGIN, "DAGGB", Decimal("2000.00"), 0)
        yield state
    state = _opening(state, ORIGIN)
    deposit = Decimal(2500 + 100 * (year - ORIGIN.year))
    for month in (1, 4, 6, 7, 10, 12):
        if month in (6, 12):
            day = on_or_after(date(year, month, 15))
            if day > ORIGIN:
                state = _dividend(state, day)
                yield state
            continue
        day = on_or_after(date(year, month, 2))
        if day <= ORIGIN:
            continue
        if (year, month) == (2012, 4):
            state = _deposit(state, day, Decimal("2500.00"))
            state = _buy(state, day, "DGLBX", Decimal("2500.00"), 0)
        if (year, month) == (2019, 7):
            acme = next((lot for lot in state.lots if lot.symbol == "DACME"), None)
            if acme is not None:
                state = _sell(state, day, "DACME", (acme.quantity / 2).to_integral_value())
        state = _deposit(state, day, deposit)
        state = _buy(state, day, "DVWRL", quantize(state.cash * Decimal("0.75"), CENTS), 0)
        state = _buy(state, day, "DAGGB", quantize(state.cash * Decimal("0.60"), CENTS), 0)
        yield state


def pillar_3a_events(state: Holdings | None, year: int) -> Iterator[Holdings]:
    """Monthly contributions (a twelfth of the yearly maximum), 99% invested in the fund."""
    contribution = divide(from_year(PILLAR_3A_MAXIMUM, year), Decimal(12), CENTS)
    for month in range(1, 13):
        day = on_or_after(date(year, month, 5))
        if day < ORIGIN:
            continue
        state = _deposit(_opening(state, day), day, contribution)
        state = _buy(state, day, "D3AGL", quantize(state.cash * Decimal("0.99"), CENTS), 3)
        yield state


def savings_events(state: Holdings | None, year: int) -> Iterator[Holdings]:
    """Monthly deposits, a summer holiday withdrawal, interest credited on 31 December."""
    if year == ORIGIN.year:
        state = _deposit(_opening(state, ORIGIN), ORIGIN, Decimal("8000.00"))
        yield state
    state = _opening(state, ORIGIN)
    monthly = Decimal(400 + 50 * ((year - ORIGIN.year) // 3))
    for month in range(1, 13):
        day = on_or_after(date(year, month, 27))  # 27..31 December hold a weekday
        if day <= ORIGIN:
            continue
        state = _deposit(state, day, monthly)
        if month == 7 and state.cash > 6000:
            withdrawal = cents_between("1500", "3000", "holiday", year)
            state = _deposit(state, day, -withdrawal, "withdrawal")
        yield state
    rate = from_year(SAVINGS_RATE, year).scaleb(-2)
    year_end = date(year, 12, 31)
    yield _deposit(state, year_end, quantize(state.cash * rate, CENTS), "interest")


EVENTS = {
    SAVINGS.identifier: savings_events,
    BROKERAGE.identifier: brokerage_events,
    PILLAR_3A.identifier: pillar_3a_events,
}


@lru_cache(maxsize=512)
def ledger(identifier: str, year: int) -> tuple[Holdings, ...]:
    """The account's holdings after each event up to the end of `year` (cached per year)."""
    if year < ORIGIN.year:
        return ()
    earlier = ledger(identifier, year - 1)
    state = earlier[-1] if earlier else None
    return earlier + tuple(EVENTS[identifier](state, year))


@lru_cache(maxsize=512)
def ledger_days(identifier: str, year: int) -> tuple[date, ...]:
    return tuple(state.day for state in ledger(identifier, year))


def holdings_on(identifier: str, day: date) -> Holdings:
    """What the account held at the end of `day` (nothing before its first event)."""
    index = bisect.bisect_right(ledger_days(identifier, day.year), day)
    return ledger(identifier, day.year)[index - 1] if index else Holdings(day, (), Decimal(0))


# --- the checking account: a closed form per pay cycle ----------------------------------------


def payday(year: int, month: int) -> date:
    """Salary arrives on the 25th, or the business day before."""
    return on_or_before(date(year, month, 25))


def last_payday(day: date) -> date:
    paid = payday(day.year, day.month)
    if paid > day:
        paid = payday(*month_before(day.year, day.month))
    return max(paid, ORIGIN)


@lru_cache(maxsize=128)
def salary(year: int) -> Decimal:
    """Net monthly salary in EUR: 4900.00 in 2005, 1.5% more every January."""
    if year <= ORIGIN.year:
        return Decimal("4900.00")
    return quantize(salary(year - 1) * Decimal("1.015"), CENTS)


def buffer_after_payday(paid: date) -> Decimal:
    """What stays on the account after payday; the rest is swept to savings."""
    return cents_between("4800", "5200", "buffer", paid.isoformat())


@lru_cache(maxsize=8192)
def checking_outflow(day: date) -> Decimal:
    """Rent on the first business day, insurance mid-month, card payments most days."""
    total = Decimal("0.00")
    if day == on_or_after(date(day.year, day.month, 1)):
        total += Decimal("1150.00") if day.year < 2015 else Decimal("1290.00")
    if day == on_or_after(date(day.year, day.month, 15)):
        total += Decimal("187.40")
    if draws("card", day.isoformat())[1] < 45875:  # about 70% of days
        total += cents_between("4.00", "79.99", "card", day.isoformat())
    return total


def checking_balance(day: date) -> Decimal:
    """The buffer left on the last payday minus what went out since.

    Never below zero: a pay cycle lasts at most 34 days, so its outflows stay under
    4200 EUR while the buffer is at least 4800; and the salary (4900 EUR and more) always
    refills the buffer, so the sweep to savings is never negative.
    """
    paid = last_payday(day)
    spent = sum(
        (checking_outflow(paid + timedelta(days=n)) for n in range(1, (day - paid).days + 1)),
        Decimal(0),
    )
    return buffer_after_payday(paid) - spent


def checking_balances(first: date, last: date) -> list[Decimal]:
    """`checking_balance` of every day from `first` to `last`, one step per day."""
    balance = checking_balance(first)
    balances = [balance]
    for n in range(1, (last - first).days + 1):
        day = first + timedelta(days=n)
        if day == payday(day.year, day.month):
            balance = buffer_after_payday(day)
        else:
            balance -= checking_outflow(day)
        balances.append(balance)
    return balances


def checking_payments(day: date) -> dict[str, Decimal]:
    """The day's salary and sweep (payday only), for the raw data."""
    if day != last_payday(day) or day == ORIGIN:
        return {}
    before = checking_balance(day - timedelta(days=1)) - checking_outflow(day)
    sweep = before + salary(day.year) - buffer_after_payday(day)
    return {"salary": salary(day.year), "sweep_to_savings": sweep}


# --- cash flows: what moved money into or out of each account -------------------------------


def checking_flows(day: date) -> list[tuple[str, Decimal, str]]:
    """The checking account's flows of `day`: the opening balance, salary and sweep on
    payday, rent, insurance and card payments; they explain its balance exactly."""
    if day == ORIGIN:
        return [("deposit", buffer_after_payday(ORIGIN), "opening balance")]
    flows = []
    outflow = checking_outflow(day)
    if outflow:
        flows.append(("withdrawal", -outflow, "rent, insurance and card payments"))
    payments = checking_payments(day)
    if payments:
        flows.append(("deposit", payments["salary"], "salary"))
        flows.append(("withdrawal", -payments["sweep_to_savings"], "sweep above the buffer"))
    return flows


def ledger_flows(identifier: str, day: date) -> list[tuple[str, Decimal, str]]:
    """The flows of `day` in an account with a ledger (the day's last state holds them)."""
    days = ledger_days(identifier, day.year)
    index = bisect.bisect_right(days, day)
    if not index or days[index - 1] != day:
        return []
    state = ledger(identifier, day.year)[index - 1]
    labels = {"deposit": "savings plan", "withdrawal": "holiday", "interest": "yearly interest",
              "dividend": "Demo All-World Equity ETF distribution", "tax": "withholding tax"}  # fmt: skip
    return [(kind, amount, labels.get(kind, kind)) for kind, amount in state.flows_of(day)]


def cash_flows_between(account: AccountInfo, first: date, last: date) -> list[CashFlowInfo]:
    flows = []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        found = (
            checking_flows(day) if account is CHECKING else ledger_flows(account.identifier, day)
        )
        for number, (kind, amount, label) in enumerate(found):
            flows.append(
                CashFlowInfo(
                    flow_date=day,
                    amount=quantize(amount, AMOUNT_PLACES),
                    currency=account.currency,
                    kind=kind,
                    external_id=f"demo:{account.identifier}:{day.isoformat()}:{number}",
                    description=label,
                    raw_data={"source": "demo", "kind": kind, "amount": str(amount)},
                )
            )
    return flows


# --- valuation --------------------------------------------------------------------------------


def market_value(quantity: Decimal, price: Decimal) -> Decimal:
    """quantity * price rounded half-even to 4 places (the amount scale)."""
    return (quantity * price).quantize(AMOUNT_STEP, ROUND_HALF_EVEN)


def positions_of(holdings: Holdings, day: date, currency: str) -> list[PositionInfo]:
    positions = []
    for lot in holdings.lots:
        security = SECURITIES[lot.symbol]
        price = price_on(lot.symbol, day)
        positions.append(
            PositionInfo(
                symbol=security.symbol,
                name=security.name,
                quantity=lot.quantity,
                price_per_unit=price,
                market_value=market_value(lot.quantity, price),
                currency=currency,
                isin=security.isin,
                cost_basis=quantize(lot.cost, AMOUNT_PLACES),
                asset_class=security.asset_class,
            )
        )
    return positions


def checking_info(day: date, balance: Decimal) -> BalanceInfo:
    balance = quantize(balance, AMOUNT_PLACES)
    raw = {"source": "demo", "account": CHECKING.identifier, "balance": str(balance)}
    raw.update({name: str(value) for name, value in checking_payments(day).items()})
    return BalanceInfo(balance, CHECKING.currency, day, balance, raw)


def balance_on(account: AccountInfo, day: date) -> BalanceInfo:
    """The account's end-of-day balance (exactly positions plus cash), with a small raw record."""
    if account is CHECKING:
        return checking_info(day, checking_balance(day))
    holdings = holdings_on(account.identifier, day)
    invested = sum(
        (market_value(lot.quantity, price_on(lot.symbol, day)) for lot in holdings.lots),
        Decimal("0.0000"),
    )
    cash = holdings.cash.quantize(AMOUNT_STEP)  # cents: exact
    balance = invested + cash
    raw = {
        "source": "demo",
        "account": account.identifier,
        "positions_value": str(invested),
        "cash": str(cash),
    }
    available = None if account is PILLAR_3A else cash  # 3a money is locked until retirement
    return BalanceInfo(balance, account.currency, day, available, raw)


def find_account(identifier: str) -> AccountInfo:
    wanted = identifier.strip()
    if not wanted:
        return DEFAULT_ACCOUNT
    for account in ACCOUNTS:
        if account.identifier.lower() == wanted.lower():
            return account
    if wanted.lower() in ALIASES:
        return ALIASES[wanted.lower()]
    known = ", ".join(account.identifier for account in ACCOUNTS)
    raise MalformedAnswer(f"the demo broker has no account {wanted!r}; it has {known}")


@register("demo")
class DemoIntegration(BrokerIntegrationBase):
    """Offline and deterministic: no network, no credentials, history from ORIGIN on."""

    def _today(self) -> date:
        today = self.context.current_day()
        if today < ORIGIN:
            raise NoNewData(f"the demo accounts open on {ORIGIN.isoformat()}")
        return today

    def authenticate(self) -> AuthResult:
        return AuthResult(success=True)

    def get_accounts(self) -> list[AccountInfo]:
        return list(ACCOUNTS)

    def get_balance(self, account_identifier: str) -> BalanceInfo:
        return balance_on(find_account(account_identifier), self._today())

    def get_positions(self, account_identifier: str) -> list[PositionInfo]:
        account = find_account(account_identifier)
        if account is CHECKING:
            return []
        today = self._today()
        holdings = holdings_on(account.identifier, today)
        return positions_of(holdings, today, account.currency)

    def supports_historical_data(self) -> bool:
        return True

    def get_historical_balances(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[BalanceInfo]:
        """Every day from `start_date` (at the earliest ORIGIN) to `end_date` (at most today)."""
        account = find_account(account_identifier)
        first = max(start_date, ORIGIN)
        last = min(end_date, self.context.current_day())
        if first > last:
            return []
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        if account is CHECKING:
            return list(map(checking_info, days, checking_balances(first, last)))
        return [balance_on(account, day) for day in days]

    def supports_cash_flows(self) -> bool:
        return True

    def get_cash_flows(
        self, account_identifier: str, start_date: date, end_date: date
    ) -> list[CashFlowInfo]:
        """Every flow from `start_date` (at the earliest ORIGIN) to `end_date` (at most today):
        deposits, withdrawals, dividends and their withholding tax, interest."""
        account = find_account(account_identifier)
        first = max(start_date, ORIGIN)
        last = min(end_date, self.context.current_day())
        if first > last:
            return []
        return cash_flows_between(account, first, last)
