"""The dashboard in Debian's headless Chromium against a real `wealth api` process.

Signed in with a link from `wealth dashboard link` (a real subprocess), each page must show
the API's own figures, formatted as the report formats them; the network log must hold no
password and nothing but same-origin requests; the pages must fit a 390 px phone. Screenshots
of each page land in test-artifacts/dashboard/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

from tests.support.api import PASSWORD
from tests.support.browser import Server, artifacts
from wealth_pipeline.formatting import money


@dataclass
class Watched:
    page: object
    requests: list = field(default_factory=list)
    console: list = field(default_factory=list)
    responses: dict = field(default_factory=dict)


def _open(browser, api_server: Server, width: int = 1200) -> Watched:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    watched = Watched(page)
    page.on("request", lambda request: watched.requests.append(request))
    page.on("console", lambda message: watched.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: watched.console.append(f"pageerror: {error}"))
    page.on("response", lambda response: watched.responses.setdefault(response.url, response))
    return watched


def _go(page, url: str) -> None:
    if page.url == url:
        return
    page.evaluate("() => { const m = document.getElementById('main'); if (m) m.dataset.ready = ''; }")
    page.goto(url)
    page.wait_for_selector("main[data-ready='true']", timeout=20_000)


def _sign_in(watched: Watched, api_server: Server) -> None:
    watched.page.goto(api_server.link())
    watched.page.wait_for_selector("main[data-ready='true']", timeout=20_000)
    watched.page.wait_for_selector("[data-figure='net-worth']")


def _shoot(page, name: str) -> None:
    page.screenshot(path=str(artifacts("dashboard") / f"{name}.png"), full_page=True)


def _shown(value: str | None, currency: str) -> str:
    return "—" if value is None else money(Decimal(value), currency)


def test_each_page_shows_the_apis_figures_as_the_report_formats_them(browser, api_server: Server) -> None:
    watched = _open(browser, api_server)
    page = watched.page
    _sign_in(watched, api_server)
    assert page.url.endswith("/#/overview")  # the code is gone from the address bar
    summary = api_server.get("/api/wealth/summary/")
    base = summary["base_currency"]
    net_worth = page.locator("[data-figure='net-worth'] .value").inner_text()
    assert net_worth == _shown(summary["total_wealth"], base) == "€4,189.47"
    page.wait_for_selector("#net-worth-chart canvas")
    # The tooltip (uPlot's legend under the cursor) shows a point's exact amount.
    history = api_server.get("/api/wealth/history/?days=366")["history"]
    box = page.locator("#net-worth-chart .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    legend = page.locator("#net-worth-chart .u-legend .u-series:nth-child(2) .u-value")
    assert legend.inner_text() == _shown(history[-1]["total_wealth"], base)
    # Each change card shows the API's like-for-like change and its sentence under it.
    for change in api_server.get("/api/wealth/changes/")["changes"]:
        card = page.locator(f"[data-figure='change-{change['period']}']")
        assert card.locator(".value").inner_text().lstrip("+") == _shown(change["change"], base)
        if change["note"]:
            assert card.locator(".note").inner_text() == change["note"]
    _shoot(page, "overview")

    _go(page, f"{api_server.url}/#/accounts")
    for row in summary["accounts"]:
        cell = page.locator(f"tr[data-account='{row['account_id']}'] td[data-col='base']")
        assert cell.inner_text() == _shown(row["balance_base_currency"], base)
    _shoot(page, "accounts")

    _go(page, f"{api_server.url}/#/accounts/{api_server.ids.brokerage}")
    page.wait_for_selector("#account-chart canvas")
    assert "$2,500.00" in page.locator("main").inner_text()
    _shoot(page, "account")

    _go(page, f"{api_server.url}/#/allocation")
    for by in ("asset_class", "currency", "broker", "account_type"):
        answer = api_server.get(f"/api/wealth/breakdown/?by={by}")
        text = page.locator(f"[data-breakdown='{by}']").inner_text()
        for item in answer["breakdown"]:
            assert _shown(item["amount"], base) in text
    _shoot(page, "allocation")

    _go(page, f"{api_server.url}/#/holdings")
    text = page.locator("main").inner_text()
    for holding in api_server.get("/api/wealth/holdings/")["holdings"]:
        assert _shown(holding["value_base_currency"], base) in text
    _shoot(page, "holdings")

    _go(page, f"{api_server.url}/#/returns/max")
    performance = api_server.get("/api/wealth/performance/?period=max")
    total = performance["total"]
    assert total is not None
    change = page.locator("[data-figure='change'] .value").inner_text()
    assert change.lstrip("+") == _shown(total["change"], base)
    _shoot(page, "returns")

    _go(page, f"{api_server.url}/#/projection")
    page.wait_for_selector("#projection-chart canvas")
    projection = api_server.get("/api/wealth/projection/")
    goal = projection["goals"][0]
    assert page.locator(f"li[data-goal='{goal['goal_id']}']").inner_text().startswith(goal["summary"])
    assert goal["summary"].startswith("House: ")
    assert "When could you stop working?" in page.locator("main").inner_text()
    _shoot(page, "projection")
    assert not [line for line in watched.console if "error" in line.lower()], watched.console


def test_no_password_leaves_the_machine_and_nothing_leaves_the_origin(browser, api_server: Server) -> None:
    watched = _open(browser, api_server)
    _sign_in(watched, api_server)
    for target in ("accounts", "allocation", "holdings", "overview"):
        _go(watched.page, f"{api_server.url}/#/{target}")
    assert watched.requests
    for request in watched.requests:
        assert request.url.startswith(api_server.url + "/"), request.url
        sent = request.url + json.dumps(request.headers) + (request.post_data or "")
        assert PASSWORD not in sent
        assert "auth_hash" not in sent and "/api/auth/" not in request.url
    # The first page answer carries the policy, and the browser reported no violation.
    first = watched.responses[watched.requests[0].url]
    assert "default-src 'self'" in first.headers["content-security-policy"]
    assert not [line for line in watched.console if "Content Security Policy" in line]


def test_the_session_survives_a_reload_and_ends_at_sign_out(browser, api_server: Server) -> None:
    watched = _open(browser, api_server)
    page = watched.page
    link = api_server.link()
    page.goto(link)
    page.wait_for_selector("[data-figure='net-worth']")
    page.reload()
    page.wait_for_selector("[data-figure='net-worth']")  # refreshed from the cookie
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["wealth_session"]["httpOnly"] and cookies["wealth_session"]["sameSite"] == "Strict"
    assert page.evaluate("() => document.cookie") == ""  # scripts cannot read it
    assert page.evaluate("() => Object.keys(localStorage).length + Object.keys(sessionStorage).length") == 0
    # Keyboard: the navigation links are reachable and work with Enter.
    page.locator("#nav a[data-page='holdings']").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("main h1:has-text('Holdings')")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("main h1:has-text('Sign in')")
    page.reload()
    page.wait_for_selector("main h1:has-text('Sign in')")
    # The used link does not sign in again.
    page.goto(link)
    page.wait_for_selector("[role='alert']")
    assert "unknown, used or expired" in page.locator("[role='alert']").inner_text()


def test_pages_fit_a_phone(browser, api_server: Server) -> None:
    watched = _open(browser, api_server, width=390)
    page = watched.page
    _sign_in(watched, api_server)
    for target in ("overview", "accounts", "allocation", "holdings"):
        _go(page, f"{api_server.url}/#/{target}")
        if target == "overview":
            page.wait_for_selector("#net-worth-chart canvas")
            figure = page.locator("[data-figure='net-worth'] .value")
            assert figure.inner_text() == "€4,189.47" and figure.is_visible()
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= 390, f"{target} is {overflow} px wide"
        _shoot(page, f"phone-{target}")
