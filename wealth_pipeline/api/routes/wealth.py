"""`/api/wealth/`: summary, history, breakdowns and holdings, read from the marts only.

Each answer is one query on the mart tables (built ahead of time by `wealth_pipeline.marts`);
shares and monthly averages are computed exactly from the stored sums, rounded once,
half-even.

Every answer carries an `ETag` tied to the marts' last build (`mart_builds.built_at`), the
user, the profile settings that shape it and the query: a request whose `If-None-Match`
names it is answered `304 Not Modified` after the token check and one small query (the user
with the build time), without reading the marts. Answers stay `Cache-Control: no-store`
(no browser or proxy keeps wealth): the ETag serves clients that keep their own copy.

On SQLite the handlers run on the event loop (the queries take a few milliseconds and never
wait for a writer in WAL mode; a hop to the threadpool cost more than that); on PostgreSQL,
where a query waits on the server, in the threadpool.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Literal, get_args
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection, Date, String, TextClause, and_, bindparam, func, select, text
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from wealth_pipeline import money
from wealth_pipeline.api.body import HEADERS, day, json_response, percentage, raw_json
from wealth_pipeline.api.body import text as money_text
from wealth_pipeline.api.principal import Authenticated, Principal, load_principal_and_build
from wealth_pipeline.api.schemas import (
    BreakdownOut,
    HistoryOut,
    HoldingsOut,
    Problem,
    SummaryOut,
)
from wealth_pipeline.api.tokens import Claims
from wealth_pipeline.marts.coverage import like_for_like
from wealth_pipeline.sync.demo_guard import DEMO_BROKER
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.driver import DriverStatement
from wealth_pipeline.warehouse.schema import (
    brokers,
    financial_accounts,
    mart_account_daily,
    mart_breakdowns,
    mart_holdings,
    mart_net_worth_daily,
    mart_net_worth_monthly,
)

router = APIRouter(
    prefix="/api/wealth",
    tags=["wealth"],
    responses={401: {"model": Problem}, 422: {"model": Problem}},
)
MAX_DAYS = 36_600  # a century of days
DEFAULT_DAYS = 30
ZERO = money.amount(0)
Dimension = Literal["broker", "currency", "account_type", "account", "asset_class"]
NOT_MODIFIED = {304: {"description": "Not modified: the `If-None-Match` ETag is current"}}


# --- conditional answers ------------------------------------------------------------------


def etag(user: Principal, built_at: object, path: str, query: bytes) -> str:
    """The answer's entity tag: the user, the profile settings an answer depends on, the
    marts' build time and the query (no secret goes in; it only tells versions apart)."""
    source = "|".join(
        (
            str(user.id),
            user.base_currency,
            user.monthly_aggregation,
            str(built_at),
            path,
            query.decode("latin-1"),
        )
    )
    return '"' + hashlib.blake2b(source.encode(), digest_size=16).hexdigest() + '"'


def _matches(header: str | None, tag: str) -> bool:
    """Whether `If-None-Match` names `tag` (weak comparison, as RFC 9110 asks for it)."""
    if not header:
        return False
    candidates = {candidate.strip().removeprefix("W/") for candidate in header.split(",")}
    return tag in candidates or "*" in candidates


Render = Callable[[Connection, Principal], Response]


async def _answer(request: Request, claims: Claims, render: Render) -> Response:
    return await answer(
        request.app.state,
        claims,
        request.scope["path"],
        request.scope["query_string"],
        request.headers.get("if-none-match"),
        render,
    )


async def answer(
    state: State,
    claims: Claims,
    path: str,
    query: bytes,
    if_none_match: str | None,
    render: Render,
) -> Response:
    """Check the user, answer 304 if the client's copy is current, else the kept body of
    this ETag (`api.answers`), else `render` it (one read-only connection, one transaction).

    The routes below and the fast path (`api.fast_path`) both answer through here."""

    def work() -> Response:
        with state.reader.connect() as connection:
            user, built_at = load_principal_and_build(connection, claims)
            tag = etag(user, built_at, path, query)
            if _matches(if_none_match, tag):
                return Response(status_code=304, headers={**HEADERS, "ETag": tag})
            kept = answers.get(tag)
            if kept is not None:
                return raw_json(kept, etag=tag)
            response = render(connection, user)
        if response.status_code == 200:
            answers.put(tag, bytes(response.body))
        response.headers["ETag"] = tag
        return response

    answers = state.answers
    if dialect.is_sqlite(state.reader):
        return work()
    return await run_in_threadpool(work)


