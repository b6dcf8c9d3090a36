"""The weekly report as an e-mail: jinja2 templates for HTML and text, charts by Content-ID.

The message is `multipart/alternative`: a plain-text part with every fact, then a
`multipart/related` holding the HTML and its PNG charts, which the HTML references as
`cid:` URLs (what mail clients show inline without loading anything from the internet).
Every number is formatted here, once, from the exact values; the templates only place text.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from wealth_pipeline import formatting as fmt
from wealth_pipeline.report.content import CHART_DAYS, Change, Notice, Slice, WeeklyReport
from wealth_pipeline.report.projection import context as projection_context
from wealth_pipeline.report.projection import fan_points

TEMPLATES = Path(__file__).parent / "templates"
SUBJECT_PREFIX = "[Wealth Tracker] Weekly Report"
POSITIVE, NEGATIVE, NEUTRAL = "#047857", "#b91c1c", "#6b7280"
NOTICE_TITLES = {
    "error": "Sync failed",
    "pending_auth": "Waits for you",
    "stale": "Not synced lately",
    "unconverted": "Not converted",
    "outdated": "Figures not current",
    "rates": "As of the last day with rates",
    "coverage": "Not like for like",
}


def text_table(
    columns: list[str], rows: list[list[str]], aligns: str, *, header: bool = True
) -> str:
    """Columns padded to their widest cell (`l`/`r` per column), for the plain-text part."""
    lines = [columns, *rows] if header else rows
    widths = [max((len(line[i]) for line in lines), default=0) for i in range(len(aligns))]
    text = []
    for line in lines:
        cells = [
            cell.rjust(width) if align == "r" else cell.ljust(width)
            for cell, width, align in zip(line, widths, aligns, strict=True)
        ]
        text.append("  ".join(cells).rstrip())
    return "\n".join(text)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def stop_command(username: str) -> str:
    return f"wealth users set {username} --no-weekly-report"


def subject(report: WeeklyReport) -> str:
    """`[Wealth Tracker] Weekly Report - €123,456.78 (+€1,234.56 this week)`."""
    total = fmt.money(report.total, report.base_currency)
    weekly = report.weekly
    if weekly.absolute is None:
        return f"{SUBJECT_PREFIX} - {total}"
    change = fmt.signed_money(weekly.absolute, report.base_currency)
    return f"{SUBJECT_PREFIX} - {total} ({change} this week)"


def _tone(value: Any) -> str:
    if value is None or value == 0:  # after rounding to what is shown
        return NEUTRAL
    return POSITIVE if value > 0 else NEGATIVE


def _change_view(change: Change, currency: str) -> dict[str, Any]:
    if change.absolute is None:
        return {"label": change.label, "amount": "n/a", "percent": "", "since": "no earlier data",
                "color": NEUTRAL}  # fmt: skip
    since = f"since {fmt.short_day(change.since)}" if change.since else ""
    if change.partial:
        since += " (first day on record)"
    return {
        "label": change.label,
        "amount": fmt.signed_money(change.absolute, currency),
        # No percentage against a zero start: the amount alone says it.
        "percent": "" if change.ratio is None else fmt.percent(change.ratio, signed=True),
        "since": since,
        "color": _tone(fmt.rounded(change.absolute, currency)),
    }


def _slice_views(slices: list[Slice], currency: str) -> list[dict[str, str]]:
    return [
        {"label": s.label, "amount": fmt.money(s.amount, currency), "share": fmt.percent(s.share)}
        for s in slices
    ]


def _notice_view(notice: Notice) -> dict[str, Any]:
    return {
        "title": NOTICE_TITLES.get(notice.kind, notice.kind),
        "subject": notice.subject,
        "text": notice.text,
        "action": notice.action,
        "lines": list(notice.items),
    }


def _history_facts(report: WeeklyReport) -> dict[str, str] | None:
    """The chart in words, for the text part and the image's alt text."""
    if not report.history:
        return None
    currency = report.base_currency
    first_day, first = report.history[0]
    low_day, low = min(report.history, key=lambda p: (p[1], p[0]))
    high_day, high = max(report.history, key=lambda p: (p[1], p[0]))
    return {
        "since": fmt.short_day(first_day),
        "start": fmt.money(first, currency),
        "end": fmt.money(report.total, currency),
        "low": f"{fmt.money(low, currency)} on {fmt.short_day(low_day)}",
        "high": f"{fmt.money(high, currency)} on {fmt.short_day(high_day)}",
        "title": "Net worth, last 12 months"
        if (report.as_of - first_day).days >= CHART_DAYS
        else f"Net worth since {fmt.short_day(first_day)}",
    }


