"""Sending the weekly report to a real SMTP server, on SQLite and PostgreSQL.

The message is parsed back as a mail client would: its parts, the charts referenced by
Content-ID, and every number checked against the marts it was built from.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import Engine, insert, select, update

from tests.support.fakes.smtp import FakeSmtp
from tests.support.report import AS_OF, MONDAY, World, parts
from wealth_pipeline import formatting as fmt
from wealth_pipeline.mail import Mailer
from wealth_pipeline.report.delivery import ReportError, send_reports
from wealth_pipeline.settings import load_settings
from wealth_pipeline.warehouse.schema import (
    financial_accounts,
    mart_account_daily,
    mart_breakdowns,
    mart_net_worth_daily,
    profiles,
    report_deliveries,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def send(engine: Engine, **options):
    return {o.username: o for o in send_reports(engine, Mailer(load_settings()), today=MONDAY,
                                                **options)}  # fmt: skip


def deliveries(engine: Engine) -> dict[int, tuple]:
    rd = report_deliveries
    with engine.connect() as connection:
        rows = connection.execute(select(rd.c.user_id, rd.c.week, rd.c.recipient, rd.c.status,
                                         rd.c.detail, rd.c.message_id))  # fmt: skip
        return {row.user_id: tuple(row)[1:] for row in rows}


def test_the_report_reaches_the_smtp_server_with_the_marts_numbers(
    report_world: tuple[Engine, World], smtp: FakeSmtp
) -> None:
    engine, people = report_world
    outcomes = send(engine)

    assert outcomes["alice"].status == "sent"
    [received] = [r for r in smtp.received if r.recipients == ["alice.reports@example.org"]]
    message = received.message
    text, html, images = parts(message)

    with engine.connect() as connection:
        nw = connection.execute(
            select(mart_net_worth_daily).where(
                mart_net_worth_daily.c.user_id == people.alice.user_id,
                mart_net_worth_daily.c.day == AS_OF,
            )
        ).one()
        week_ago = connection.execute(
            select(mart_net_worth_daily.c.total_wealth).where(
                mart_net_worth_daily.c.user_id == people.alice.user_id,
                mart_net_worth_daily.c.day == AS_OF.replace(day=AS_OF.day - 7),
            )
        ).scalar_one()
        accounts = connection.execute(
            select(financial_accounts.c.name, mart_account_daily.c.balance_base_currency,
                   mart_account_daily.c.balance, mart_account_daily.c.currency)
            .join(financial_accounts, financial_accounts.c.id == mart_account_daily.c.account_id)
            .where(mart_account_daily.c.user_id == people.alice.user_id,
                   mart_account_daily.c.day == AS_OF)
        ).all()  # fmt: skip
        currencies = connection.execute(
            select(mart_breakdowns.c.category, mart_breakdowns.c.amount).where(
                mart_breakdowns.c.user_id == people.alice.user_id,
                mart_breakdowns.c.dimension == "currency",
            )
        ).all()

    total = fmt.money(nw.total_wealth, "EUR")
    # The Sparkonto (CHF) has no rate since 26 Nov: the week's change leaves it out (like for
    # like) instead of showing its 5,320.51 leaving the total as a loss.
    savings_week_ago = Decimal("5320.5050")
    weekly = fmt.signed_money(nw.total_wealth - (week_ago - savings_week_ago), "EUR")
    assert weekly == "+€853.06"
    assert message["Subject"] == f"[Wealth Tracker] Weekly Report - {total} ({weekly} this week)"
    assert nw.total_wealth == Decimal("2500.00") + Decimal("3.17") * 391 + Decimal("11780.9910")
    assert total == "€15,520.46"  # rounded once, half-even, at display
    for part in (text, html):
        assert total in part
        assert weekly in part
        for name, base, balance, currency in accounts:
            assert name in part
            if base is None:
                assert "not converted" in part
            else:
                assert fmt.money(base, "EUR") in part
                share = fmt.percent(Decimal(base) / nw.total_wealth)
                assert share in part
            if currency != "EUR":
                assert fmt.money(balance, currency) in part
        for _category, amount in currencies:
            assert fmt.money(amount, "EUR") in part
        assert "1 account has no rate since" in part and "change leaves it out" in part
        # the warnings: a login waiting for a TAN, a snapshot without a rate
        assert "Approve the login in your app" in part
        assert "no CHF rate within 14 days of 2026-11-26" in part
        assert "wealth users set alice --no-weekly-report" in part
    assert "<script" not in html.lower()

    # The charts (net worth, allocation, projection): valid PNGs, each referenced from the
    # HTML by its Content-ID.
    assert len(images) == 3
    for cid, png in images.items():
        assert png.startswith(PNG_MAGIC)
        with Image.open(io.BytesIO(png)) as picture:
            picture.load()  # decodes every pixel: a truncated or corrupt PNG raises
            assert picture.size[0] == 1200  # 2x the 600 px the HTML shows, for sharp screens
        assert f'src="cid:{cid}"' in html
    assert set(re.findall(r'src="cid:([^"]+)"', html)) == set(images)

    rows = deliveries(engine)
    assert rows[people.alice.user_id][:3] == ("2026-W49", "alice.reports@example.org", "sent")
    assert rows[people.alice.user_id][4] == message["Message-ID"]


def test_refused_recipients_and_users_without_opt_in_or_address(
    report_world: tuple[Engine, World], smtp: FakeSmtp
) -> None:
    engine, people = report_world
    outcomes = send(engine)

    assert set(outcomes) == {"alice", "bob", "dave"}  # carol did not opt in
    assert outcomes["bob"].status == "failed"
    assert "refuse-bob@example.org: 550" in outcomes["bob"].detail
    assert outcomes["dave"].status == "skipped"
    assert "no e-mail address" in outcomes["dave"].detail
    assert outcomes["alice"].status == "sent"  # after bob's refusal
    assert [r.recipients for r in smtp.received] == [["alice.reports@example.org"]]
    rows = deliveries(engine)
    assert rows[people.bob.user_id][2] == "failed"
    assert "550" in rows[people.bob.user_id][3]
    assert people.carol.user_id not in rows and people.dave.user_id not in rows

    # Named explicitly, a user who opted out is told why nothing was sent.
    named = send(engine, usernames=["carol"])
    assert named["carol"].status == "skipped"
    assert "--weekly-report" in named["carol"].detail
    with pytest.raises(ReportError, match="no active user named 'zoe'"):
        send(engine, usernames=["zoe"])


def test_a_rerun_never_sends_twice_and_resend_does(
    report_world: tuple[Engine, World], smtp: FakeSmtp
) -> None:
    engine, people = report_world
    send(engine)
    first = deliveries(engine)[people.alice.user_id]
    smtp.reset()

    again = send(engine)
    assert again["alice"].status == "skipped"
    assert "already sent for 2026-W49" in again["alice"].detail
    assert again["bob"].status == "failed"  # failed ones are retried
    assert smtp.received == []
    assert deliveries(engine)[people.alice.user_id] == first

    resent = send(engine, usernames=["alice"], resend=True)
    assert resent["alice"].status == "sent"
    [received] = smtp.received
    assert received.recipients == ["alice.reports@example.org"]
    assert deliveries(engine)[people.alice.user_id][4] == received.message["Message-ID"] != first[4]


def test_dry_run_sends_and_records_nothing(report_world: tuple[Engine, World], smtp: FakeSmtp) -> None:
    engine, _ = report_world
    outcomes = send(engine, dry_run=True)
    assert outcomes["alice"].status == "dry-run"
    assert outcomes["alice"].subject.startswith("[Wealth Tracker] Weekly Report - €15,520.46")
    assert smtp.received == []
    assert deliveries(engine) == {}


def test_without_smtp_the_report_lands_in_the_outbox(
    report_world: tuple[Engine, World], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    engine, people = report_world
    monkeypatch.delenv("WEALTH_SMTP_HOST", raising=False)
    monkeypatch.setenv("WEALTH_OUTBOX_DIR", str(tmp_path / "outbox"))
    outcomes = send(engine, usernames=["alice", "bob"])
    assert outcomes["alice"].status == outcomes["bob"].status == "sent"
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
    [path] = (tmp_path / "outbox").glob("*alice.reports@example.org*.eml")
    assert deliveries(engine)[people.alice.user_id][3] == f"outbox: {path}"
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    text, _html, images = parts(message)
    assert message["To"] == "alice.reports@example.org"
    assert "€15,520.46" in text
    assert len(images) == 3  # net worth, allocation, projection


def test_a_claimed_week_is_not_sent_twice_until_the_claim_expires(
    report_world: tuple[Engine, World], smtp: FakeSmtp
) -> None:
    """Another run holding the week's row (mid-send) is respected; an abandoned claim is not."""
    engine, people = report_world
    rd = report_deliveries
    with engine.begin() as connection:
        connection.execute(
            insert(rd).values(user_id=people.alice.user_id, week="2026-W49",
                              recipient="alice.reports@example.org", status="failed",
                              detail="sending", sent_at=datetime.now(UTC))
        )  # fmt: skip
    busy = send(engine, usernames=["alice"])
    assert busy["alice"].status == "skipped"
    assert "another run is sending" in busy["alice"].detail
    assert smtp.received == []

    with engine.begin() as connection:
        connection.execute(
            update(rd).where(rd.c.user_id == people.alice.user_id)
            .values(sent_at=datetime.now(UTC) - timedelta(minutes=20))
        )  # fmt: skip
    retried = send(engine, usernames=["alice"])
    assert retried["alice"].status == "sent"
    assert len(smtp.received) == 1


