"""History backfill: the days a broker still remembers, written once, never over a person's.

For brokers whose integration delivers history (IBKR, True Wealth, VIAC, the demo),
`backfill_history` fetches the daily balances of a window (default: the last 365 days, as
far as the broker reaches) and writes the missing days as `auto` snapshots through the one
snapshot writer (`snapshots.store.write_snapshots`: conversion into the owner's base
currency, redacted raw data, the earliest changed day for the marts), all in ONE
transaction. Existing snapshots stay unless `overwrite`; even then only `auto` ones are
replaced: manual entries and CSV imports are a person's word and are never overwritten.

The broker is asked with no database transaction open (a SQLite writer would block every
other writer meanwhile); the existing days are read again inside the write transaction, so
a sync landing in between is never overwritten by accident.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, select

from wealth_pipeline import clock, money
from wealth_pipeline.brokers.base import (
    AuthenticationFailed,
    BalanceInfo,
    BrokerError,
    BrokerIntegrationBase,
    PositionInfo,
    TwoFactorRequired,
)
from wealth_pipeline.brokers.connection import (
    AccountConnection,
    OpenFailed,
    Unlock,
    open_account,
    save_sessions,
)
from wealth_pipeline.brokers.registry import integration_class, registered_codes
from wealth_pipeline.flows.sync import FetchedFlows, fetch_flows, write_fetched
from wealth_pipeline.security.vault import Unlocked
from wealth_pipeline.snapshots.store import NewPosition, NewSnapshot, write_snapshots
from wealth_pipeline.warehouse.schema import account_snapshots

HISTORY_DAYS = 365
PROTECTED_SOURCES = ("manual", "import")  # a person's snapshots: never overwritten
LISTED = 10  # days listed in messages

Login = Callable[[BrokerIntegrationBase], None]  # logs in, completing a second factor


class HistoryError(Exception):
    """A backfill that cannot run or failed; the message says why (never a secret)."""


@dataclass(frozen=True)
class BackfillReport:
    account_id: int
    broker_code: str
    start: date
    end: date
    fetched: int = 0  # days the broker answered within the window
    written: int = 0  # snapshots written (new days plus replaced ones)
    replaced: int = 0  # auto snapshots replaced (overwrite)
    kept: int = 0  # existing auto snapshots left alone (no overwrite)
    protected: list[date] = field(default_factory=list)  # manual/import days never touched
    converted: int = 0
    unconverted: dict[date, str] = field(default_factory=dict)  # day -> why no rate
    positions: int = 0
    flows: int = 0  # cash flows written or updated

    def describe(self) -> str:
        text = (
            f"account {self.account_id} ({self.broker_code}) {self.start} .. {self.end}: "
            f"{self.fetched} day(s) from the broker, {self.written} written"
        )
        if self.replaced:
            text += f" ({self.replaced} replaced)"
        text += f", {self.kept} kept"
        if self.protected:
            text += f", {len(self.protected)} manual/import day(s) left untouched"
        if self.written:
            text += f"; {self.converted} converted"
        if self.unconverted:
            first = min(self.unconverted)
            text += (
                f", {len(self.unconverted)} without a rate "
                f"(e.g. {first}: {self.unconverted[first]})"
            )
        if self.positions:
            text += f"; {self.positions} position(s) on {self.end}"
        if self.flows:
            text += f"; {self.flows} cash flow(s)"
        return text


@dataclass(frozen=True)
class Plan:
    """Which fetched days to write, and which existing ones stay."""

    write: list[date]
    replace: list[date]  # subset of `write`: auto snapshots replaced
    kept: list[date]
    protected: list[date]


# --- pure pieces ------------------------------------------------------------------------------


def window(today: date, days: int) -> tuple[date, date]:
    """The `days` calendar days ending on `today` (today included)."""
    if days < 1:
        raise HistoryError(f"days must be at least 1, not {days}")
    return today - timedelta(days=days - 1), today


def history_codes() -> frozenset[str]:
    """Broker codes whose integration delivers daily history (a property of the class)."""
    codes = set()
    for code in registered_codes():
        cls = integration_class(code)
        # The answer never depends on credentials: ask an instance built without them.
        if cls.supports_historical_data(object.__new__(cls)):
            codes.add(code)
    return frozenset(codes)


def daily_balances(
    answered: Iterable[BalanceInfo], start: date, end: date
) -> dict[date, BalanceInfo]:
    """The broker's answer by day, within [start, end] (a day answered twice: the last)."""
    return {b.balance_date: b for b in answered if start <= b.balance_date <= end}


