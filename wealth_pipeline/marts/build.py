"""Building the marts: every model, per user (and per account) only from the earliest
changed day, all or nothing.

Which users, accounts and days to rebuild (the scope) comes from four things:
- `mart_changes`: per user, the earliest day its data changed since last consumed. The
  user-level marts (net worth, months, breakdowns, holdings) rebuild from that day; so do
  all of the user's accounts' daily rows, unless the row is `accounts_only`;
- `mart_account_changes`: per account, the earliest changed day. Only that account's daily
  rows rebuild from it (`scope_accounts`), and its user's user-level marts from there;
- the end day: when it moved since the last build (`mart_builds.built_through`), every
  user and account is extended from the old end on (or cut back to the new one);
- `full` (all history of `users`, default everyone) and a model never built (everyone).

Recording a change (`wealth_pipeline.snapshots.store`), in the writer's own transaction:
- `record_account_change(connection, account_id, day, reason)` when the change concerns
  one account: its snapshots or positions (`write_snapshots` does it), a removed account
  (`record_removed_account_change`, which takes the owner since the account is gone);
- `record_mart_change(connection, user_id, day, reason)` when it concerns the user as a
  whole: a base-currency change, a broker renamed, anything every account's rows depend on.
Both keep the earliest day; a user's row turns whole-user (`accounts_only` False) as soon as
one user-level change is folded in (it then rebuilds every account from its day: correct,
if broader than needed).

Each model then deletes its rows of the scoped users from their day on (the day, its month,
or all of a user's rows: `config(rebuild=...)`; a model reading `scope_accounts` per
account) and inserts its SELECT in the table's key order: re-running gives the same rows.
Readers see the old marts until the one commit. The change rows read are deleted in that
same transaction, and only if unchanged since (same day and time, in microseconds): a change
recorded while the build runs survives for the next build.

Builds run one at a time. PostgreSQL takes an advisory lock and builds in one transaction
(JIT off, a larger `work_mem` so the carry-forward sorts in memory). On SQLite the write
lock is held only to swap the rows in: the scope is planned and `mart_account_daily` (most
of the work) is computed into a temporary stage table in a read transaction, which does not
block a sync; then one write transaction deletes the scoped rows, inserts the stage and
builds the small models. If another build committed in between, the write transaction plans
and builds everything itself. The users and accounts in scope sit in temporary tables
(`mart_scope`, `mart_scope_accounts`) the models join; on PostgreSQL they are analyzed and a
model that wrote many rows is analyzed before the next reads it, so plans follow the real
sizes.

Why the daily mart scales linearly: its rows are inserted in key order (user,
day, account) into a key-ordered table (WITHOUT ROWID on SQLite), with no per-row foreign-key
checks (triggers delete a removed user's or account's rows), in a page cache (SQLite) or
`work_mem` (PostgreSQL) large enough for a 200-account history: before, rows arrived in
account order and scattered over the key index, and past ~50 accounts the index no longer
fit in the default cache.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Engine,
    Integer,
    MetaData,
    Table,
    bindparam,
    select,
    text,
    update,
)
from sqlalchemy.sql.elements import TextClause

from wealth_pipeline import clock, money
from wealth_pipeline.marts.models import (
    SCOPE_ACCOUNTS_TABLE,
    SCOPE_TABLE,
    Model,
    default_models,
)
from wealth_pipeline.marts.returns_daily import register_sqlite_functions
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.schema import (
    financial_accounts,
    mart_builds,
    mart_holdings,
    metadata,
)
from wealth_pipeline.warehouse.schema import users as users_table

# Serialises builds on PostgreSQL (SQLite writers queue on BEGIN IMMEDIATE anyway).
PG_BUILD_LOCK = 7_395_113_210
# A model writing this many rows is analyzed at once on PostgreSQL (see `_build_model`).
ANALYZE_AFTER_ROWS = 50_000
# "From the beginning": before any snapshot can be (the SQL starts at each first snapshot).
BEGINNING = date(1900, 1, 1)
# Models computed before the write lock is taken on SQLite (the bulk of a build's work).
STAGED_MODELS = ("mart_account_daily",)
STAGE_PREFIX = "stage_"
# The build's page cache on SQLite (KiB): a 200-account history's B-trees stay in memory.
SQLITE_BUILD_CACHE_KIB = 262_144
SQLITE_DEFAULT_CACHE_KIB = 2_000
PG_BUILD_WORK_MEM = "256MB"

_scratch = MetaData()
scope_accounts_table = Table(
    SCOPE_ACCOUNTS_TABLE,
    _scratch,
    Column("account_id", Integer, primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("from_day", Date, nullable=False),
    Column("kept_through", Date, nullable=False),
    prefixes=["TEMPORARY"],
)
scope_table = Table(
    SCOPE_TABLE,
    _scratch,
    Column("user_id", Integer, primary_key=True),
    Column("from_day", Date, nullable=False),
    Column("from_month", Date, nullable=False),
    Column("kept_through", Date, nullable=False),
    prefixes=["TEMPORARY"],
)


class MartsError(ValueError):
    """A build that cannot be done as asked; the message says why (nothing was written)."""


@dataclass
class BuildReport:
    """What one build did: rows written per model and the days rebuilt per user."""

    end_day: date
    previous_end: date | None
    from_days: dict[int, date] = field(default_factory=dict)  # user -> first day rebuilt
    rows: dict[str, int] = field(default_factory=dict)  # model -> rows written
    model_seconds: dict[str, float] = field(default_factory=dict)
    changes_consumed: int = 0
    seconds: float = 0.0
    lock_seconds: float | None = None  # SQLite: how long the write lock was held

    def summary(self) -> str:
        if not self.from_days:
            return f"marts up to date through {self.end_day} ({self.seconds:.2f} s)"
        earliest = min(self.from_days.values())
        since = "their first snapshot" if earliest == BEGINNING else earliest.isoformat()
        return (
            f"rebuilt {len(self.from_days)} user(s) from {since} through {self.end_day} "
            f"in {self.seconds:.2f} s"
        )

    def describe(self) -> str:
        rows = ", ".join(f"{model} {rows}" for model, rows in self.rows.items())
        return f"{self.summary()}: rows written {rows}" if self.from_days else self.summary()


def build_marts(
    engine: Engine,
    *,
    as_of: date | None = None,
    full: bool = False,
    users: Sequence[int] | None = None,
    models: Sequence[Model] | None = None,
) -> BuildReport:
    """Bring the marts up to date through `as_of` (default: today in Europe/Berlin).

    `full` rebuilds all history of `users` (default: every user); `users` limits whose
    recorded changes are consumed (others keep theirs, but every user is still extended
    when the end day moves). All models or none: one transaction.
    """
    started = time.perf_counter()
    end_day = as_of or clock.today()
    models = list(models or default_models())
    if dialect.is_sqlite(engine):
        report = _build_sqlite(engine, end_day, full, users, models)
    else:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_BUILD_LOCK})
            # Compiling the models' plans (JIT) costs more than it saves on these statements;
            # the carry-forward and the key-ordered inserts sort in memory, not on disk.
            connection.execute(text("SET LOCAL jit = off"))
            connection.execute(text(f"SET LOCAL work_mem = '{PG_BUILD_WORK_MEM}'"))
            plan = _plan(connection, end_day, full, users, models)
            report = _write(connection, plan, models, staged=set())
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class _Plan:
    """What one build reads before it writes: the scope, the changes to consume."""

    end_day: date
    previous_end: date | None
    from_days: dict[int, date]
    accounts: list[AccountScope]
    changes: list[tuple]
    account_changes: list[tuple]
    stamp: list[tuple]


def _plan(
    connection: Connection,
    end_day: date,
    full: bool,
    users: Sequence[int] | None,
    models: Sequence[Model],
) -> _Plan:
    all_users = set(connection.execute(select(users_table.c.id)).scalars())
    wanted = _check_users(users, all_users)
    previous_end = _previous_end(connection, models)
    changes = _read_changes(connection, wanted)
    account_changes = _read_account_changes(connection, wanted)
    user_days: dict[int, date] = {}
    for user, day, *_ in changes:
        user_days[user] = min(day, user_days.get(user, day))
    for _account, user, day, _at in account_changes:
        user_days[user] = min(day, user_days.get(user, day))
    common = {"end_day": end_day, "previous_end": previous_end, "all_users": all_users}
    from_days = plan_scope(**common, changes=user_days, full=full, users=wanted)
    whole_days = plan_scope(
        **common,
        changes={user: day for user, day, _at, only in changes if not only},
        full=full,
        users=wanted,
    )
    owned = connection.execute(
        select(financial_accounts.c.id, financial_accounts.c.user_id).where(
            financial_accounts.c.user_id.in_(list(from_days))
        )
    ).all()
    accounts = plan_accounts(
        from_days=from_days,
        whole_days=whole_days,
        accounts=[(account, user) for account, user in owned],
        changed={account: (user, day) for account, user, day, _at in account_changes},
    )
    return _Plan(
        end_day=end_day,
        previous_end=previous_end,
        from_days=from_days,
        accounts=accounts,
        changes=changes,
        account_changes=account_changes,
        stamp=_stamp(connection),
    )


def _write(
    connection: Connection, plan: _Plan, models: Sequence[Model], staged: set[str]
) -> BuildReport:
    """Replace the scoped rows of every model (those in `staged` from their stage table),
    consume the changes read and record the build: the writing transaction."""
    report = BuildReport(
        end_day=plan.end_day, previous_end=plan.previous_end, from_days=plan.from_days
    )
    if plan.from_days:
        if not staged:
            _fill_scope(connection, plan.from_days, plan.accounts)
        for model in models:
            model_started = time.perf_counter()
            report.rows[model.name] = _build_model(
                connection, model, plan, from_stage=model.name in staged
            )
            report.model_seconds[model.name] = time.perf_counter() - model_started
        _drop_scratch(connection)
    else:
        report.rows = {model.name: 0 for model in models}
    report.changes_consumed = _consume(connection, plan.changes, plan.account_changes)
    _record_builds(connection, models, plan.end_day, report.rows)
    return report


def _build_sqlite(
    engine: Engine,
    end_day: date,
    full: bool,
    users: Sequence[int] | None,
    models: Sequence[Model],
) -> BuildReport:
    """On SQLite the write lock is held only to swap rows in: the scope is planned and the
    big models are computed into temporary stage tables in a read transaction (a sync may
    write meanwhile), then one short write transaction replaces the rows from the stages and
    builds the small models. If another build committed in between (`mart_builds` moved),
    the write transaction plans and builds everything itself instead."""
    with engine.connect() as connection:
        connection.execution_options(sqlite_begin="BEGIN")  # deferred: no write lock
        _sqlite_cache(connection, SQLITE_BUILD_CACHE_KIB)
        register_sqlite_functions(connection.connection.driver_connection)
        try:
            staged: set[str] = set()
            with connection.begin():
                plan = _plan(connection, end_day, full, users, models)
                if plan.from_days:
                    _fill_scope(connection, plan.from_days, plan.accounts)
                    for model in models:
                        if model.name in STAGED_MODELS:
                            _stage_model(connection, model, plan)
                            staged.add(model.name)
            connection.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with connection.begin():
                locked = time.perf_counter()
                if _stamp(connection) != plan.stamp:
                    _drop_scratch(connection)
                    plan = _plan(connection, end_day, full, users, models)
                    staged = set()
                report = _write(connection, plan, models, staged)
                report.lock_seconds = time.perf_counter() - locked
        finally:
            if connection.in_transaction():
                connection.rollback()
            connection.execution_options(sqlite_begin="BEGIN")
            with connection.begin():
                _drop_scratch(connection)
            _sqlite_cache(connection, SQLITE_DEFAULT_CACHE_KIB)
            connection.execution_options(sqlite_begin="BEGIN IMMEDIATE")
    return report


def plan_scope(
    *,
    end_day: date,
    previous_end: date | None,
    all_users: set[int],
    changes: dict[int, date],
    full: bool,
    users: set[int] | None,
) -> dict[int, date]:
    """Per user, the first day to rebuild (pure: the rules of the module docstring)."""
    from_days: dict[int, date] = {}

    def since(user: int, day: date) -> None:
        from_days[user] = min(day, from_days.get(user, date.max))

    if previous_end is None:
        for user in all_users:
            since(user, BEGINNING)
    if full:
        for user in users if users is not None else all_users:
            since(user, BEGINNING)
    for user, day in changes.items():
        if user in all_users:
            since(user, day)
    if previous_end is not None and previous_end != end_day:
        moved_from = min(previous_end, end_day) + timedelta(days=1)
        for user in all_users:
            since(user, moved_from)
    return from_days


@dataclass(frozen=True)
class AccountScope:
    """One account's daily rows to rebuild: from `from_day` (`whole` when every account of
    the user is rebuilt from that day, so one range delete per user serves them all)."""

    account_id: int
    user_id: int
    from_day: date


def plan_accounts(
    *,
    from_days: dict[int, date],
    whole_days: dict[int, date],
    accounts: Sequence[tuple[int, int]],
    changed: dict[int, tuple[int, date]],
) -> list[AccountScope]:
    """Which accounts' daily rows to rebuild, from which day (pure).

    Every account of a user in `whole_days` from that day; an account with its own change
    (`changed`: account -> (user, day)) from that day if earlier, also an account no longer
    in `accounts` (removed: its rows go). Users outside `from_days` are not built now.
    """
    days: dict[int, tuple[int, date]] = {}
    for account, user in accounts:
        if user in whole_days:
            days[account] = (user, whole_days[user])
    for account, (user, day) in changed.items():
        if user not in from_days:
            continue
        if account not in days or day < days[account][1]:
            days[account] = (user, day)
    return [AccountScope(account, user, day) for account, (user, day) in sorted(days.items())]


def _sqlite_cache(connection: Connection, kib: int) -> None:
    """The connection's page cache (outside any transaction: the setting outlives one)."""
    connection.exec_driver_sql(f"PRAGMA cache_size = -{kib}")
    connection.commit()


