"""The report's HTML part as a person sees it: rendered by headless Chromium, from the message
the SMTP server received (charts resolved from their Content-IDs, as a mail client does).

The screenshot is kept as a test artifact: test-artifacts/report/weekly-report.png.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.browser import artifacts
from tests.support.fakes.smtp import FakeSmtp
from tests.support.report import AS_OF, MONDAY, make_world, parts
from wealth_pipeline import formatting as fmt
from wealth_pipeline.mail import Mailer
from wealth_pipeline.report.delivery import send_reports
from wealth_pipeline.settings import load_settings
from wealth_pipeline.warehouse.engine import get_engine
from wealth_pipeline.warehouse.schema import (
    financial_accounts,
    mart_account_daily,
    mart_net_worth_daily,
)


def test_the_html_part_renders_the_total_and_every_account(
    sqlite_url: str, smtp: FakeSmtp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, browser
) -> None:
    monkeypatch.setenv("WEALTH_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("WEALTH_HOME", str(tmp_path / "home"))
    engine = get_engine(sqlite_url)
    people = make_world(engine)
    send_reports(engine, Mailer(load_settings()), usernames=["alice"], today=MONDAY)
    [received] = smtp.received
    _, html, images = parts(received.message)
    # What a mail client does with cid: URLs, so the browser shows the charts.
    for cid, png in images.items():
        html = html.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(png).decode())

    with engine.connect() as connection:
        total = connection.execute(
            select(mart_net_worth_daily.c.total_wealth).where(
                mart_net_worth_daily.c.user_id == people.alice.user_id,
                mart_net_worth_daily.c.day == AS_OF,
            )
        ).scalar_one()
        names = connection.execute(
            select(financial_accounts.c.name)
            .join(mart_account_daily, mart_account_daily.c.account_id == financial_accounts.c.id)
            .where(mart_account_daily.c.user_id == people.alice.user_id,
                   mart_account_daily.c.day == AS_OF)
        ).scalars().all()  # fmt: skip
    assert sorted(names) == ["Depot", "Giro", "Sparkonto"]

    page = browser.new_page(viewport={"width": 720, "height": 1000})
    page.set_content(html, wait_until="load")
    shown = page.inner_text("body")
    assert fmt.money(total, "EUR") in shown
    for name in names:
        assert name in shown
    assert "Needs your attention" in shown
    images_shown = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])"
    )
    assert len(images_shown) == 3  # net worth, allocation, projection
    assert all(complete and width > 0 for complete, width in images_shown)
    screenshot = artifacts("report") / "weekly-report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()  # and its context
    assert screenshot.read_bytes().startswith(b"\x89PNG")
