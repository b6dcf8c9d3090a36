"""Writing published rates: a window is replaced whole, in one transaction."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, and_, delete, func, select

from wealth_pipeline.fx.published import PublishedRates
from wealth_pipeline.warehouse import dialect
from wealth_pipeline.warehouse.schema import exchange_rates


def replace_rates(connection: Connection, published: PublishedRates) -> int:
    """Delete the EUR rates in [start, end] and insert the published ones; return rows written.

    Runs inside the caller's transaction, so a failure leaves the previous rows in place.
    """
    table = exchange_rates
    connection.execute(
        delete(table).where(
            and_(
                table.c.base_currency == "EUR",
                table.c.rate_date >= published.start,
                table.c.rate_date <= published.end,
            )
        )
    )
    rows = [
        {
            "rate_date": day,
            "base_currency": "EUR",
            "quote_currency": code,
            "rate": rate,
            "source": published.source,
        }
        for day, rates in sorted(published.days.items())
        for code, rate in sorted(rates.items())
    ]
    dialect.bulk_insert(connection, table, rows)
    return len(rows)


def stored_span(connection: Connection) -> tuple[date | None, date | None]:
    """The first and last day with stored rates (None, None before any)."""
    first, last = connection.execute(
        select(func.min(exchange_rates.c.rate_date), func.max(exchange_rates.c.rate_date))
    ).one()
    return first, last
