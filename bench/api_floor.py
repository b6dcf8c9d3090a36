"""The floor of `bench.api`: a raw ASGI app (no framework, no token, no user lookup) that
runs the history endpoint's own SQL with the bare driver and answers the same bytes.

Served by uvicorn with the same number of workers as the API (`bench.api` starts it):

    BENCH_FLOOR_URL=sqlite:///PATH BENCH_FLOOR_USER=1 uvicorn bench.api_floor:app --workers 2

`/history?days=N` answers the body `/api/wealth/history/?days=N` answers (byte-identical:
the benchmark checks); `/summary` runs the summary's SQL and returns its rows as JSON (the
same query, a smaller serializer: a floor, not a copy).
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from urllib.parse import parse_qs

from sqlalchemy.engine import make_url

from wealth_pipeline.api.body import HEADERS
from wealth_pipeline.api.routes.wealth import (
    _DAILY_SERIES,
    _history_body,
    _summary_query,
    _window_start,
)

URL = make_url(os.environ.get("BENCH_FLOOR_URL", "sqlite://"))
USER = int(os.environ.get("BENCH_FLOOR_USER", "1"))
SQLITE = URL.get_backend_name() == "sqlite"
_connection = None
LAST_DAY = (
    "SELECT day, base_currency FROM mart_net_worth_daily WHERE user_id = {p} "
    "ORDER BY day DESC LIMIT 1"
)


def _connect():
    global _connection
    if _connection is None:
        if SQLITE:
            import sqlite3

            _connection = sqlite3.connect(URL.database, check_same_thread=False)
            _connection.execute("PRAGMA journal_mode=WAL")
        else:
            import psycopg

            _connection = psycopg.connect(
                URL.set(drivername="postgresql").render_as_string(hide_password=False),
                autocommit=True,
            )
    return _connection


def _compiled(statement, dialect_name: str) -> str:
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = sqlite.dialect() if dialect_name == "sqlite" else postgresql.dialect()
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


_SERIES = str(_DAILY_SERIES["sqlite" if SQLITE else "postgresql"])
_SUMMARY = _compiled(_summary_query(USER), "sqlite" if SQLITE else "postgresql")
PARAM = "?" if SQLITE else "%s"
# sqlite3 takes the named parameters as they are; psycopg as %(name)s, with a literal % doubled.
SERIES_SQL = (
    _SERIES
    if SQLITE
    else re.sub(r"(?<!:):(user_id|start|end|step)\b", r"%(\1)s", _SERIES.replace("%", "%%"))
)


def history(days: int) -> bytes:
    connection = _connect()
    last = connection.execute(LAST_DAY.format(p=PARAM), (USER,)).fetchone()
    end = last[0] if isinstance(last[0], date) else date.fromisoformat(last[0])
    start = _window_start(end, days)
    values = {"user_id": USER, "start": start, "end": end, "step": 1}
    if SQLITE:
        values.update(start=start.isoformat(), end=end.isoformat())
    joined = connection.execute(SERIES_SQL, values).fetchone()[0]
    return _history_body(
        last[1], start.isoformat(), end.isoformat(), "daily", None, [joined]
    ).encode()


def summary() -> bytes:
    rows = _connect().execute(_SUMMARY).fetchall()
    return json.dumps([[str(value) for value in row] for row in rows]).encode()


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    query = parse_qs(scope["query_string"].decode())
    if scope["path"].startswith("/history"):
        body = history(int(query.get("days", ["30"])[0]))
    else:
        body = summary()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