def fast_render(path: str, query: bytes) -> Render | None:
    """What to answer a plain, valid request to a wealth endpoint with (the fast path):
    None for any other path and for a query that is not in its plainest valid form (an
    unknown or repeated parameter, a number not written in plain digits...), which the
    routes below then validate and answer as usual."""
    parse = _FAST_QUERIES.get(path)
    if parse is None:
        return None
    try:
        pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    params = dict(pairs)
    if len(params) != len(pairs):
        return None
    return parse(params)


def _plain_count(value: str) -> int | None:
    """A count from 1 to MAX_DAYS written in plain digits, else None."""
    if len(value) > len(str(MAX_DAYS)) or not value.isascii() or not value.isdigit():
        return None
    count = int(value)
    return count if str(count) == value and 1 <= count <= MAX_DAYS else None


def _fast_history(params: dict[str, str]) -> Render | None:
    if not params.keys() <= {"days", "granularity", "points"}:
        return None
    days = _plain_count(params.get("days", str(DEFAULT_DAYS)))
    granularity = params.get("granularity", "daily")
    points = params.get("points")
    thinned = None if points is None else _plain_count(points)
    if (
        days is None
        or granularity not in ("daily", "monthly")
        or (points is not None and thinned is None)
    ):
        return None
    return _history_render(days, granularity, thinned)


def _fast_breakdown(params: dict[str, str]) -> Render | None:
    by = params.get("by", "broker")
    if not params.keys() <= {"by"} or by not in get_args(Dimension):
        return None
    return _breakdown_render(by)


# --- summary ------------------------------------------------------------------------------


def _summary_query(user_id: int):
    table = mart_account_daily
    latest = select(func.max(table.c.day)).where(table.c.user_id == user_id).scalar_subquery()
    return (
        select(
            table.c.day,
            table.c.account_id,
            financial_accounts.c.name,
            brokers.c.code,
            brokers.c.name.label("broker_name"),
            table.c.balance,
            table.c.currency,
            table.c.base_currency,
            table.c.balance_base_currency,
            table.c.snapshot_date,
        )
        .join(financial_accounts, financial_accounts.c.id == table.c.account_id)
        .join(brokers, brokers.c.id == financial_accounts.c.broker_id)
        .where(and_(table.c.user_id == user_id, table.c.day == latest))
        .order_by(table.c.balance_base_currency.desc().nulls_last(), table.c.account_id)
    )


@router.get(
    "/summary/",
    response_model=SummaryOut,
    responses=NOT_MODIFIED,
    summary="Total wealth now: each account's latest snapshot in your base currency",
)
async def summary(request: Request, claims: Authenticated) -> Response:
    """Accounts whose latest snapshot has no conversion yet show a null base amount and are
    left out of the total (`unconverted_count` says how many)."""
    return await _answer(request, claims, _summary)


def _summary(connection: Connection, user: Principal) -> Response:
    rows = connection.execute(_summary_query(user.id)).all()
    # As of the newest snapshot carried on the marts' last day (`marts.coverage.figures_days`):
    # the days after it carry the same values, and a week's change across them is no change.
    as_of = min(rows[0].day, max(row.snapshot_date for row in rows)) if rows else None
    week = _week_change(connection, user.id, as_of) if as_of else None
    total = sum(
        (row.balance_base_currency for row in rows if row.balance_base_currency is not None), ZERO
    )
    base = next((row.base_currency for row in rows if row.base_currency), user.base_currency)
    return json_response(
        {
            "as_of": day(as_of),
            "total_wealth": str(total),
            "base_currency": base,
            "account_count": len(rows),
            "unconverted_count": sum(1 for row in rows if row.balance_base_currency is None),
            "accounts": [
                {
                    "account_id": row.account_id,
                    "account_name": row.name,
                    "broker": row.broker_name,
                    "broker_code": row.code,
                    "balance": str(row.balance),
                    "currency": row.currency,
                    "balance_base_currency": money_text(row.balance_base_currency),
                    "snapshot_date": day(row.snapshot_date),
                }
                for row in rows
            ],
            "week_change": week,
            "figures_note": _figures_note(
                connection, as_of, [row.account_id for row in rows if row.code == DEMO_BROKER]
            ),
        }
    )