def _check_users(users: Sequence[int] | None, known: set[int]) -> set[int] | None:
    if users is None:
        return None
    wanted = set(users)
    unknown = sorted(wanted - known)
    if unknown:
        raise MartsError(f"no such user: {', '.join(str(u) for u in unknown)}")
    return wanted


def _previous_end(connection: Connection, models: Sequence[Model]) -> date | None:
    """Through which day every model was built; None if one never was."""
    built = dict(connection.execute(select(mart_builds.c.model, mart_builds.c.built_through)).all())
    if any(model.name not in built for model in models):
        return None
    return min(built[model.name] for model in models)


def _read_changes(connection: Connection, users: set[int] | None) -> list[tuple]:
    """The pending user changes as stored (changed_at raw, for an exact compare-and-delete):
    (user, day, changed_at, accounts_only)."""
    rows = connection.execute(
        text(
            "SELECT user_id, earliest_changed_day, changed_at, accounts_only FROM mart_changes"
        ).columns(earliest_changed_day=Date(), accounts_only=Boolean())
    ).all()
    return [tuple(row) for row in rows if users is None or row[0] in users]


def _read_account_changes(connection: Connection, users: set[int] | None) -> list[tuple]:
    """The pending account changes: (account, user, day, changed_at)."""
    rows = connection.execute(
        text(
            "SELECT account_id, user_id, earliest_changed_day, changed_at FROM mart_account_changes"
        ).columns(earliest_changed_day=Date())
    ).all()
    return [tuple(row) for row in rows if users is None or row[1] in users]


