"""The API under attack: oversized and mistyped requests, login floods and throttling,
racing refreshes, tokens older than their user, and the key file made by racing workers."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections import Counter

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.support.api import (
    PASSWORD,
    Api,
    auth_hash,
    bearer,
)
from wealth_pipeline.api.login_guard import LoginGuard, LoginsBusy
from wealth_pipeline.warehouse.schema import refresh_tokens

LOGIN = "/api/auth/login/"
WRONG_HASH = base64.b64encode(bytes(32)).decode()


# --- request bodies and validation errors ----------------------------------------------------


def test_an_oversized_body_is_refused_before_parsing(api: Api) -> None:
    body = b'{"username": "alice", "auth_hash": "' + b"A" * 100_000 + b'"}'
    answer = api.client.post(LOGIN, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert "AAAA" not in answer.text

    def chunks():
        yield b'{"refresh": "'
        for _ in range(40):
            yield b"x" * 1000
        yield b'"}'

    streamed = api.client.post(
        "/api/auth/refresh/", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


def test_validation_errors_name_the_field_but_never_echo_the_input(api: Api) -> None:
    token = "secret-looking." * 300  # over the 4096 characters a refresh token may have
    answer = api.client.post("/api/auth/refresh/", json={"refresh": token})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "refresh"]
    assert "secret-looking" not in answer.text
    typed = api.client.post(LOGIN, json={"username": "alice", "auth_hash": 12345678})
    assert typed.status_code == 422 and "12345678" not in typed.text
    odd = api.client.get("/api/wealth/breakdown/?by=" + "zz" * 500, headers=api.headers())
    assert odd.status_code == 422 and "zzzz" not in odd.text


# --- login throttling ---------------------------------------------------------------------


def test_failed_logins_are_throttled_the_same_for_known_and_unknown_names(api: Api) -> None:
    for username in ("alice", "mallory"):
        for _ in range(10):
            wrong = api.client.post(LOGIN, json={"username": username, "auth_hash": WRONG_HASH})
            assert wrong.status_code == 401
        limited = api.client.post(LOGIN, json={"username": username, "auth_hash": WRONG_HASH})
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 15 * 60
        assert limited.json() == {"detail": "too many failed logins: try again later"}
    # Even the right hash waits: the limit comes before any Argon2 work.
    right = auth_hash(api.client, "alice", PASSWORD)
    assert api.client.post(LOGIN, json={"username": "alice", "auth_hash": right}).status_code == 429
    # Alice from elsewhere is not locked out by one address's failures.
    with TestClient(api.client.app, client=("10.9.9.9", 50000)) as elsewhere:
        assert elsewhere.post(LOGIN, json={"username": "alice", "auth_hash": right}).is_success
    # Another user from the same address is not locked out by alice's failures.
    assert api.login("bob", "bobs own password 42")["user"]["username"] == "bob"


def test_the_guard_forgets_failures_after_the_window() -> None:
    now = [1000.0]
    guard = LoginGuard(
        window_seconds=60,
        per_username_and_address=3,
        per_address=5,
        per_username=6,
        clock=lambda: now[0],
    )
    for _ in range(3):
        guard.failed("alice", "10.0.0.1")
    assert guard.retry_after("alice", "10.0.0.1") == 60
    assert guard.retry_after("alice", "10.0.0.2") is None  # one address cannot lock her out
    assert guard.retry_after("bob", "10.0.0.1") is None
    guard.failed("bob", "10.0.0.1")
    guard.failed("carol", "10.0.0.1")
    assert guard.retry_after("dave", "10.0.0.1") == 60  # the address, for any username
    now[0] += 30
    for address in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):
        guard.failed("alice", address)
    assert guard.retry_after("alice", "10.0.0.9") == 30  # many addresses guessing alice
    now[0] += 30
    assert guard.retry_after("alice", "10.0.0.1") is None
    assert guard.retry_after("dave", "10.0.0.1") is None
    assert guard.retry_after("alice", "10.0.0.9") is None  # three of six left the window
    guard.failed("erin", "10.0.0.5")
    guard.succeeded("erin", "10.0.0.5")
    assert guard._failures[("user", "erin")]  # her name's count stays: others may guess it
    assert ("user+address", "erin\n10.0.0.5") not in guard._failures


def test_the_guard_tracks_a_bounded_number_of_names() -> None:
    guard = LoginGuard(per_username_and_address=1, tracked_keys=100)
    for number in range(1000):
        guard.failed(f"user{number}", "10.0.0.1")
    assert len(guard._failures) == 100
    assert guard.retry_after("user999", "10.0.0.1") is not None


def test_logins_beyond_the_admitted_answer_busy() -> None:
    guard = LoginGuard(slots=1, admitted=2)
    with guard.turn():
        entered = threading.Event()

        def second() -> None:
            with guard.turn():
                entered.set()

        waiting = threading.Thread(target=second)
        waiting.start()
        time.sleep(0.1)
        assert not entered.is_set()  # admitted, waiting for the one slot
        with pytest.raises(LoginsBusy), guard.turn():
            pass
    waiting.join(5)
    assert entered.is_set()


def test_a_login_flood_does_not_stall_the_read_endpoints(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 logins at once while verification hangs: most answer 503 at once, and a read
    request still gets a thread and answers."""
    from wealth_pipeline.api.routes import auth

    headers = api.headers()
    release = threading.Event()

    def hanging(*_args, **_kwargs):
        release.wait(20)
        return None

    monkeypatch.setattr(auth, "verify_login", hanging)
    body = {"username": "alice", "auth_hash": WRONG_HASH}

    async def flood() -> tuple[httpx.Response | None, list[httpx.Response]]:
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            logins = [asyncio.create_task(client.post(LOGIN, json=body)) for _ in range(50)]
            await asyncio.sleep(0.5)
            try:
                profile = await asyncio.wait_for(client.get("/api/profile/", headers=headers), 10)
            except TimeoutError:
                profile = None
            finally:
                release.set()
            return profile, list(await asyncio.gather(*logins))

    profile, answers = asyncio.run(flood())
    assert profile is not None and profile.status_code == 200
    codes = Counter(answer.status_code for answer in answers)
    assert set(codes) == {401, 503}
    assert codes[401] == 8  # the admitted ones, verified two at a time
    assert all(
        answer.headers["retry-after"] == "1" for answer in answers if answer.status_code == 503
    )