def _figures_note(connection: Connection, as_of: date | None, demo: list[int]) -> str | None:
    """The report's sentence when the demo's figures stop where the rates stop (offline):
    as of when they are and how to get later ones. None otherwise, without a query for
    users without demo accounts or with figures of the last few days."""
    if not demo or as_of is None:
        return None
    from wealth_pipeline import clock
    from wealth_pipeline.formatting import short_day
    from wealth_pipeline.report.facts import OUTDATED_AFTER_DAYS
    from wealth_pipeline.settings import load_settings
    from wealth_pipeline.sync.demo_guard import converts_on, figures_as_of_sentence

    today = clock.today()
    if (today - as_of).days <= OUTDATED_AFTER_DAYS or converts_on(connection, demo, today):
        return None
    return figures_as_of_sentence(short_day(as_of), load_settings())


def _week_change(connection: Connection, user_id: int, as_of: date) -> dict | None:
    """The week's change over the accounts counted on both days: a drop in coverage (an
    account without a rate, one added or removed) is never shown as a loss."""
    since = as_of - timedelta(days=7)
    coverage = like_for_like(connection, user_id, since, as_of)
    if coverage is None:
        return None
    counted = coverage.counted_on_start > 0
    return {
        "since": day(since),
        "amount": str(coverage.change) if counted else None,
        "percentage": percentage(coverage.change, coverage.start_total)
        if counted and coverage.start_total
        else None,
        "like_for_like": coverage.comparable,
        "note": coverage.sentence() if counted else "no account was counted a week before",
    }


# --- history ------------------------------------------------------------------------------


def _history_body(
    base_currency: str,
    start: str | None,
    end: str | None,
    granularity: str,
    aggregation: str | None,
    points: list[str],
) -> str:
    # Built as text: dates are ISO and amounts plain decimals, nothing needs escaping.
    return (
        f'{{"base_currency":"{base_currency}",'
        f'"start_date":{_quoted(start)},"end_date":{_quoted(end)},'
        f'"granularity":"{granularity}","aggregation":{_quoted(aggregation)},'
        f'"history":[{",".join(points)}]}}'
    )


def _point(day: str, value: str) -> str:
    return f'{{"date":"{day}","total_wealth":"{value}"}}'


def _quoted(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


def _daily_series(dialect_name: str) -> TextClause:
    """The daily series as one JSON text made by the database: one row, no Python object per
    day; each amount printed exactly from its stored form (`warehouse.dialect`)."""
    sql = dialect.sql_helpers(dialect_name)
    amount = dialect.amount_text(dialect_name, "total_wealth", money.AMOUNT_PLACES)
    point = (
        f"""'{{"date":"' || {sql["day_text"]("day")} || '","total_wealth":"' || {amount} || '"}}'"""
    )
    source = (
        "mart_net_worth_daily WHERE user_id = :user_id AND day BETWEEN :start AND :end "
        f"AND (:step = 1 OR {sql['days_between'](':end', 'day')} % :step = 0)"
    )
    return text(dialect.joined_text(dialect_name, point, source, "day")).bindparams(
        bindparam("start", type_=Date), bindparam("end", type_=Date)
    )


_DAILY_SERIES = {name: _daily_series(name) for name in dialect.NAMES}


@router.get(
    "/history/",
    response_model=HistoryOut,
    responses=NOT_MODIFIED,
    summary="Net worth per day (or per month) over the last `days` days",
)
async def history(
    request: Request,
    claims: Authenticated,
    days: Annotated[
        int, Query(ge=1, le=MAX_DAYS, description="how many days back from the last day")
    ] = DEFAULT_DAYS,
    granularity: Literal["daily", "monthly"] = "daily",
    points: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_DAYS,
            description="at most this many points: every k-th day (or month) counted back "
            "from the last, k as small as fits; each value exact, never averaged",
        ),
    ] = None,
) -> Response:
    """Each account counts with its latest snapshot on or before each day. The window ends
    on the day the figures are as of (the newest snapshot: later days would only carry it
    forward). Monthly points are the whole months the window touches, dated
    on their first day and aggregated as your profile chooses (last, min, max or avg of the
    month's days). With `points`, a long window is thinned to evenly spaced points that end
    on the last day; each keeps its day's (month's) exact value."""

    return await _answer(request, claims, _history_render(days, granularity, points))


