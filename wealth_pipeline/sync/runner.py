"""One sync run: every due account of a day, with bounded concurrency overall and per broker.

Dagster pools limit ops, not the accounts inside one op, so the limits live here: a thread
pool for the overall limit and a semaphore per broker code, so one bank never sees many
parallel logins. Each account's outcome is recorded on its own; one failure never stops or
loses the others.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import chain, zip_longest
from typing import Any

from sqlalchemy import Connection, Engine

from wealth_pipeline.brokers.registry import registered_codes
from wealth_pipeline.security.vault import Unlocked
from wealth_pipeline.settings import Settings, load_settings
from wealth_pipeline.sync.account import Outcome, sync_account
from wealth_pipeline.sync.demo_guard import refuse_unconvertible_demo
from wealth_pipeline.sync.due import DueAccount, due_accounts
from wealth_pipeline.warehouse import dialect


@dataclass(frozen=True)
class SyncReport:
    day: date
    run_id: str
    outcomes: list[Outcome] = field(default_factory=list)

    def with_status(self, *statuses: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in statuses]

    @property
    def synced(self) -> list[Outcome]:
        return self.with_status("success", "no_new_data")

    @property
    def failed(self) -> list[Outcome]:
        return self.with_status("error")

    @property
    def pending_auth(self) -> list[Outcome]:
        return self.with_status("pending_auth")

    @property
    def skipped(self) -> list[Outcome]:
        return self.with_status("skipped")

    @property
    def rows(self) -> int:
        return sum(o.rows for o in self.outcomes)


def interleave_by_broker(due: Sequence[DueAccount]) -> list[DueAccount]:
    """Round-robin over brokers, so workers rarely wait on one broker's limit while others idle."""
    groups: dict[str, list[DueAccount]] = defaultdict(list)
    for account in due:
        groups[account.broker_code].append(account)
    rounds = zip_longest(*groups.values())
    return [account for account in chain.from_iterable(rounds) if account is not None]


def sync_accounts(
    engine: Engine,
    due: Sequence[DueAccount],
    day: date,
    *,
    settings: Settings,
    run_id: str,
    key_file: str | None = None,
    max_workers: int | None = None,
    max_per_broker: int | None = None,
    unlock: Callable[[Connection, int], Unlocked] | None = None,
) -> list[Outcome]:
    """Sync `due` for `day`; outcomes in the order of `due`."""
    if not due:
        return []
    workers = max_workers or settings.sync_max_workers
    per_broker = max_per_broker or settings.sync_max_per_broker
    limits: dict[str, threading.Semaphore] = {
        code: threading.BoundedSemaphore(per_broker) for code in {a.broker_code for a in due}
    }
    # SQLite has one writer at a time: queue the (short) write transactions here rather
    # than on its busy timeout. PostgreSQL writes in parallel.
    write_lock: Any = threading.Lock() if dialect.is_sqlite(engine) else nullcontext()

    def one(account: DueAccount) -> Outcome:
        try:
            with limits[account.broker_code]:
                return sync_account(
                    engine,
                    account,
                    day,
                    settings=settings,
                    run_id=run_id,
                    key_file=key_file,
                    write_lock=write_lock,
                    unlock=unlock,
                )
        except Exception as exc:  # even recording failed (database down): keep the others
            reason = f"could not record the outcome ({type(exc).__name__})"
            return Outcome(account.account_id, account.broker_code, "error", reason)

    ordered = interleave_by_broker(due)
    registered_codes()  # import every integration now, not in the first worker while all wait
    with ThreadPoolExecutor(
        max_workers=min(workers, len(ordered)), thread_name_prefix="sync"
    ) as pool:
        results = dict(zip((a.account_id for a in ordered), pool.map(one, ordered), strict=True))
    return [results[a.account_id] for a in due]


def run_sync(
    engine: Engine,
    day: date,
    *,
    settings: Settings | None = None,
    run_id: str | None = None,
    key_file: str | None = None,
    max_workers: int | None = None,
    max_per_broker: int | None = None,
    now: datetime | None = None,
    unlock: Callable[[Connection, int], Unlocked] | None = None,
) -> SyncReport:
    """Sync every account due on `day` (see `due.due_accounts`)."""
    settings = settings or load_settings()
    run_id = run_id or uuid.uuid4().hex
    with engine.connect() as connection:
        due = due_accounts(connection, day, now)
        due, refused = refuse_unconvertible_demo(connection, due, day, settings)
    outcomes = refused + sync_accounts(
        engine,
        due,
        day,
        settings=settings,
        run_id=run_id,
        key_file=key_file or str(settings.sync_key_file),
        max_workers=max_workers,
        max_per_broker=max_per_broker,
        unlock=unlock,
    )
    return SyncReport(day=day, run_id=run_id, outcomes=outcomes)