# --- refresh tokens racing ------------------------------------------------------------------


def test_two_refreshes_racing_with_one_token_do_not_both_succeed(api: Api) -> None:
    """Both databases: exactly one use wins; the loser counts as reuse and revokes the
    family, so the winner's new refresh token is refused too."""
    tokens = api.login()
    start = threading.Barrier(4)
    answers: list[httpx.Response] = []

    def use() -> None:
        start.wait(5)
        answers.append(api.client.post("/api/auth/refresh/", json={"refresh": tokens["refresh"]}))

    racers = [threading.Thread(target=use) for _ in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(30)
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200, 401, 401, 401], [answer.text for answer in answers]
    winner = next(answer.json() for answer in answers if answer.status_code == 200)
    again = api.client.post("/api/auth/refresh/", json={"refresh": winner["refresh"]})
    assert again.status_code == 401
    with api.engine.connect() as connection:
        rows = connection.execute(select(refresh_tokens.c.used_at, refresh_tokens.c.revoked_at))
        rows = rows.all()
    assert len(rows) == 2 and all(row.revoked_at is not None for row in rows)
    assert sum(row.used_at is not None for row in rows) == 1


# --- salts --------------------------------------------------------------------------------


def test_fake_salts_look_like_a_new_users(api: Api) -> None:
    """A user made with the default (configured) parameters and an unknown name answer
    the same shape, lengths and parameters, byte for byte in the JSON text."""
    from wealth_pipeline.security.vault import create_user

    with api.engine.begin() as connection:
        create_user(connection, "newcomer", "a password of theirs")
    real = api.client.get("/api/auth/salt/", params={"username": "newcomer"})
    fake = api.client.get("/api/auth/salt/", params={"username": "stranger"})

    def shape(text: str) -> str:
        body = real.json() if text == real.text else fake.json()
        return text.replace(body["auth_salt"], "A" * 32).replace(body["kek_salt"], "K" * 32)

    assert shape(real.text) == shape(fake.text)
    assert real.headers["content-length"] == fake.headers["content-length"]


# --- a token older than its user ------------------------------------------------------------


def test_a_token_issued_before_its_user_existed_is_refused(api: Api) -> None:
    """A deleted user's id can come back (SQLite reuses the highest rowid); a token
    issued before the current user with that id was created is not theirs."""
    import jwt

    from tests.support.api import SECRET_KEY

    now = int(time.time())
    claims = {
        "iss": "wealth-pipeline",
        "aud": "wealth-pipeline-api",
        "sub": str(api.ids.bob),
        "typ": "access",
        "ver": 1,
        "iat": now - 120,
        "nbf": now - 120,
        "exp": now + 300,
    }
    typed = {"typ": "at+jwt"}
    old = jwt.encode(claims, SECRET_KEY, algorithm="HS256", headers=typed)
    answer = api.client.get("/api/profile/", headers=bearer(old))
    assert answer.status_code == 401
    fresh = jwt.encode({**claims, "iat": now, "nbf": now}, SECRET_KEY, "HS256", headers=typed)
    assert api.client.get("/api/profile/", headers=bearer(fresh)).status_code == 200


# --- the generated key file -----------------------------------------------------------------