def plan(fetched: Iterable[date], existing: Mapping[date, str], *, overwrite: bool) -> Plan:
    """Missing days are written; existing auto days only with `overwrite`; manual and import
    days never."""
    write, replaced, kept, protected = [], [], [], []
    for day in sorted(fetched):
        source = existing.get(day)
        if source is None:
            write.append(day)
        elif source in PROTECTED_SOURCES:
            protected.append(day)
        elif overwrite:
            write.append(day)
            replaced.append(day)
        else:
            kept.append(day)
    return Plan(write, replaced, kept, protected)


def to_snapshot(balance: BalanceInfo, positions: Sequence[PositionInfo] = ()) -> NewSnapshot:
    """A fetched day as the store writes it; amounts rounded half-even where produced."""

    def amount(value: Any) -> Any:
        return (
            None if value is None else money.quantize(money.to_decimal(value), money.AMOUNT_PLACES)
        )

    return NewSnapshot(
        day=balance.balance_date,
        balance=amount(balance.balance),
        currency=balance.currency,
        available_balance=amount(balance.available_balance),
        raw_data={**(balance.raw_data or {}), "history": True},
        positions=[
            NewPosition(
                symbol=p.symbol,
                name=p.name,
                quantity=p.quantity,
                price_per_unit=p.price_per_unit,
                market_value=amount(p.market_value),
                currency=p.currency,
                isin=p.isin,
                cost_basis=amount(p.cost_basis),
                asset_class=p.asset_class,
            )
            for p in positions
        ],
    )


# --- reading and writing ---------------------------------------------------------------------


def open_for_history(
    engine: Engine,
    account_id: int,
    unlock: Unlock | Unlocked | None,
    settings: Any,
    today: date,
) -> AccountConnection:
    """The account opened for its history (`brokers.connection`); HistoryError if it has
    none or cannot be opened."""
    try:
        conn = open_account(engine, account_id, unlock=unlock, settings=settings, today=today)
    except OpenFailed as exc:
        raise HistoryError(str(exc)) from None
    if conn.broker_code not in history_codes():
        raise HistoryError(
            f"account {account_id}: {conn.broker_name} delivers no history; only "
            f"{', '.join(sorted(history_codes()))} do"
        )
    return conn


def default_login(integration: BrokerIntegrationBase) -> None:
    """Log in unattended: a login that needs a person fails the backfill (no one to ask)."""
    auth = integration.authenticate()
    if auth.requires_2fa and not auth.success:
        raise TwoFactorRequired(
            f"{integration.broker.name} asks for a second factor: run the backfill from the "
            "command line (`wealth accounts backfill`)",
            auth,
        )
    if not auth.success:
        raise AuthenticationFailed(integration.scrub(auth.error_message or "login refused"))


@dataclass(frozen=True)
class Fetched:
    balances: dict[date, BalanceInfo]
    positions: list[PositionInfo]  # on the window's last day, when asked and answered
    flows: FetchedFlows | None = None  # the window's cash flows, where the service has them


def read_history(
    conn: AccountConnection, start: date, end: date, *, with_positions: bool = False
) -> Fetched:
    """Ask the logged-in integration for [start, end]; positions only for `end` being the
    broker's today. Broker errors are raised as they are."""
    integration = conn.integration
    answered = integration.get_historical_balances(conn.identifier, start, end)
    balances = daily_balances(answered, start, end)
    positions: list[PositionInfo] = []
    if with_positions and end in balances and end == integration.context.current_day():
        positions = integration.get_positions(conn.identifier)
    flows = fetch_flows(integration, conn.identifier, start, end)
    return Fetched(balances, positions, flows)


