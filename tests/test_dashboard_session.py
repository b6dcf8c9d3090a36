"""The dashboard's sign-in by one-time link, its session cookie, and the two endpoints it
adds (changes over periods, one account's history), on both databases, over the fixed
warehouse of tests/support/api.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from tests.support.api import Api
from wealth_pipeline.api.routes.changes import change_body, period_start
from wealth_pipeline.security.signin_links import create_link_code, redeem_link_code
from wealth_pipeline.warehouse.schema import signin_links, users


def _link(api: Api, user_id: int | None = None, **kwargs) -> str:  # type: ignore[no-untyped-def]
    user_id = user_id or api.ids.alice
    with api.engine.begin() as connection:
        version = connection.execute(
            select(users.c.credentials_version).where(users.c.id == user_id)
        ).scalar_one()
        return create_link_code(connection, user_id, version, **kwargs)


def _sign_in(api: Api, code: str):  # type: ignore[no-untyped-def]
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
    # Year to date from 2024-12-31: before the history too.
    assert by_period["year_to_date"]["since"] == "2024-12-31"


def test_change_body_arithmetic_and_coverage() -> None:
    class Row:
        def __init__(self, total: str, accounts: int, unconverted: int = 0) -> None:
            from decimal import Decimal

            self.total_wealth = Decimal(total)
            self.account_count = accounts
            self.unconverted_count = unconverted

    since = period_start("week", datetime(2025, 1, 10).date())
    like = change_body("week", since, Row("1000.0000", 2), Row("1100.5000", 2))
    assert like["change"] == "100.5000" and like["percentage"] == "10.05"
    assert like["like_for_like"] is True and like["note"] is None
    dropped = change_body("week", since, Row("1000.0000", 3), Row("10.0000", 3, unconverted=2))
    assert dropped["like_for_like"] is False
    assert "3 account(s) counted on 2025-01-03, 1 now" in dropped["note"]
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