def test_workers_racing_to_make_the_key_file_agree_on_one_key(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second worker arrives while the first is still writing: it must not read a
    half-written (empty) file, and both end with the same key."""
    import os

    from wealth_pipeline.api import tokens

    path = tmp_path / "keys" / "api_secret.key"
    real_fdopen = os.fdopen
    arrived: list[bytes | Exception] = []

    def fdopen(*args, **kwargs):
        if not arrived:
            arrived.append(b"")  # only the first writer is interrupted
            try:
                arrived[0] = tokens._key_file(path)
            except Exception as exc:  # recorded for the assertion
                arrived[0] = exc
        return real_fdopen(*args, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen)
    first = tokens._key_file(path)
    assert arrived == [first]
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert [entry.name for entry in path.parent.iterdir()] == ["api_secret.key"]


# --- the warehouse away, and what a login costs ------------------------------------------------


def test_an_unreachable_warehouse_answers_503_not_500(api: Api, tmp_path) -> None:
    from sqlalchemy.engine import make_url

    from wealth_pipeline.warehouse.engine import create_warehouse_engine

    url = make_url(api.url)
    if url.get_backend_name() == "sqlite":
        broken = url.set(database=str(tmp_path))  # a folder: SQLite cannot open it
    else:
        broken = url.set(host="127.0.0.1", port=9)  # nothing listens there
    right = {"username": "alice", "auth_hash": auth_hash(api.client, "alice", PASSWORD)}
    headers = api.headers()
    app = api.client.app
    app.state.writer = create_warehouse_engine(broken.render_as_string(hide_password=False))
    login = api.client.post(LOGIN, json=right)
    assert login.status_code == 503, login.text
    assert login.json() == {"detail": "the warehouse is unavailable right now: try again shortly"}
    assert login.headers["retry-after"] == "5"
    app.state.reader = create_warehouse_engine(broken.render_as_string(hide_password=False))
    profile = api.client.get("/api/profile/", headers=headers)
    assert profile.status_code == 503
    assert profile.json() == login.json()


def test_unknown_disabled_and_wrong_logins_all_do_the_argon2_work(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Argon2id verification per login whatever the name, so timing does not tell
    who exists (the decoy costs what the configured parameters cost)."""
    from argon2 import PasswordHasher
    from sqlalchemy import update

    from wealth_pipeline.warehouse.schema import users

    with api.engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == api.ids.bob).values(is_active=False))
    calls: list[str] = []
    real_verify = PasswordHasher.verify

    def counted(self, stored, password):
        calls.append(stored.split("$")[3])  # the parameters the work was done with
        return real_verify(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    for username in ("alice", "nobody", "bob", "not a valid name!"):
        calls.clear()
        answer = api.client.post(LOGIN, json={"username": username, "auth_hash": WRONG_HASH})
        assert answer.status_code == 401
        assert calls == ["m=1024,t=1,p=1"], username


def test_tokens_and_wealth_are_never_cached(api: Api) -> None:
    login = api.client.post(
        LOGIN, json={"username": "alice", "auth_hash": auth_hash(api.client, "alice", PASSWORD)}
    )
    headers = bearer(login.json()["access"])
    refreshed = api.client.post("/api/auth/refresh/", json={"refresh": login.json()["refresh"]})
    summary = api.client.get("/api/wealth/summary/", headers=headers)
    history = api.client.get("/api/wealth/history/", headers=headers)
    for answer in (login, refreshed, summary, history):
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_history_window_reaching_before_year_one_starts_there(api: Api) -> None:
    """Marts that end in the year 50 (a snapshot typed with a wrong century) and the
    longest window: the window starts on 0001-01-01 instead of failing."""
    from datetime import date
    from decimal import Decimal

    from sqlalchemy import delete, insert

    from wealth_pipeline.warehouse.schema import mart_net_worth_daily, mart_net_worth_monthly

    day = date(50, 1, 1)
    with api.engine.begin() as connection:
        for table in (mart_net_worth_daily, mart_net_worth_monthly):
            connection.execute(delete(table).where(table.c.user_id == api.ids.bob))
        connection.execute(
            insert(mart_net_worth_daily).values(
                user_id=api.ids.bob,
                day=day,
                base_currency="CHF",
                total_wealth=Decimal("12.5"),
                account_count=1,
            )
        )
        amount = Decimal("12.5")
        connection.execute(
            insert(mart_net_worth_monthly).values(
                user_id=api.ids.bob,
                month=day,
                base_currency="CHF",
                last_day=day,
                last_value=amount,
                min_value=amount,
                max_value=amount,
                sum_value=amount,
                day_count=1,
            )
        )
    for granularity in ("daily", "monthly"):
        answer = api.get(f"/api/wealth/history/?days=36600&granularity={granularity}", "bob")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["start_date"], body["end_date"]) == ("0001-01-01", "0050-01-01")
        assert body["history"] == [{"date": "0050-01-01", "total_wealth": "12.5000"}]