def _history_render(days: int, granularity: str, points: int | None) -> Render:
    def render(connection: Connection, user: Principal) -> Response:
        if granularity == "daily":
            return raw_json(_daily_history(connection, user, days, points))
        return raw_json(_monthly_history(connection, user, days, points))

    return render


def thinning_step(count: int, points: int | None) -> int:
    """Keep every `step`-th of `count` evenly spaced values, counted back from the last, so
    that at most `points` remain (1: keep all)."""
    if points is None or count <= points:
        return 1
    if points == 1:
        return count
    return -(-(count - 1) // (points - 1))


def _window_start(end: date, days: int) -> date:
    """The first of `days` days up to `end`, never before the calendar's first day."""
    return end - timedelta(days=min(days - 1, (end - date.min).days))


# The marts' last day for the user, its base currency and the newest snapshot carried on it.
# It and the series run on the driver's cursor (`warehouse.driver`): beside queries this
# small, SQLAlchemy's own work per execution would show in every answer.
_LAST_DAY = DriverStatement(
    text(
        """
    SELECT day, base_currency,
           (SELECT max(snapshot_date) FROM mart_account_daily AS a
             WHERE a.user_id = n.user_id AND a.day = n.day) AS newest
      FROM mart_net_worth_daily AS n
     WHERE user_id = :user_id
     ORDER BY day DESC
     LIMIT 1
    """
    ).columns(day=Date, base_currency=String, newest=Date)
)
_SERIES = {name: DriverStatement(statement) for name, statement in _DAILY_SERIES.items()}


def _daily_history(
    connection: Connection, user: Principal, days: int, points: int | None = None
) -> str:
    table = mart_net_worth_daily
    last = _LAST_DAY.first(connection, {"user_id": user.id})
    if last is None:
        return _history_body(user.base_currency, None, None, "daily", None, [])
    # The window ends on the day the figures are as of (`marts.coverage.figures_days`): the
    # days after the newest snapshot only carry it forward, a flat line of nothing new.
    end = min(last.day, last.newest or last.day)
    start = _window_start(end, days)
    step = 1
    if points is not None:
        first = connection.execute(
            select(func.min(table.c.day)).where(table.c.user_id == user.id, table.c.day >= start)
        ).scalar_one()
        step = thinning_step((end - first).days + 1, points)
    (joined,) = _SERIES[connection.dialect.name].first(
        connection, {"user_id": user.id, "start": start, "end": end, "step": step}
    )
    return _history_body(
        last.base_currency, start.isoformat(), end.isoformat(), "daily", None, [joined]
    )


def _monthly_history(
    connection: Connection, user: Principal, days: int, points: int | None = None
) -> str:
    table = mart_net_worth_monthly
    aggregation = user.monthly_aggregation
    rows = connection.execute(
        select(
            table.c.month,
            table.c.last_day,
            table.c.last_value,
            table.c.min_value,
            table.c.max_value,
            table.c.sum_value,
            table.c.day_count,
            table.c.base_currency,
        )
        .where(table.c.user_id == user.id)
        .order_by(table.c.month.desc())
        .limit(days // 28 + 2)  # a window of `days` days touches at most this many months
    ).all()
    if not rows:
        return _history_body(user.base_currency, None, None, "monthly", aggregation, [])
    end = rows[0].last_day
    start = _window_start(end, days)
    first_month = start.replace(day=1)
    months = [row for row in rows if row.month >= first_month]  # newest first
    step = thinning_step(len(months), points)
    values = [
        _point(row.month.isoformat(), str(_monthly_value(row, aggregation)))
        for row in reversed(months[::step])
    ]
    return _history_body(
        rows[0].base_currency, start.isoformat(), end.isoformat(), "monthly", aggregation, values
    )


def _monthly_value(row, aggregation: str | None) -> Decimal:
    if aggregation == "min":
        return row.min_value
    if aggregation == "max":
        return row.max_value
    if aggregation == "avg":
        return money.divide(row.sum_value, Decimal(row.day_count), money.AMOUNT_PLACES)
    return row.last_value


# --- breakdown ----------------------------------------------------------------------------


@router.get(
    "/breakdown/",
    response_model=BreakdownOut,
    responses=NOT_MODIFIED,
    summary="Wealth on the last day grouped by broker, currency, account type, account or asset class",
)
async def breakdown(
    request: Request,
    claims: Authenticated,
    by: Annotated[Dimension, Query(description="what to group by")] = "broker",
) -> Response:
    return await _answer(request, claims, _breakdown_render(by))


def _breakdown_render(by: str) -> Render:
    return lambda connection, user: _breakdown(connection, user, by)


def _breakdown(connection: Connection, user: Principal, by: str) -> Response:
    table = mart_breakdowns
    rows = connection.execute(
        select(
            table.c.category_key,
            table.c.category,
            table.c.amount,
            table.c.as_of,
            table.c.base_currency,
        )
        .where(and_(table.c.user_id == user.id, table.c.dimension == by))
        .order_by(table.c.amount.desc(), table.c.category_key)
    ).all()
    total = sum((row.amount for row in rows), ZERO)
    return json_response(
        {
            "base_currency": rows[0].base_currency if rows else user.base_currency,
            "group_by": by,
            "as_of": day(max(row.as_of for row in rows)) if rows else None,
            "total": str(total),
            "breakdown": [
                {
                    "key": row.category_key,
                    "category": row.category,
                    "amount": str(row.amount),
                    "percentage": percentage(row.amount, total),
                }
                for row in rows
            ],
        }
    )


# --- holdings -----------------------------------------------------------------------------


@router.get(
    "/holdings/",
    response_model=HoldingsOut,
    responses=NOT_MODIFIED,
    summary="Positions merged across accounts by ISIN (else symbol, else name)",
)
async def holdings(request: Request, claims: Authenticated) -> Response:
    """From each account's latest snapshot that has positions. A holding without a base
    value (no rate yet) shows null and is left out of the total and the shares."""
    return await _answer(request, claims, _holdings)


def _holdings(connection: Connection, user: Principal) -> Response:
    table = mart_holdings
    rows = connection.execute(
        select(table)
        .where(table.c.user_id == user.id)
        .order_by(table.c.value_base_currency.desc().nulls_last(), table.c.holding_key)
    ).all()
    valued = [row for row in rows if row.value_base_currency is not None]
    total = sum((row.value_base_currency for row in valued), ZERO)
    by_class: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in valued:
        by_class[row.asset_class] += row.value_base_currency
    classes = sorted(by_class.items(), key=lambda item: (-item[1], item[0]))
    return json_response(
        {
            "as_of": day(max(row.as_of for row in rows)) if rows else None,
            "base_currency": rows[0].base_currency if rows else user.base_currency,
            "total": str(total),
            "holdings": [
                {
                    "isin": row.isin,
                    "symbol": row.symbol,
                    "name": row.name,
                    "asset_class": row.asset_class,
                    "quantity": str(row.quantity),
                    "value_base_currency": money_text(row.value_base_currency),
                    "price_base_currency": money_text(row.price_base_currency),
                    "percentage": None
                    if row.value_base_currency is None
                    else percentage(row.value_base_currency, total),
                    "accounts": row.accounts or [],
                }
                for row in rows
            ],
            "by_asset_class": [
                {
                    "asset_class": name,
                    "amount": str(amount),
                    "percentage": percentage(amount, total),
                }
                for name, amount in classes
            ],
        }
    )


# The fast path's parsers of each endpoint's query (`fast_render`).
_FAST_QUERIES: dict[str, Callable[[dict[str, str]], Render | None]] = {
    "/api/wealth/summary/": lambda params: None if params else _summary,
    "/api/wealth/history/": _fast_history,
    "/api/wealth/breakdown/": _fast_breakdown,
    "/api/wealth/holdings/": lambda params: None if params else _holdings,
}
