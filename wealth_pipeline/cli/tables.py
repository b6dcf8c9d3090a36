"""Plain-text tables for the `wealth` commands."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def exact_option(function: F) -> F:
    """Add `--exact`: amounts as stored (4 places) instead of at the currency's minor unit."""
    return click.option(
        "--exact",
        is_flag=True,
        help="Amounts as stored (4 decimal places) instead of rounded to the currency's "
        "minor unit (cents).",
    )(function)


def amount(value: Decimal, currency: str, *, exact: bool = False) -> str:
    """`1,200.25 EUR` (half-even at the currency's minor unit, for display only), or the
    stored `1200.2500 EUR` with `exact`."""
    if exact:
        return f"{value} {currency}"
    from wealth_pipeline.formatting import number

    return f"{number(value, currency)} {currency}"


def echo_table(rows: Sequence[Sequence[object]]) -> None:
    """Left-aligned columns, two spaces apart; the first row is the header."""
    if not rows:
        return
    texts = [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in texts) for i in range(len(texts[0]))]
    for row in texts:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