def _consume(
    connection: Connection, changes: list[tuple], account_changes: Sequence[tuple] = ()
) -> int:
    """Delete the change rows read, unless rewritten since (then the next build sees them);
    how many user rows went."""
    consumed = 0
    if changes:
        statement = text(
            "DELETE FROM mart_changes WHERE user_id = :user_id "
            "AND earliest_changed_day = :day AND changed_at = :changed_at"
        ).bindparams(bindparam("day", type_=Date()))
        result = connection.execute(
            statement,
            [{"user_id": u, "day": d, "changed_at": at} for u, d, at, *_ in changes],
        )
        consumed = max(result.rowcount, 0)
    if account_changes:
        statement = text(
            "DELETE FROM mart_account_changes WHERE account_id = :account_id "
            "AND earliest_changed_day = :day AND changed_at = :changed_at"
        ).bindparams(bindparam("day", type_=Date()))
        connection.execute(
            statement,
            [{"account_id": a, "day": d, "changed_at": at} for a, _u, d, at in account_changes],
        )
    return consumed


def _stamp(connection: Connection) -> list[tuple]:
    """What `mart_builds` says now: another build committing changes it."""
    return [
        tuple(row)
        for row in connection.execute(
            text("SELECT model, built_through, built_at FROM mart_builds ORDER BY model")
        )
    ]


