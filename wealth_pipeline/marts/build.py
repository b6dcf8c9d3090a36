"""Building the marts: every model, per user only from the earliest changed day, in one
transaction.

Which users and days to rebuild (the scope) comes from three things:
- `mart_changes`: the earliest day each user's data changed since it was last consumed (the
  snapshot writer, conversions, account removal, base-currency changes and broker renames
  record it);
- the end day: when it moved since the last build (`mart_builds.built_through`), every
  user is extended from the old end on (or cut back to the new one);
- `full` (all history of `users`, default everyone) and a model never built (everyone).

Each model then deletes its rows of the scoped users from their day on (the day, its month,
or all of a user's rows: `config(rebuild=...)`) and inserts its SELECT: re-running gives the
same rows. Readers see the old marts until the one commit. The change rows read are deleted
in that same transaction, and only if unchanged since (same day and time): a change
recorded while the build runs survives for the next build.

Builds run one at a time: SQLite's writer transaction holds the write lock, PostgreSQL takes
an advisory lock. The users in scope sit in a temporary table (`mart_scope`) the models join;
on PostgreSQL it is analyzed, JIT is off for the build, and a model that wrote many rows is
analyzed before the next reads it, so plans follow the real sizes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Engine,
    Integer,
    MetaData,
    Table,
    bindparam,
    func,
    select,
    text,
    update,
)

from wealth_pipeline import money
from wealth_pipeline.marts.models import SCOPE_TABLE, Model, default_models
from wealth_pipeline.partitions import TIMEZONE
from wealth_pipeline.warehouse.schema import mart_builds, mart_holdings, metadata
from wealth_pipeline.warehouse.schema import users as users_table

# Serialises builds on PostgreSQL (SQLite writers queue on BEGIN IMMEDIATE anyway).
PG_BUILD_LOCK = 7_395_113_210
# A model writing this many rows is analyzed at once on PostgreSQL (see `_build_model`).
ANALYZE_AFTER_ROWS = 50_000
# "From the beginning": before any snapshot can be (the SQL starts at each first snapshot).
BEGINNING = date(1900, 1, 1)

_scratch = MetaData()
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

    @property
    def users_rebuilt(self) -> list[int]:
        return sorted(self.from_days)

    def days_rebuilt(self, user_id: int) -> tuple[date, date] | None:
        """The user's rebuilt days (first, last), None if the user was not rebuilt."""
        first = self.from_days.get(user_id)
        if first is None:
            return None
        return (first, self.end_day)

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


def today() -> date:
    """Today in the pipeline's time zone (the marts' default end day)."""
    return datetime.now(ZoneInfo(TIMEZONE)).date()


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
    end_day = as_of or today()
    models = list(models or default_models())
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_BUILD_LOCK})
            # Compiling the models' plans (JIT) costs more than it saves on these statements.
            connection.execute(text("SET LOCAL jit = off"))
        all_users = set(connection.execute(select(users_table.c.id)).scalars())
        wanted = _check_users(users, all_users)
        previous_end = _previous_end(connection, models)
        changes = _read_changes(connection, wanted)
        from_days = plan_scope(
            end_day=end_day,
            previous_end=previous_end,
            all_users=all_users,
            changes={user: day for user, day, _ in changes},
            full=full,
            users=wanted,
        )
        report = BuildReport(end_day=end_day, previous_end=previous_end, from_days=from_days)
        if from_days:
            _fill_scope(connection, from_days)
            for model in models:
                model_started = time.perf_counter()
                report.rows[model.name] = _build_model(connection, model, end_day, from_days)
                report.model_seconds[model.name] = time.perf_counter() - model_started
            scope_table.drop(connection)
        else:
            report.rows = {model.name: 0 for model in models}
        report.changes_consumed = _consume(connection, changes)
        _record_builds(connection, models, end_day, report.rows)
    report.seconds = time.perf_counter() - started
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


def _read_changes(connection: Connection, users: set[int] | None) -> list[tuple[int, date, object]]:
    """The pending changes as stored (changed_at raw, for an exact compare-and-delete)."""
    rows = connection.execute(
        text("SELECT user_id, earliest_changed_day, changed_at FROM mart_changes").columns(
            earliest_changed_day=Date()
        )
    ).all()
    return [tuple(row) for row in rows if users is None or row[0] in users]  # type: ignore[misc]


def _consume(connection: Connection, changes: list[tuple[int, date, object]]) -> int:
    """Delete the change rows read, unless rewritten since (then the next build sees them)."""
    if not changes:
        return 0
    statement = text(
        "DELETE FROM mart_changes WHERE user_id = :user_id "
        "AND earliest_changed_day = :day AND changed_at = :changed_at"
    ).bindparams(bindparam("day", type_=Date()))
    result = connection.execute(
        statement,
        [{"user_id": u, "day": d, "changed_at": at} for u, d, at in changes],
    )
    return max(result.rowcount, 0)


def _fill_scope(connection: Connection, from_days: dict[int, date]) -> None:
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
    if connection.dialect.name == "postgresql":
        # Temporary tables get no statistics otherwise: the planner would guess ~2,000
        # users and scan whole marts instead of each user's range.
        connection.execute(text(f"ANALYZE {SCOPE_TABLE}"))


def _build_model(
    connection: Connection, model: Model, end_day: date, from_days: dict[int, date]
) -> int:
    """Replace the model's rows of the scoped users from their first day; rows written."""
    table = metadata.tables[model.name]
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
        delete, [{"user_id": user, **parameters(day)} for user, day in sorted(from_days.items())]
    )
    columns = ", ".join(column.name for column in table.columns)
    sql = model.render(connection.dialect.name)
    insert = text(
        f"INSERT INTO {table.name} ({columns})\nSELECT {columns} FROM (\n{sql}\n) model_rows"
    )
    parameters = {}
    if ":end_day" in sql:
        insert = insert.bindparams(bindparam("end_day", type_=Date()))
        parameters["end_day"] = end_day
    written = max(connection.execute(insert, parameters).rowcount, 0)
    if model.name == mart_holdings.name:
        _price_by_value(connection)
    from wealth_pipeline.returns.daily import POST_STEPS

    if model.name in POST_STEPS:
        POST_STEPS[model.name](connection)
    if connection.dialect.name == "postgresql" and written >= ANALYZE_AFTER_ROWS:
        # The models after this one read what it wrote: plan them on its new size (the
        # statistics count this transaction's own rows), not on autovacuum's last visit.
        connection.execute(text(f"ANALYZE {table.name}"))
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
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    statement = upsert(mart_builds)
    statement = statement.on_conflict_do_update(
        index_elements=[mart_builds.c.model],
        set_={
            "built_through": statement.excluded.built_through,
            "built_at": func.now(),
            "rows_written": statement.excluded.rows_written,
        },
    )
    connection.execute(
        statement,
        [
            {"model": model.name, "built_through": end_day, "rows_written": rows.get(model.name, 0)}
            for model in models
        ],
    )