def _text_tables(values: dict[str, Any]) -> dict[str, str]:
    """The plain-text part's tables, aligned."""
    accounts = [
        [
            a["name"]
            + (f" [{a['native']}]" if a["native"] else "")
            + (f" (as of {a['as_of']})" if a["as_of"] else ""),
            a["broker"],
            a["value"],
            a["share"],
            a["weekly"],
        ]
        for a in values["accounts"]
    ]
    accounts.append(["Total", "", values["total"], "100.0 %", values["headline"]["amount"]])
    slices = {
        name: text_table([], [[s["label"], s["amount"], s["share"]] for s in values[name]],
                         "lrr", header=False)
        for name in ("by_asset_class", "by_currency")
    }  # fmt: skip
    return {
        "changes": text_table(
            [], [[c["label"], c["amount"], c["percent"], c["since"]] for c in values["changes"]],
            "lrrl", header=False,
        ),
        "accounts": text_table(
            ["Account", "Broker", f"Value ({values['currency']})", "Share", "This week"],
            accounts, "llrrr",
        ),
        **slices,
    }  # fmt: skip


def _term(amount: Decimal, label: str, currency: str, first: bool = False) -> str:
    """`€12,000 you saved` (first) or ` + €8,421 markets` / ` - €528 currencies`."""
    text = f"{fmt.money(abs(amount), currency)} {label}"
    if first:
        return ("-" if fmt.rounded(amount, currency) < 0 else "") + text
    return (" - " if fmt.rounded(amount, currency) < 0 else " + ") + text


def where_from_view(name: str, figures: Any, currency: str) -> dict[str, Any]:
    """One line of "Where the change came from": the change as the sum of its parts (each
    rounded for display; the exact parts add up to the exact change), and the returns."""
    parts = _term(figures.contributions, "you saved", currency, first=True)
    parts += _term(figures.markets, "markets", currency)
    parts += _term(figures.currency_effect, "currencies", currency)
    if figures.internal_transfers:
        parts += _term(figures.internal_transfers, "in transit between your accounts", currency)
    if figures.unexplained:
        parts += _term(figures.unexplained, "not explained (no flow data)", currency)
    twr, mwr = figures.time_weighted_return, figures.money_weighted_return
    returns = []
    if twr is not None:
        returns.append(f"time-weighted {fmt.percent(Decimal(repr(twr)), signed=True)}")
    if mwr is not None:
        returns.append(f"money-weighted {fmt.percent(Decimal(repr(mwr)), signed=True)}")
    if not returns:
        returns.append("no return without flow data")
    detail = []
    if figures.income:
        detail.append(f"income {fmt.signed_money(figures.income, currency)}")
    if figures.costs:
        detail.append(f"costs {fmt.signed_money(figures.costs, currency)}")
    return {
        "name": name,
        "change": fmt.signed_money(figures.change, currency),
        "color": _tone(fmt.rounded(figures.change, currency)),
        "parts": parts,
        "returns": ", ".join(returns),
        "detail": ", ".join(detail),
        "since": fmt.short_day(figures.start),
    }


