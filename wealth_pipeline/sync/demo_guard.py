"""The demo cannot be broken by syncing a day no rate can convert.

The demo broker answers for any day, but a day after the last exchange rate (offline, on the
shipped excerpt) would land balances in CHF and USD that no rate converts: the demo's net
worth would collapse to its EUR account. So a demo user's accounts are synced for a day only
when every one of them converts on it; otherwise all are skipped with one sentence saying
where rates stop and how to get more (the daily schedule says the same when it skips).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, func, select

from wealth_pipeline.fx.lookup import rate
from wealth_pipeline.settings import Settings
from wealth_pipeline.sync.account import Outcome
from wealth_pipeline.sync.due import DueAccount
from wealth_pipeline.warehouse.schema import brokers, exchange_rates, financial_accounts, profiles

DEMO_BROKER = "demo"


def rates_stop_sentence(day: date, last_rate_day: date | None, settings: Settings) -> str:
    """Why a demo day is not synced, and how to get the rates it needs (one sentence the
    daily schedule and a refused sync share)."""
    stop = f"end on {last_rate_day.isoformat()}" if last_rate_day else "are none yet"
    if settings.offline and settings.fx_source == "auto":
        how = (
            "WEALTH_OFFLINE is on: unset it (the default source then fetches later days from "
            "Frankfurter) or set WEALTH_FX_SOURCE=frankfurter, and materialize exchange_rates"
        )
    elif settings.fx_source == "ecb_file":
        how = (
            "the ECB file behind WEALTH_ECB_FILE has no later day: set WEALTH_FX_SOURCE=auto "
            "(the default) or frankfurter, or point WEALTH_ECB_FILE at the ECB's "
            "eurofxref-hist.zip"
        )
    else:
        how = (
            f"materialize exchange_rates for {day.isoformat()} first, or run `wealth fx "
            f"backfill --start {day.isoformat()} --end {day.isoformat()}` (WEALTH_FX_SOURCE "
            f"is {settings.fx_source})"
        )
    return (
        f"The stored exchange rates {stop}, so the demo is not synced for {day.isoformat()}: no rate "
        f"could convert it and its CHF and USD accounts would drop out of net worth. To get "
        f"later rates, {how}."
    )


def last_rate_day(connection: Connection) -> date | None:
    return connection.execute(select(func.max(exchange_rates.c.rate_date))).scalar()


def converts_on(connection: Connection, account_ids: Sequence[int], day: date) -> bool:
    """Whether a stored rate converts each of these accounts into its owner's base currency
    on `day`."""
    pairs = connection.execute(
        select(financial_accounts.c.currency, profiles.c.base_currency)
        .join(profiles, profiles.c.user_id == financial_accounts.c.user_id)
        .where(financial_accounts.c.id.in_(account_ids))
        .distinct()
    ).all()
    return all(rate(connection, currency, base, day) for currency, base in pairs)


def refuse_unconvertible_demo(
    connection: Connection, due: Sequence[DueAccount], day: date, settings: Settings
) -> tuple[list[DueAccount], list[Outcome]]:
    """`due` without the demo users' accounts that cannot all be converted on `day`, and the
    skipped outcomes of those (every demo account of such a user, with the sentence)."""
    demo = [account for account in due if account.broker_code == DEMO_BROKER]
    if not demo:
        return list(due), []
    by_user: dict[int, list[int]] = defaultdict(list)
    for account in demo:
        by_user[account.user_id].append(account.account_id)
    refused = {
        account_id
        for accounts in by_user.values()
        if not converts_on(connection, accounts, day)
        for account_id in accounts
    }
    if not refused:
        return list(due), []
    sentence = rates_stop_sentence(day, last_rate_day(connection), settings)
    kept = [account for account in due if account.account_id not in refused]
    skipped = [
        Outcome(account.account_id, account.broker_code, "skipped", sentence)
        for account in due
        if account.account_id in refused
    ]
    return kept, skipped


def demo_accounts_waiting(connection: Connection, user_id: int, day: date) -> list[int]:
    """The user's demo accounts when the sync of `day` refuses them (no stored rate converts
    them all: offline, after the rates stop), else none: their figures stop where the rates
    stop, which is no sync failing."""
    accounts = list(
        connection.execute(
            select(financial_accounts.c.id)
            .join(brokers, brokers.c.id == financial_accounts.c.broker_id)
            .where(financial_accounts.c.user_id == user_id, brokers.c.code == DEMO_BROKER)
        ).scalars()
    )
    return accounts if accounts and not converts_on(connection, accounts, day) else []


def figures_as_of_sentence(as_of: str, settings: Settings) -> str:
    """The report's and `wealth summary`'s one sentence when the demo waits for rates (`as_of`
    as they show days): as of when its figures are, why, and how to bring it up to today."""
    if settings.offline and settings.fx_source == "auto":
        why = "WEALTH_OFFLINE is on, so no later ones are fetched"
        how = "unset WEALTH_OFFLINE and run `wealth demo setup` again"
    elif settings.fx_source == "ecb_file":
        why = "the ECB file behind WEALTH_ECB_FILE ends there"
        how = "set WEALTH_FX_SOURCE=auto (the default) and run `wealth demo setup` again"
    else:
        why = f"no later one has come from {settings.fx_source} yet: is the machine offline?"
        how = "run `wealth demo setup` again once it is online"
    return (
        f"The demo's figures are as of {as_of}, the last day with exchange rates ({why}): to "
        f"bring it up to today, {how} (it fetches the later rates and fills the days since)."
    )
