"""The dashboard's sign-in by one-time link, its session cookie, and the two endpoints it
adds (changes over periods, one account's history), on both databases, over the fixed
warehouse of tests/support/api.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from tests.support.api import Api
from wealth_pipeline.api.routes.changes import change_body, period_start
from wealth_pipeline.security.signin_links import create_link_code, redeem_link_code
from wealth_pipeline.warehouse.schema import signin_links, users


def _link(api: Api, user_id: int | None = None, **kwargs) -> str:
    user_id = user_id or api.ids.alice
    with api.engine.begin() as connection:
        version = connection.execute(
            select(users.c.credentials_version).where(users.c.id == user_id)
        ).scalar_one()
        return create_link_code(connection, user_id, version, **kwargs)


def _sign_in(api: Api, code: str):
    return api.client.post("/api/session/", json={"code": code})


def test_a_link_signs_in_once_with_an_httponly_strict_cookie(api: Api) -> None:
    code = _link(api)
    answer = _sign_in(api, code)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["user"] == {"id": api.ids.alice, "username": "alice", "base_currency": "EUR"}
    assert "refresh" not in body  # the refresh token is only in the cookie
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("wealth_session=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/api/session/"):
        assert attribute.lower() in cookie.lower()
    summary = api.client.get(
        "/api/wealth/summary/", headers={"Authorization": f"Bearer {body['access']}"}
    )
    assert summary.status_code == 200 and summary.json()["total_wealth"] == "4189.4737"
    # The same code again: refused, and nothing else changed.
    api.client.cookies.clear()
    again = _sign_in(api, code)
    assert again.status_code == 401
    assert "wealth dashboard link" in again.json()["detail"]


def test_only_a_hash_of_the_code_is_stored(api: Api) -> None:
    code = _link(api)
    with api.engine.connect() as connection:
        stored = connection.execute(select(signin_links.c.code_hash)).scalars().all()
    assert code not in stored and len(stored) == 1 and len(stored[0]) == 64


def test_an_expired_link_or_a_changed_password_refuses(api: Api) -> None:
    expired = _link(api)
    with api.engine.begin() as connection:
        connection.execute(
            update(signin_links).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert _sign_in(api, expired).status_code == 401
    stale = _link(api)
    with api.engine.begin() as connection:  # what a password change does
        connection.execute(
            update(users)
            .where(users.c.id == api.ids.alice)
            .values(credentials_version=users.c.credentials_version + 1)
        )
    assert _sign_in(api, stale).status_code == 401


def test_two_redemptions_of_one_code_yield_one_session(api: Api) -> None:
    code = _link(api)
    with api.engine.begin() as connection:
        first = redeem_link_code(connection, code)
    with api.engine.begin() as connection:
        second = redeem_link_code(connection, code)
    assert first is not None and first.user_id == api.ids.alice
    assert second is None


def test_link_lifetime_is_bounded(api: Api) -> None:
    with pytest.raises(ValueError, match="between"):
        _link(api, lifetime=timedelta(days=2))


def test_refresh_rotates_the_cookie_and_a_replayed_one_ends_the_session(api: Api) -> None:
    assert _sign_in(api, _link(api)).status_code == 200
    first_cookie = api.client.cookies.get("wealth_session")
    refreshed = api.client.post("/api/session/refresh/")
    assert refreshed.status_code == 200 and refreshed.json()["access"]
    assert api.client.cookies.get("wealth_session") != first_cookie
    # Someone replays the first cookie: the family is revoked, the current one ends too.
    api.client.cookies.clear()
    api.client.cookies.set("wealth_session", first_cookie, path="/api/session/")
    assert api.client.post("/api/session/refresh/").status_code == 401
    assert api.client.post("/api/session/refresh/").status_code == 401


def test_logout_revokes_the_session(api: Api) -> None:
    assert _sign_in(api, _link(api)).status_code == 200
    cookie = api.client.cookies.get("wealth_session")
    out = api.client.post("/api/session/logout/")
    assert out.status_code == 204
    assert "wealth_session=" in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
    api.client.cookies.set("wealth_session", cookie, path="/api/session/")
    assert api.client.post("/api/session/refresh/").status_code == 401


def test_no_cookie_is_not_signed_in_and_another_origin_is_refused(api: Api) -> None:
    assert api.client.post("/api/session/refresh/").status_code == 401
    code = _link(api)
    foreign = api.client.post(
        "/api/session/", json={"code": code}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    # Refused before the code was used: it still works from the page's own origin.
    same = api.client.post(
        "/api/session/", json={"code": code}, headers={"Origin": "http://testserver"}
    )
    assert same.status_code == 200


def test_failed_codes_meet_the_login_limits(api: Api) -> None:
    answers = [_sign_in(api, f"guess-{n}").status_code for n in range(40)]
    assert set(answers[:10]) == {401}
    assert answers[-1] == 429
    # Even a valid code waits now: the address is throttled.
    assert _sign_in(api, _link(api)).status_code == 429


def test_the_dashboard_page_carries_a_strict_content_security_policy(api: Api) -> None:
    for path in ("/", "/signin"):
        page = api.client.get(path)
        assert page.status_code == 200 and "<main" in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "<script>" not in page.text  # no inline script
    assert api.client.get("/static/app.js").status_code == 200
    assert api.client.get("/static/vendor/uplot/LICENSE").status_code == 200
    assert api.client.get("/static/../api/app.py").status_code == 404


# --- the changes and one account's history --------------------------------------------------


def test_changes_are_exact_and_say_when_not_like_for_like(api: Api) -> None:
    answer = api.get("/api/wealth/changes/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["as_of"] == "2025-01-03" and body["base_currency"] == "EUR"
    by_period = {change["period"]: change for change in body["changes"]}
    # The history starts on 2025-01-01: no day a week or a month back.
    assert by_period["week"]["change"] is None and by_period["week"]["note"]
    assert by_period["week"]["end_value"] == "4189.4737"  # the day's net worth
    # Year to date from 2024-12-31: before the history too.
    assert by_period["year_to_date"]["since"] == "2024-12-31"

    # 17 days later the Giro gains 100 EUR and the brokerage's USD balance finds no rate (the
    # lookup reaches back 14 days): the total falls by the brokerage's 2000 EUR, but that is
    # a drop in coverage, not a loss. The week's change counts the accounts counted on both
    # days and says which one it leaves out.
    from wealth_pipeline.marts import build_marts
    from wealth_pipeline.snapshots.store import NewSnapshot, write_snapshots

    later = date(2025, 1, 20)
    with api.engine.begin() as connection:
        write_snapshots(connection, api.ids.giro, [NewSnapshot(later, Decimal("1300.00"), "EUR")],
                        source="manual")  # fmt: skip
        write_snapshots(connection, api.ids.brokerage,
                        [NewSnapshot(later, Decimal("2600.00"), "USD")], source="manual")  # fmt: skip
    build_marts(api.engine, as_of=later, full=True)
    body = api.get("/api/wealth/changes/").json()
    assert body["as_of"] == "2025-01-20"
    week = {change["period"]: change for change in body["changes"]}["week"]
    assert week == {
        "period": "week",
        "since": "2025-01-13",
        "start_value": "2189.4737",  # Giro 1200 + Savings 940 CHF at 0.95: both days counted
        "end_value": "2289.4737",
        "change": "100.0000",  # not the raw -1900: the brokerage is left out, not lost
        "percentage": "4.57",
        "like_for_like": False,
        "note": "1 account has no rate since 2 Jan: this week's change leaves it out",
    }
    summary = api.get("/api/wealth/summary/").json()  # the summary's week says the same
    assert summary["week_change"]["amount"] == "100.0000"
    assert summary["week_change"]["note"] == week["note"]


def test_change_body_arithmetic_and_coverage() -> None:
    from wealth_pipeline.marts.coverage import CoverageChange

    end = date(2025, 1, 10)
    since = period_start("week", end)

    def coverage(start: str, finish: str, **left_out) -> CoverageChange:
        fields = {"no_rate": (), "gone": (), "added": (), "no_rate_since": None, **left_out}
        return CoverageChange(since, end, Decimal(start), Decimal(finish), counted_on_start=3,
                              **fields)  # fmt: skip

    like = change_body("week", since, coverage("1000.0000", "1100.5000"), Decimal("1100.5000"))
    assert like["change"] == "100.5000" and like["percentage"] == "10.05"
    assert like["like_for_like"] is True and like["note"] is None
    # Two of three accounts lost their rate: the change is the third one's, not -99 %.
    dropped = change_body(
        "week", since,
        coverage("10.0000", "10.2500", no_rate=(2, 3), no_rate_since=date(2025, 1, 3)),
        Decimal("10.2500"),
    )  # fmt: skip
    assert dropped["change"] == "0.2500" and dropped["percentage"] == "2.50"
    assert dropped["like_for_like"] is False
    assert dropped["note"] == (
        "2 accounts have no rate since 3 Jan: this week's change leaves them out"
    )
    added = change_body("month", since, coverage("10.0000", "10.0000", added=(4,)), None)
    assert added["note"] == (
        "1 account was not counted on 3 Jan: this month's change leaves it out"
    )
    nothing = change_body("week", since, None, Decimal("5.0000"))
    assert nothing["change"] is None and nothing["end_value"] == "5.0000"
    assert period_start("month", datetime(2025, 3, 31).date()).isoformat() == "2025-02-28"
    assert period_start("year_to_date", datetime(2025, 3, 31).date()).isoformat() == "2024-12-31"


def test_an_accounts_history_in_both_currencies_and_404_across_users(api: Api) -> None:
    answer = api.get(f"/api/accounts/{api.ids.brokerage}/history/?days=10")
    assert answer.status_code == 200
    body = answer.json()
    assert body["currency"] == "USD" and body["base_currency"] == "EUR"
    assert body["history"][0] == {
        "date": "2025-01-02",
        "balance": "2500.0000",
        "balance_base_currency": "2000.0000",
    }
    assert body["end_date"] == "2025-01-03"
    assert api.get(f"/api/accounts/{api.ids.bob_cash}/history/").status_code == 404
    assert api.get("/api/accounts/0/history/").status_code == 422