def fetch_history(
    conn: AccountConnection,
    start: date,
    end: date,
    *,
    with_positions: bool = False,
    login: Login | None = None,
) -> Fetched:
    """Log in and ask the broker for [start, end]; HistoryError (scrubbed) on failure."""
    try:
        with conn:
            (login or default_login)(conn.integration)
            return read_history(conn, start, end, with_positions=with_positions)
    except BrokerError as exc:
        raise HistoryError(
            f"account {conn.account_id} ({conn.broker_code}): {conn.scrub(str(exc))}"
        ) from None


def existing_sources(
    connection: Connection, account_id: int, start: date, end: date
) -> dict[date, str]:
    rows = connection.execute(
        select(account_snapshots.c.snapshot_date, account_snapshots.c.snapshot_source).where(
            and_(
                account_snapshots.c.account_id == account_id,
                account_snapshots.c.snapshot_date.between(start, end),
            )
        )
    )
    return {day: source for day, source in rows}


def write_history(
    connection: Connection,
    account_id: int,
    broker_code: str,
    start: date,
    end: date,
    fetched: Fetched,
    *,
    overwrite: bool = False,
    secret_values: Sequence[str] = (),
) -> BackfillReport:
    """Write the planned days in the caller's transaction (all of them or none)."""
    existing = existing_sources(connection, account_id, start, end)
    chosen = plan(fetched.balances, existing, overwrite=overwrite)
    snapshots = [
        to_snapshot(fetched.balances[day], fetched.positions if day == end else ())
        for day in chosen.write
    ]
    stored = write_snapshots(
        connection,
        account_id,
        snapshots,
        source="auto",
        replace=bool(chosen.replace),
        secret_values=secret_values,
    )
    flows = write_fetched(connection, account_id, fetched.flows, secrets=secret_values)
    return BackfillReport(
        flows=0 if flows is None else flows.inserted + flows.updated,
        account_id=account_id,
        broker_code=broker_code,
        start=start,
        end=end,
        fetched=len(fetched.balances),
        written=len(stored),
        replaced=len(chosen.replace),
        kept=len(chosen.kept),
        protected=chosen.protected,
        converted=sum(1 for s in stored if s.balance_base_currency is not None),
        unconverted={s.day: s.no_rate_reason or "no rate" for s in stored if s.no_rate_reason},
        positions=sum(len(s.positions) for s in snapshots),
    )


def backfill_history(
    engine: Engine,
    account_id: int,
    *,
    days: int = HISTORY_DAYS,
    overwrite: bool = False,
    today: date | None = None,
    unlock: Unlock | Unlocked | None = None,
    settings: Any = None,
    with_positions: bool = False,
    login: Login | None = None,
) -> BackfillReport:
    """Fill the account's missing days of [today - days + 1, today] from its broker.

    `unlock` opens the owner's data key when the account holds credentials: the worker's
    `security.worker.unlock_for_sync` (auto-sync) or an `Unlocked` from the password (CLI).
    `today` is the broker's clock (default: today in Europe/Berlin; the demo passes its own).
    `with_positions` also stores the positions of the last day (when it is the broker's
    today). `settings` (`settings.Settings`) gives timeouts and retries. Raises HistoryError.
    """
    start, end = window(today or clock.today(), days)
    conn = open_for_history(engine, account_id, unlock, settings, end)
    fetched = fetch_history(conn, start, end, with_positions=with_positions, login=login)
    with engine.begin() as connection:
        save_sessions(connection, account_id, conn.session_blobs())
        return write_history(
            connection,
            account_id,
            conn.broker_code,
            start,
            end,
            fetched,
            overwrite=overwrite,
            secret_values=conn.secrets,
        )