def _fill_scope(
    connection: Connection, from_days: dict[int, date], accounts: Sequence[AccountScope]
) -> None:
    _drop_scratch(connection)
    scope_table.create(connection)
    connection.execute(
        scope_table.insert(),
        [
            {
                "user_id": user,
                "from_day": day,
                "from_month": day.replace(day=1),
                "kept_through": day - timedelta(days=1),
            }
            for user, day in sorted(from_days.items())
        ],
    )
    scope_accounts_table.create(connection)
    if accounts:
        connection.execute(
            scope_accounts_table.insert(),
            [
                {
                    "account_id": scope.account_id,
                    "user_id": scope.user_id,
                    "from_day": scope.from_day,
                    "kept_through": scope.from_day - timedelta(days=1),
                }
                for scope in accounts
            ],
        )
    # Temporary tables get no statistics otherwise: the planner would guess ~2,000 users
    # and scan whole marts instead of each user's range.
    dialect.analyze(connection, SCOPE_TABLE, SCOPE_ACCOUNTS_TABLE)


def _drop_scratch(connection: Connection) -> None:
    for name in (SCOPE_TABLE, SCOPE_ACCOUNTS_TABLE, *(STAGE_PREFIX + m for m in STAGED_MODELS)):
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {dialect.temporary(connection, name)}")