def test_an_unreachable_server_fails_every_message_clearly(
    report_world: tuple[Engine, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, people = report_world
    monkeypatch.setenv("WEALTH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("WEALTH_SMTP_PORT", "9")  # discard: nothing listens
    monkeypatch.setenv("WEALTH_SMTP_SECURITY", "none")
    monkeypatch.setenv("WEALTH_SMTP_USER", "mailer")
    monkeypatch.setenv("WEALTH_SMTP_PASSWORD", "smtp-secret-4711")
    outcomes = send(engine)
    for name in ("alice", "bob"):
        assert outcomes[name].status == "failed"
        assert "cannot reach the SMTP server 127.0.0.1:9" in outcomes[name].detail
    rows = deliveries(engine)
    assert {rows[p.user_id][2] for p in (people.alice, people.bob)} == {"failed"}
    assert all("smtp-secret-4711" not in str(row) for row in rows.values())


def test_accounts_not_synced_lately_are_listed(report_world: tuple[Engine, World], smtp: FakeSmtp) -> None:
    engine, people = report_world
    with engine.begin() as connection:
        connection.execute(
            update(profiles).where(profiles.c.user_id == people.alice.user_id)
            .values(auto_sync_enabled=True)
        )  # fmt: skip
    send(engine, usernames=["alice"])
    text, html, _ = parts(smtp.received[0].message)
    for part in (text, html):
        assert "Not synced lately: 2 accounts" in part
        assert "Giro: never synced" in part and "Depot: never synced" in part


def test_warnings_show_days_as_the_rest_of_the_report_does(report_world: tuple[Engine, World]) -> None:
    from wealth_pipeline.report.facts import load_report

    engine, people = report_world
    with engine.connect() as connection:
        report = load_report(connection, people.alice.user_id, today=AS_OF + timedelta(days=10))
    texts = {notice.kind: notice.text for notice in report.warnings}
    assert texts["outdated"].startswith("The newest snapshot is from 27 Nov 2026, 10 days ago")
    assert "not converted (26 Nov 2026): no CHF rate" in texts["unconverted"]
    waiting = next(notice for notice in report.warnings if notice.kind == "pending_auth")
    assert waiting.subject == "Sparkonto"
    assert waiting.text == (
        "Waiting for you, not failed: Approve the login in your app. Last data: 26 Nov 2026."
    )
    assert waiting.action is not None and waiting.action.startswith("wealth accounts auth ")


def test_a_stale_account_says_when_it_last_synced_in_berlin_time(
    report_world: tuple[Engine, World],
) -> None:
    from wealth_pipeline.report.facts import load_report

    engine, people = report_world
    with engine.begin() as connection:
        connection.execute(
            update(profiles).where(profiles.c.user_id == people.alice.user_id)
            .values(auto_sync_enabled=True)
        )  # fmt: skip
        connection.execute(
            update(financial_accounts)
            .where(financial_accounts.c.id == people.alice.accounts["Giro"])
            .values(last_synced_at=datetime(2026, 11, 28, 10, 5, tzinfo=UTC))
        )
    with engine.connect() as connection:
        report = load_report(
            connection,
            people.alice.user_id,
            today=MONDAY,
            now=datetime(2026, 11, 30, 18, 0, tzinfo=UTC),
        )
    [stale] = [notice for notice in report.warnings if notice.kind == "stale"]
    assert stale.items == (
        "Giro: last synced 28 Nov 2026 11:05, last data 27 Nov 2026",  # 10:05 UTC: 11:05 Berlin
        "Depot: never synced, last data 24 Nov 2026",
    )
    assert (
        stale.text
        == "Not synced within their sync frequency (every 24 h): is the daily_sync schedule running?"
    )