def context(report: WeeklyReport) -> dict[str, Any]:
    """Everything the templates show, as text."""
    currency = report.base_currency
    accounts = []
    for line in report.accounts:
        native = ""
        if line.currency != currency or line.base_amount is None:
            native = fmt.money(line.balance, line.currency)
        if line.new:
            weekly, color = "new", NEUTRAL
        elif line.weekly_change is None:
            weekly, color = "n/a", NEUTRAL
        else:
            weekly = fmt.signed_money(line.weekly_change, currency)
            color = _tone(fmt.rounded(line.weekly_change, currency))
        accounts.append(
            {
                "name": line.name,
                "broker": line.broker,
                "value": fmt.money(line.base_amount, currency)
                if line.base_amount is not None
                else "not converted",
                "native": native,
                "share": fmt.percent(line.share) if line.share is not None else "",
                "weekly": weekly,
                "weekly_color": color,
                "as_of": fmt.short_day(line.snapshot_date)
                if line.snapshot_date != report.as_of
                else "",
            }
        )
    weekly = report.weekly
    return {
        "username": report.username,
        "currency": currency,
        "exactness": fmt.exactness(currency),
        "as_of": fmt.day(report.as_of),
        "week": report.week,
        "total": fmt.money(report.total, currency),
        "account_count": report.account_count,
        "unconverted_count": report.unconverted_count,
        "headline": _change_view(weekly, currency),
        "unconverted_note": (
            f"{report.unconverted_count} account(s) without a conversion on "
            f"{fmt.short_day(report.as_of)} are left out of the total; the changes compare "
            "only the accounts counted on both days (see below)."
            if report.unconverted_count
            else ""
        ),
        "changes": [_change_view(c, currency) for c in report.changes],
        "accounts": accounts,
        "by_asset_class": _slice_views(report.by_asset_class, currency),
        "by_currency": _slice_views(report.by_currency, currency),
        # Only said when the breakdowns are of another day than the report's figures.
        "allocation_as_of": fmt.short_day(report.allocation_as_of)
        if report.allocation_as_of and report.allocation_as_of != report.as_of
        else None,
        "warnings": [_notice_view(n) for n in report.warnings],
        "where_from": [where_from_view(n, f, currency) for n, f in report.where_from],
        "history": _history_facts(report),
        "stop_command": stop_command(report.username),
        "subject": subject(report),
        "projection": None if report.projection is None else projection_context(report.projection),
    }


@dataclass(frozen=True)
class Image:
    name: str  # the template's name for it
    cid: str  # Content-ID with its angle brackets
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    text: str
    images: list[Image]
    context: dict[str, Any]

    def html(self, *, inline_images: bool = False) -> str:
        """The HTML part: images as `cid:` URLs (mail) or `data:` URIs (a browser preview)."""
        sources = {
            image.name: image.data_uri if inline_images else "cid:" + image.cid[1:-1]
            for image in self.images
        }
        return environment().get_template("report.html").render(**self.context, images=sources)

    def message(self, message: EmailMessage) -> EmailMessage:
        """Fill `message` (headers set by the Mailer) with the text, HTML and images."""
        message.set_content(self.text)
        message.add_alternative(self.html(), subtype="html")
        html_part = message.get_payload()[1]
        for image in self.images:
            html_part.add_related(
                image.png,
                maintype="image",
                subtype="png",
                cid=image.cid,
                filename=f"{image.name}.png",
                disposition="inline",
            )
        return message


def content_id(name: str) -> str:
    """A unique Content-ID, short enough that its header is never folded."""
    return f"<{name}.{secrets.token_hex(8)}@wealth.report>"


def render(report: WeeklyReport) -> RenderedReport:
    from wealth_pipeline.report.charts import allocation_chart, fan_chart, net_worth_chart

    values = context(report)
    images = []
    if report.history:
        images.append(
            Image("net_worth", content_id("net-worth"),
                  net_worth_chart(report.history, report.base_currency))
        )  # fmt: skip
    if report.by_asset_class or report.by_currency:
        images.append(
            Image("allocation", content_id("allocation"),
                  allocation_chart(report.by_asset_class, report.by_currency))
        )  # fmt: skip
    if report.projection is not None:
        goals = [(g.goal.name, g.goal.target_date, g.goal.target) for g in report.projection.goals]
        images.append(
            Image("projection", content_id("projection"),
                  fan_chart(fan_points(report.projection), report.base_currency, goals))
        )  # fmt: skip
    template = environment().get_template("report.txt")
    text = template.render(**values, tables=_text_tables(values)).rstrip("\n") + "\n"
    return RenderedReport(values["subject"], text, images, values)
