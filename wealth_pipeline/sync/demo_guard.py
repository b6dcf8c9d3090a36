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
from wealth_pipeline.warehouse.schema import exchange_rates, financial_accounts, profiles

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


def refuse_unconvertible_demo(
    connection: Connection, due: Sequence[DueAccount], day: date, settings: Settings
) -> tuple[list[DueAccount], list[Outcome]]:
    """`due` without the demo users' accounts that cannot all be converted on `day`, and the
    skipped outcomes of those (every demo account of such a user, with the sentence)."""
    demo = [account for account in due if account.broker_code == DEMO_BROKER]
    if not demo:
        return list(due), []
    rows = connection.execute(
        select(financial_accounts.c.id, financial_accounts.c.currency, profiles.c.base_currency)
        .join(profiles, profiles.c.user_id == financial_accounts.c.user_id)
        .where(financial_accounts.c.id.in_([account.account_id for account in demo]))
    ).all()
    pairs = {row.id: (row.currency, row.base_currency) for row in rows}
    by_user: dict[int, list[DueAccount]] = defaultdict(list)
    for account in demo:
        by_user[account.user_id].append(account)
    refused: set[int] = set()
    for accounts in by_user.values():
        for account in accounts:
            currency, base = pairs[account.account_id]
            if not rate(connection, currency, base, day):
                refused.update(a.account_id for a in accounts)
                break
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
