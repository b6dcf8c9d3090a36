"""The dashboard in Debian's headless Chromium against a real `wealth api` process.

Signed in with a link from `wealth dashboard link` (a real subprocess), each page must show
the API's own figures, formatted as the report formats them; the network log must hold no
password and nothing but same-origin requests; the pages must fit a 390 px phone. Screenshots
of each page land in test-artifacts/dashboard/.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest

from tests.support.api import PASSWORD, SECRET_KEY, build, populate
from tests.support.browser import BIN, artifacts, wealth_api
from wealth_pipeline.projection.goals import add_goal, update_settings
from wealth_pipeline.report.formatting import money
from wealth_pipeline.security.kdf import KdfParams, derive_auth_hash
from wealth_pipeline.warehouse.engine import dispose_engines, get_engine

CHEAP = KdfParams(time_cost=1, memory_kib=64, parallelism=1)


@dataclass
class Server:
    url: str
    env: dict[str, str]
    ids: object
    api_token: str = ""
    cache: dict[str, dict] = field(default_factory=dict)

    def link(self) -> str:
        made = subprocess.run(
            [str(BIN / "wealth"), "dashboard", "link", "--user", "alice", "--password-env", "PW",
             "--base-url", self.url],
            env={**self.env, "PW": PASSWORD},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        assert PASSWORD not in made.stdout + made.stderr
        return made.stdout.strip()

    def get(self, path: str) -> dict:
        """What the API itself answers (a client that logs in with the auth hash)."""
        if path not in self.cache:
            request = urllib.request.Request(
                self.url + path, headers={"Authorization": f"Bearer {self.api_token}"}
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                self.cache[path] = json.load(answer)
        return self.cache[path]


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("dashboard-home")
    url = f"sqlite:///{home / 'warehouse.sqlite'}"
    engine = get_engine(url)
    ids = populate(engine, CHEAP)
    build(engine)
    with engine.begin() as connection:  # a goal and a spending figure for the projection page
        add_goal(connection, ids.alice, "House", "10000", date(2030, 6, 30), today=date.today())
        update_settings(
            connection, ids.alice, date.today(), yearly_spending="30000", birth_year=1985
        )
    dispose_engines()
    with wealth_api(home, WEALTH_DATABASE_URL=url, WEALTH_API_SECRET_KEY=SECRET_KEY) as (
        base,
        env,
    ):
        with urllib.request.urlopen(f"{base}/api/auth/salt/?username=alice", timeout=30) as a:
            salts = json.load(a)
        auth_hash = derive_auth_hash(
            PASSWORD, bytes.fromhex(salts["auth_salt"]), KdfParams.from_json(salts["kdf_params"])
        )
        login = _post(
            f"{base}/api/auth/login/",
            {"username": "alice", "auth_hash": base64.b64encode(auth_hash).decode()},
        )
        yield Server(base, env, ids, api_token=login["access"])


@dataclass
class Watched:
    page: object
    requests: list = field(default_factory=list)
    console: list = field(default_factory=list)
    responses: dict = field(default_factory=dict)


def _open(browser, server: Server, width: int = 1200) -> Watched:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    watched = Watched(page)
    page.on("request", lambda request: watched.requests.append(request))
    page.on("console", lambda message: watched.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: watched.console.append(f"pageerror: {error}"))
    page.on("response", lambda response: watched.responses.setdefault(response.url, response))
    return watched


def _go(page, url: str) -> None:  # type: ignore[no-untyped-def]
    if page.url == url:
        return
    page.evaluate("() => { const m = document.getElementById('main'); if (m) m.dataset.ready = ''; }")
    page.goto(url)
    page.wait_for_selector("main[data-ready='true']", timeout=20_000)


def _sign_in(watched: Watched, server: Server) -> None:
    watched.page.goto(server.link())
    watched.page.wait_for_selector("main[data-ready='true']", timeout=20_000)
    watched.page.wait_for_selector("[data-figure='net-worth']")


def _shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(artifacts("dashboard") / f"{name}.png"), full_page=True)


def _shown(value: str | None, currency: str) -> str:
    return "—" if value is None else money(Decimal(value), currency)


def test_each_page_shows_the_apis_figures_as_the_report_formats_them(browser, server: Server) -> None:  # type: ignore[no-untyped-def]
    watched = _open(browser, server)
    page = watched.page
    _sign_in(watched, server)
    assert page.url.endswith("/#/overview")  # the code is gone from the address bar
    summary = server.get("/api/wealth/summary/")
    base = summary["base_currency"]
    net_worth = page.locator("[data-figure='net-worth'] .value").inner_text()
    assert net_worth == _shown(summary["total_wealth"], base) == "€4,189.47"
    page.wait_for_selector("#net-worth-chart canvas")
    # The tooltip (uPlot's legend under the cursor) shows a point's exact amount.
    history = server.get("/api/wealth/history/?days=366")["history"]
    box = page.locator("#net-worth-chart .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    legend = page.locator("#net-worth-chart .u-legend .u-series:nth-child(2) .u-value")
    assert legend.inner_text() == _shown(history[-1]["total_wealth"], base)
    _shoot(page, "overview")

    _go(page, f"{server.url}/#/accounts")
    for row in summary["accounts"]:
        cell = page.locator(f"tr[data-account='{row['account_id']}'] td[data-col='base']")
        assert cell.inner_text() == _shown(row["balance_base_currency"], base)
    _shoot(page, "accounts")

    _go(page, f"{server.url}/#/accounts/{server.ids.brokerage}")
    page.wait_for_selector("#account-chart canvas")
    assert "$2,500.00" in page.locator("main").inner_text()
    _shoot(page, "account")

    _go(page, f"{server.url}/#/allocation")
    for by in ("asset_class", "currency", "broker", "account_type"):
        answer = server.get(f"/api/wealth/breakdown/?by={by}")
        text = page.locator(f"[data-breakdown='{by}']").inner_text()
        for item in answer["breakdown"]:
            assert _shown(item["amount"], base) in text
    _shoot(page, "allocation")

    _go(page, f"{server.url}/#/holdings")
    text = page.locator("main").inner_text()
    for holding in server.get("/api/wealth/holdings/")["holdings"]:
        assert _shown(holding["value_base_currency"], base) in text
    _shoot(page, "holdings")

    _go(page, f"{server.url}/#/returns/max")
    performance = server.get("/api/wealth/performance/?period=max")
    total = performance["total"]
    assert total is not None
    change = page.locator("[data-figure='change'] .value").inner_text()
    assert change.lstrip("+") == _shown(total["change"], base)
    _shoot(page, "returns")

    _go(page, f"{server.url}/#/projection")
    page.wait_for_selector("#projection-chart canvas")
    projection = server.get("/api/wealth/projection/")
    goal = projection["goals"][0]
    assert page.locator(f"li[data-goal='{goal['goal_id']}']").inner_text().startswith(goal["summary"])
    assert goal["summary"].startswith("House: ")
    assert "When could you stop working?" in page.locator("main").inner_text()
    _shoot(page, "projection")
    assert not [line for line in watched.console if "error" in line.lower()], watched.console


def test_no_password_leaves_the_machine_and_nothing_leaves_the_origin(browser, server: Server) -> None:  # type: ignore[no-untyped-def]
    watched = _open(browser, server)
    _sign_in(watched, server)
    for target in ("accounts", "allocation", "holdings", "overview"):
        _go(watched.page, f"{server.url}/#/{target}")
    assert watched.requests
    for request in watched.requests:
        assert request.url.startswith(server.url + "/"), request.url
        sent = request.url + json.dumps(request.headers) + (request.post_data or "")
        assert PASSWORD not in sent
        assert "auth_hash" not in sent and "/api/auth/" not in request.url
    # The first page answer carries the policy, and the browser reported no violation.
    first = watched.responses[watched.requests[0].url]
    assert "default-src 'self'" in first.headers["content-security-policy"]
    assert not [line for line in watched.console if "Content Security Policy" in line]


def test_the_session_survives_a_reload_and_ends_at_sign_out(browser, server: Server) -> None:  # type: ignore[no-untyped-def]
    watched = _open(browser, server)
    page = watched.page
    link = server.link()
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


def test_pages_fit_a_phone(browser, server: Server) -> None:  # type: ignore[no-untyped-def]
    watched = _open(browser, server, width=390)
    page = watched.page
    _sign_in(watched, server)
    for target in ("overview", "accounts", "allocation", "holdings"):
        _go(page, f"{server.url}/#/{target}")
        if target == "overview":
            page.wait_for_selector("#net-worth-chart canvas")
            figure = page.locator("[data-figure='net-worth'] .value")
            assert figure.inner_text() == "€4,189.47" and figure.is_visible()
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= 390, f"{target} is {overflow} px wide"
        _shoot(page, f"phone-{target}")