def _insert_sql(connection: Connection, model: Model, plan: _Plan) -> tuple[str, dict]:
    """The model's rows in the table's key order (appended to its B-tree, not scattered), and
    the day parameters it uses."""
    table = metadata.tables[model.name]
    columns = ", ".join(column.name for column in table.columns)
    keys = ", ".join(column.name for column in table.primary_key.columns)
    sql = model.render(dialect.name(connection))
    days = {
        "end_day": plan.end_day,
        "earliest_kept_day": min(plan.from_days.values()) - timedelta(days=1),
    }
    parameters = {name: day for name, day in days.items() if f":{name}" in sql}
    return f"SELECT {columns} FROM (\n{sql}\n) model_rows ORDER BY {keys}", parameters


def _statement(sql: str, parameters: dict) -> TextClause:
    return text(sql).bindparams(*(bindparam(name, type_=Date()) for name in parameters))


def _stage_model(connection: Connection, model: Model, plan: _Plan) -> None:
    """The model's new rows into its temporary stage table (no write lock on SQLite)."""
    select_sql, parameters = _insert_sql(connection, model, plan)
    statement = _statement(
        f"CREATE TEMPORARY TABLE {STAGE_PREFIX}{model.name} AS {select_sql}", parameters
    )
    connection.execute(statement, parameters)


def _delete_scoped(connection: Connection, model: Model, plan: _Plan) -> None:
    """Delete the rows the model is about to replace."""
    table = metadata.tables[model.name]
    if model.per_account:
        _delete_accounts(connection, table.name, plan.accounts)
        return
    # One statement per user with plain bounds, so each is a range of the primary key.
    condition, parameters = {
        "day": ("AND day >= :from_day", lambda day: {"from_day": day}),
        "month": ("AND month >= :from_day", lambda day: {"from_day": day.replace(day=1)}),
        "user": ("", lambda day: {}),
    }[model.rebuild]
    delete = text(f"DELETE FROM {table.name} WHERE user_id = :user_id {condition}")
    if condition:
        delete = delete.bindparams(bindparam("from_day", type_=Date()))
    connection.execute(
        delete,
        [{"user_id": user, **parameters(day)} for user, day in sorted(plan.from_days.items())],
    )


