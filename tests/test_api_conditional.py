"""ETags tied to the marts' build, 304 answers, and history thinned to `points`, on the fixed
warehouse of tests/support/api.py (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import update

from tests.support.api import BOB_PASSWORD, LAST, Api
from wealth_pipeline.marts import build_marts
from wealth_pipeline.snapshots.store import NewSnapshot, write_snapshots
from wealth_pipeline.warehouse.schema import profiles

HISTORY = "/api/wealth/history/"
ENDPOINTS = (
    HISTORY,
    "/api/wealth/summary/",
    "/api/wealth/breakdown/?by=broker",
    "/api/wealth/holdings/",
)


def test_a_current_etag_is_answered_304_and_a_new_build_changes_it(api: Api) -> None:
    headers = api.headers()
    for path in ENDPOINTS:
        first = api.client.get(path, headers=headers)
        assert first.status_code == 200
        tag = first.headers["etag"]
        again = api.client.get(path, headers={**headers, "If-None-Match": tag})
        assert again.status_code == 304, path
        assert again.content == b""
        assert again.headers["etag"] == tag
        assert again.headers["cache-control"] == "no-store"
        stale = api.client.get(path, headers={**headers, "If-None-Match": '"something-else"'})
        assert stale.status_code == 200 and stale.content == first.content
    tag = api.client.get(HISTORY, headers=headers).headers["etag"]
    with api.engine.begin() as connection:  # a new day's balance, then the marts' build
        write_snapshots(
            connection,
            api.ids.giro,
            [NewSnapshot(LAST + timedelta(days=1), Decimal("1300"), "EUR")],
            source="manual",
        )
    build_marts(api.engine, as_of=LAST + timedelta(days=1))
    fresh = api.client.get(HISTORY, headers={**headers, "If-None-Match": tag})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] != tag
    assert fresh.json()["end_date"] == (LAST + timedelta(days=1)).isoformat()


def test_the_etag_is_per_user_query_and_profile(api: Api) -> None:
    alice, bob = api.headers(), api.headers("bob", BOB_PASSWORD)
    alice_tag = api.client.get(HISTORY, headers=alice).headers["etag"]
    # Bob sending Alice's tag gets his own answer, never a 304 for hers.
    answer = api.client.get(HISTORY, headers={**bob, "If-None-Match": alice_tag})
    assert answer.status_code == 200
    assert answer.headers["etag"] != alice_tag
    other_query = api.client.get(HISTORY, params={"days": 2}, headers=alice)
    assert other_query.headers["etag"] != alice_tag
    with api.engine.begin() as connection:
        connection.execute(
            update(profiles)
            .where(profiles.c.user_id == api.ids.alice)
            .values(monthly_aggregation="max")
        )
    assert api.client.get(HISTORY, headers=alice).headers["etag"] != alice_tag


def test_a_304_still_needs_a_valid_token(api: Api) -> None:
    tag = api.get(HISTORY).headers["etag"]
    answer = api.client.get(HISTORY, headers={"If-None-Match": tag})
    assert answer.status_code == 401
    forged = api.client.get(
        HISTORY, headers={"If-None-Match": tag, "Authorization": "Bearer not.a.token"}
    )
    assert forged.status_code == 401


def test_history_thinned_to_points_keeps_exact_values_ending_on_the_last_day(api: Api) -> None:
    full = api.get(HISTORY, params={"days": 3650}).json()["history"]
    assert [p["date"] for p in full] == ["2025-01-01", "2025-01-02", "2025-01-03"]
    two = api.get(HISTORY, params={"days": 3650, "points": 2}).json()
    assert two["history"] == [full[0], full[2]]  # every 2nd day back from the last
    one = api.get(HISTORY, params={"days": 3650, "points": 1}).json()
    assert one["history"] == [full[2]]
    many = api.get(HISTORY, params={"days": 3650, "points": 10}).json()
    assert many["history"] == full
    assert api.get(HISTORY, params={"points": 0}).status_code == 422


def test_monthly_history_thinned_to_points(api: Api) -> None:
    full = api.get(HISTORY, params={"days": 3650, "granularity": "monthly"}).json()["history"]
    one = api.get(HISTORY, params={"days": 3650, "granularity": "monthly", "points": 1}).json()
    assert one["history"] == full[-1:]
