"""The wealth endpoints' fast path (`api.fast_path`) answers exactly what the routes answer,
on the fixed warehouse of tests/support/api.py (SQLite and PostgreSQL): the same status,
body, ETag and headers for plain requests, 304s, and every refusal, which it leaves to them."""

from __future__ import annotations

import time

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.support.api import BOB_PASSWORD, SECRET_KEY, Api, bearer
from wealth_pipeline.api import create_app
from wealth_pipeline.api.fast_path import WealthFastPath
from wealth_pipeline.api.tokens import AUDIENCE, ISSUER
from wealth_pipeline.warehouse.schema import users

PATHS = (
    "/api/wealth/history/",
    "/api/wealth/history/?days=2",
    "/api/wealth/history/?days=3650&points=2",
    "/api/wealth/history/?days=3650&granularity=monthly",
    "/api/wealth/history/?granularity=monthly&points=1&days=400",
    "/api/wealth/summary/",
    "/api/wealth/breakdown/",
    "/api/wealth/breakdown/?by=currency",
    "/api/wealth/holdings/",
    # not in their plainest form: left to the routes by the fast path, the same answers
    "/api/wealth/history/?days=02",
    "/api/wealth/history/?days=0",
    "/api/wealth/history/?days=36601",
    "/api/wealth/history/?points=",
    "/api/wealth/history/?days=5&days=6",
    "/api/wealth/history/?granularity=weekly",
    "/api/wealth/breakdown/?by=planet",
    "/api/wealth/summary/?unknown=1",
)


@pytest.fixture(name="routes_only")
def routes_only_fixture(api: Api) -> TestClient:
    with TestClient(create_app(fast_path=False), raise_server_exceptions=False) as client:
        yield client


def _same(api: Api, routes_only: TestClient, path: str, headers: dict[str, str]) -> None:
    fast, plain = api.client.get(path, headers=headers), routes_only.get(path, headers=headers)
    assert (fast.status_code, fast.content) == (plain.status_code, plain.content), path
    assert dict(fast.headers) == dict(plain.headers), path


def test_the_fast_path_answers_what_the_routes_answer(
    api: Api, routes_only: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered: list[str] = []  # the paths the fast path answered itself
    original = WealthFastPath._answer

    async def counted(self, scope):
        response = await original(self, scope)
        if response is not None:
            query = scope["query_string"].decode()
            answered.append(scope["path"] + (f"?{query}" if query else ""))
        return response

    monkeypatch.setattr(WealthFastPath, "_answer", counted)
    for username, password in (("alice", None), ("bob", BOB_PASSWORD)):
        headers = api.headers() if password is None else api.headers(username, password)
        for path in PATHS:
            _same(api, routes_only, path, headers)
            tag = api.client.get(path, headers=headers).headers.get("etag")
            if tag:  # a 304 from either for the other's ETag
                conditional = {**headers, "If-None-Match": tag}
                assert routes_only.get(path, headers=conditional).status_code == 304, path
                _same(api, routes_only, path, conditional)
    assert set(PATHS[:9]) <= set(answered)
    assert not set(PATHS[9:]) & set(answered)


def test_refusals_are_the_routes_own(api: Api, routes_only: TestClient) -> None:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(api.ids.alice), "typ": "access", "ver": 1}
    expired = jwt.encode(
        {**claims, "iat": now - 900, "nbf": now - 900, "exp": now - 60},
        SECRET_KEY,
        algorithm="HS256",
        headers={"typ": "at+jwt"},
    )
    headers = api.headers()
    for refused in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": "bearer " + headers["Authorization"].split()[1]},
        bearer(expired),
        bearer(api.login()["refresh"]),
    ):
        for path in ("/api/wealth/history/", "/api/wealth/summary/"):
            _same(api, routes_only, path, refused)
    # a token verified (and remembered) before its user was deactivated is refused at once
    assert api.client.get("/api/wealth/history/", headers=headers).status_code == 200
    with api.engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == api.ids.alice).values(is_active=False))
    answer = api.client.get("/api/wealth/history/", headers=headers)
    assert answer.status_code == 401
    _same(api, routes_only, "/api/wealth/history/", headers)