def _delete_accounts(connection: Connection, table: str, accounts: Sequence[AccountScope]) -> None:
    """Per user, one range delete from the day all of its accounts in scope share (when
    that is every account's day), else one per account: key ranges, never a table scan."""
    by_user: dict[int, list[AccountScope]] = {}
    for scope in accounts:
        by_user.setdefault(scope.user_id, []).append(scope)
    whole: list[dict] = []
    single: list[dict] = []
    for user, scopes in by_user.items():
        days = {scope.from_day for scope in scopes}
        if len(days) == 1 and _all_accounts(connection, user, scopes):
            whole.append({"user_id": user, "from_day": days.pop()})
        else:
            single += [
                {"user_id": user, "account_id": s.account_id, "from_day": s.from_day}
                for s in scopes
            ]
    if whole:
        connection.execute(
            text(f"DELETE FROM {table} WHERE user_id = :user_id AND day >= :from_day").bindparams(
                bindparam("from_day", type_=Date())
            ),
            whole,
        )
    if single:
        connection.execute(
            text(
                f"DELETE FROM {table} WHERE user_id = :user_id AND day >= :from_day "
                "AND account_id = :account_id"
            ).bindparams(bindparam("from_day", type_=Date())),
            single,
        )


def _all_accounts(connection: Connection, user: int, scopes: Sequence[AccountScope]) -> bool:
    """Whether `scopes` covers every account the user owns (a user-wide delete then takes
    no other account's rows)."""
    if len(scopes) < 2:
        return False
    owned = set(
        connection.execute(
            select(financial_accounts.c.id).where(financial_accounts.c.user_id == user)
        ).scalars()
    )
    return owned <= {scope.account_id for scope in scopes}


def _build_model(connection: Connection, model: Model, plan: _Plan, *, from_stage: bool) -> int:
    """Replace the model's rows of the scoped users (accounts) from their first day; rows
    written."""
    table = metadata.tables[model.name]
    _delete_scoped(connection, model, plan)
    columns = ", ".join(column.name for column in table.columns)
    if from_stage:
        select_sql, parameters = f"SELECT {columns} FROM {STAGE_PREFIX}{model.name}", {}
    else:
        select_sql, parameters = _insert_sql(connection, model, plan)
    insert = _statement(f"INSERT INTO {table.name} ({columns})\n{select_sql}", parameters)
    written = max(connection.execute(insert, parameters).rowcount, 0)
    if model.name == mart_holdings.name:
        _price_by_value(connection)
    if written >= ANALYZE_AFTER_ROWS:
        # The models after this one read what it wrote: plan them on its new size (the
        # statistics count this transaction's own rows), not on autovacuum's last visit.
        keys = ", ".join(column.name for column in table.primary_key.columns)
        dialect.analyze(
            connection, f"{table.name} ({keys})" if model.analyze_key_only else table.name
        )
    return written


def _price_by_value(connection: Connection) -> None:
    """Holdings of the users in scope without a price (several positions merged) get their
    value over their quantity, rounded once, half-even, to the price scale: quantity x price
    is then the value, whatever each account's quote was. Here, since SQL never divides money.
    """
    h = mart_holdings
    rows = connection.execute(
        select(h.c.user_id, h.c.holding_key, h.c.value_base_currency, h.c.quantity).where(
            h.c.user_id.in_(select(scope_table.c.user_id)),
            h.c.price_base_currency.is_(None),
            h.c.value_base_currency.is_not(None),
            h.c.quantity != 0,
        )
    ).all()
    if not rows:
        return
    connection.execute(
        update(h)
        .where(h.c.user_id == bindparam("b_user"), h.c.holding_key == bindparam("b_key"))
        .values(price_base_currency=bindparam("b_price")),
        [
            {
                "b_user": user,
                "b_key": key,
                "b_price": money.divide(value, quantity, money.PRICE_PLACES),
            }
            for user, key, value, quantity in rows
        ],
    )


def _record_builds(
    connection: Connection, models: Sequence[Model], end_day: date, rows: dict[str, int]
) -> None:
    statement = dialect.insert(connection, mart_builds)
    built_at = clock.now()
    statement = statement.on_conflict_do_update(
        index_elements=[mart_builds.c.model],
        set_={
            "built_through": statement.excluded.built_through,
            "built_at": statement.excluded.built_at,
            "rows_written": statement.excluded.rows_written,
        },
    )
    connection.execute(
        statement,
        [
            {
                "model": model.name,
                "built_through": end_day,
                # Microseconds (SQLite's CURRENT_TIMESTAMP has whole seconds): the API's ETags
                # are tied to this, so two builds within a second must differ.
                "built_at": built_at,
                "rows_written": rows.get(model.name, 0),
            }
            for model in models
        ],
    )
