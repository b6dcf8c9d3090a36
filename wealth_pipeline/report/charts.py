"""The report's charts as PNG bytes (matplotlib, headless Agg backend).

matplotlib draws with floats: only the plotted points are converted here, never a number
shown as text (the labels on the charts are formatted from the exact values).
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from fractions import Fraction

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit

import matplotlib.dates as mdates
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from wealth_pipeline.formatting import currency_symbol, percent
from wealth_pipeline.report.content import Slice

WIDTH_PX = 600  # what the HTML shows; drawn at twice that for sharp screens
DPI = 200
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
ACCENT = "#2563eb"
FILL = "#dbeafe"
NEGATIVE = "#dc2626"
PALETTE = ("#2563eb", "#0d9488", "#f59e0b", "#8b5cf6", "#ec4899", "#64748b", "#84cc16", "#0ea5e9")
MAX_BARS = 7  # further categories are summed as "Other"


def _figure(height_px: int) -> Figure:
    figure = Figure(figsize=(WIDTH_PX * 2 / DPI, height_px * 2 / DPI), dpi=DPI)
    figure.patch.set_facecolor("white")
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _compact(value: float, currency: str) -> str:
    """Axis labels: `€1.2M`, `CHF 850k` (approximate by nature; the text holds exact figures)."""
    symbol = currency_symbol(currency)
    prefix = f"{symbol} " if symbol == currency else symbol
    sign = "-" if value < 0 else ""
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            number = f"{size / limit:.1f}".rstrip("0").rstrip(".")
            return f"{sign}{prefix}{number}{suffix}"
    return f"{sign}{prefix}{size:.0f}"


def net_worth_chart(points: list[tuple[date, Decimal]], currency: str) -> bytes:
    """Net worth per day: a line with a light fill, the last value marked."""
    figure = _figure(240)
    axes = figure.add_subplot()
    days = [day for day, _ in points]
    values = [float(value) for _, value in points]  # plotted points only
    if len(points) == 1:
        axes.plot(days, values, "o", color=ACCENT)
    else:
        # The axis hugs the data (as finance charts do) so a year's movement is visible.
        low, high = min(values), max(values)
        pad = (high - low) * 0.15 or abs(high) * 0.05 or 1.0
        bottom = low - pad
        axes.set_ylim(bottom, high + pad)
        axes.plot(days, values, color=ACCENT, linewidth=1.8)
        axes.fill_between(days, values, bottom, color=FILL, alpha=0.7, linewidth=0)
        axes.plot(days[-1:], values[-1:], "o", color=ACCENT, markersize=4)
    _time_axes(axes, currency, ticks=(3, 7))
    figure.tight_layout(pad=0.6)
    return _png(figure)


def _time_axes(axes, currency: str, ticks: tuple[int, int]) -> None:
    """Money up the side, dates along the bottom, a light grid: the look of the time charts."""
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _compact(v, currency)))
    locator = mdates.AutoDateLocator(minticks=ticks[0], maxticks=ticks[1])
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.spines["bottom"].set_color(GRID)
    axes.grid(axis="y", color=GRID, linewidth=0.8)
    axes.tick_params(colors=MUTED, labelsize=8, length=0)
    axes.margins(x=0.01)


def _top(slices: list[Slice]) -> list[Slice]:
    if len(slices) <= MAX_BARS:
        return slices
    rest = slices[MAX_BARS - 1 :]
    amount = sum((s.amount for s in rest), Decimal(0))
    shares = [s.share for s in rest if s.share is not None]
    share = sum(shares, Fraction(0)) if len(shares) == len(rest) else None
    return [*slices[: MAX_BARS - 1], Slice("Other", amount, share)]


def allocation_chart(by_asset_class: list[Slice], by_currency: list[Slice]) -> bytes:
    """Two panels of horizontal bars (share of the total), asset classes and currencies."""
    panels = [(title, _top(s)) for title, s in (("Asset class", by_asset_class),
                                                 ("Currency", by_currency)) if s]  # fmt: skip
    rows = max((len(s) for _, s in panels), default=1)
    figure = _figure(70 + 26 * rows)
    for index, (title, items) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        # Top-aligned rows, largest first, so both panels line up.
        positions = [rows - 1 - i for i in range(len(items))]
        shares = [float(s.share or 0) * 100 for s in items]  # plotted points only
        colors = [NEGATIVE if s.amount < 0 else PALETTE[i % len(PALETTE)]
                  for i, s in enumerate(items)]  # fmt: skip
        axes.barh(positions, shares, color=colors, height=0.62)
        axes.set_yticks(positions, [s.label for s in items])
        axes.set_ylim(-0.6, rows - 0.4)
        axes.set_title(title, loc="left", fontsize=9, color=INK, fontweight="bold")
        top = max([abs(v) for v in shares] + [1.0])
        axes.set_xlim(min(0.0, min(shares) * 1.35), top * 1.35)
        for position, item, value in zip(positions, items, shares, strict=True):
            axes.text(max(value, 0.0) + top * 0.02, position, percent(item.share),
                      va="center", fontsize=8, color=INK)  # fmt: skip
        axes.set_xticks([])
        for side in ("top", "right", "bottom"):
            axes.spines[side].set_visible(False)
        axes.spines["left"].set_color(GRID)
        axes.tick_params(axis="y", colors=INK, labelsize=8, length=0)
    figure.tight_layout(pad=0.6, w_pad=2.0)
    return _png(figure)


FAN_YEARS = 30  # the projection's fan chart: the next 30 years
FAN_OUTER = "#dbeafe"
FAN_INNER = "#93c5fd"


def fan_chart(
    bands: list[tuple[date, tuple[Decimal, ...]]],
    currency: str,
    goals: list[tuple[str, date, Decimal]] = (),
) -> bytes:
    """The projection's fan: 5-95 % and 25-75 % bands around the median, goals as markers."""
    figure = _figure(260)
    axes = figure.add_subplot()
    days = [day for day, _ in bands]
    columns = [[float(v) for v in values] for _, values in bands]  # plotted points only
    p5, p25, p50, p75, p95 = (list(series) for series in zip(*columns, strict=True))
    axes.fill_between(days, p5, p95, color=FAN_OUTER, linewidth=0, label="5-95 %")
    axes.fill_between(days, p25, p75, color=FAN_INNER, linewidth=0, label="25-75 %")
    axes.plot(days, p50, color=ACCENT, linewidth=1.8, label="median")
    for index, (name, day, target) in enumerate(goals):
        if days[0] <= day <= days[-1]:
            color = PALETTE[(index + 2) % len(PALETTE)]
            axes.plot([day], [float(target)], "D", color=color, markersize=5)
            axes.annotate(name, (day, float(target)), textcoords="offset points", xytext=(5, 5),
                          fontsize=8, color=INK)  # fmt: skip
    axes.set_ylim(bottom=min(0.0, min(p5)))
    _time_axes(axes, currency, ticks=(4, 8))
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    figure.tight_layout(pad=0.6)
    return _png(figure)
