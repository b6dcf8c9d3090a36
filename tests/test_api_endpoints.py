"""Profile, brokers, accounts, snapshots and exchange rates on the fixed warehouse
(tests/support/api.py); every query scoped to the token's user; docs and schema."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.api import (
    GIRO_CREDENTIALS,
    IBKR_CREDENTIALS,
    Api,
)
from wealth_pipeline.brokers.catalogue import MASK
from wealth_pipeline.warehouse.schema import account_snapshots


def test_profile(api: Api) -> None:
    assert api.get("/api/profile/").json() == {
        "username": "alice",
        "email": "alice@example.org",
        "base_currency": "EUR",
        "auto_sync_enabled": False,
        "sync_frequency_hours": 24,
        "monthly_aggregation": "last",
        "weekly_report_enabled": False,
        "report_email": None,
    }
    assert api.get("/api/profile/", username="bob").json()["base_currency"] == "CHF"


def test_brokers_with_credential_schemas(api: Api) -> None:
    listed = api.get("/api/brokers/").json()
    codes = [broker["code"] for broker in listed]
    assert codes == sorted(codes) and {"dkb", "ibkr", "manual"} <= set(codes)
    dkb = api.get("/api/brokers/dkb/").json()
    assert dkb == next(broker for broker in listed if broker["code"] == "dkb")
    assert dkb["name"] == "DKB (Deutsche Kreditbank)"
    assert dkb["integration_type"] == "fints"
    assert dkb["credential_schema"]["properties"]["pin"]["format"] == "password"
    assert (dkb["sync_mode"], dkb["supports_auto_sync"]) == ("unattended", True)
    assert "90 days" in dkb["sync_note"]
    modes = {broker["code"]: broker["sync_mode"] for broker in listed}
    assert modes["viac"] == modes["morganstanley"] == modes["commerzbank"] == "assisted"
    assert "SMS" in api.get("/api/brokers/viac/").json()["sync_note"]
    assert api.get("/api/brokers/DKB/").status_code == 200
    for code in ("nope", "x", "a" * 41, "d%00kb"):
        answer = api.get(f"/api/brokers/{code}/")
        assert answer.status_code in (404, 422), code


def test_accounts_never_show_credentials_or_raw_data(api: Api) -> None:
    ids = api.ids
    listed = api.get("/api/accounts/").json()
    assert [a["id"] for a in listed] == [ids.giro, ids.brokerage, ids.savings]
    giro = listed[0]
    assert giro == {
        "id": ids.giro,
        "name": "Giro",
        "broker": {"code": "dkb", "name": "DKB (Deutsche Kreditbank)"},
        "account_type": "checking",
        "account_identifier": "DE02120300000000202051",
        "currency": "EUR",
        "status": "active",
        "status_message": None,
        "sync_mode": "unattended",
        "waiting": None,
        "is_manual": False,
        "sync_enabled": True,
        "last_synced_at": None,
        "created_at": giro["created_at"],
        "latest_snapshot": {
            "snapshot_date": "2025-01-03",
            "balance": "1200.0000",
            "currency": "EUR",
        },
        "credentials": {"username": MASK, "pin": MASK},
    }
    assert listed[1]["credentials"] == {"flex_token": MASK, "query_id": MASK}
    assert listed[2]["credentials"] is None  # manual: nothing stored
    text = api.get("/api/accounts/").text + api.get(f"/api/accounts/{ids.giro}/").text
    for secret in (*GIRO_CREDENTIALS.values(), *IBKR_CREDENTIALS.values()):
        assert secret not in text
    assert "encrypted" not in text and "raw_data" not in text
    assert api.get(f"/api/accounts/{ids.giro}/").json() == giro


def test_a_waiting_account_says_why_since_when_and_the_command(api: Api) -> None:
    from wealth_pipeline.sync.waiting import waiting_reason
    from wealth_pipeline.warehouse.schema import financial_accounts

    ids = api.ids
    command = f"wealth accounts auth {ids.giro} --user alice"
    reason = waiting_reason(
        "DKB (Deutsche Kreditbank) waits for the login to be approved in the banking app",
        date(2025, 1, 3),
        command,
    )
    with api.engine.begin() as connection:
        connection.execute(
            financial_accounts.update()
            .where(financial_accounts.c.id == ids.giro)
            .values(status="pending_auth", status_message=reason)
        )
    giro = api.get(f"/api/accounts/{ids.giro}/").json()
    assert giro["status"] == "pending_auth" and giro["status_message"] == reason
    assert giro["waiting"] == {
        "reason": "DKB (Deutsche Kreditbank) waits for the login to be approved in the banking app",
        "last_data": "2025-01-03",
        "command": command,
    }


def test_other_users_accounts_answer_404_like_missing_ones(api: Api) -> None:
    ids = api.ids
    for path in (f"/api/accounts/{ids.bob_cash}/", f"/api/accounts/{ids.bob_cash}/snapshots/"):
        answer = api.get(path)
        assert answer.status_code == 404
        assert answer.json() == {"detail": f"no such account: {ids.bob_cash}"}
        missing = api.get(path.replace(str(ids.bob_cash), "999999"))
        assert missing.status_code == 404
    assert api.get(f"/api/accounts/{ids.giro}/", username="bob").status_code == 404
    assert [a["id"] for a in api.get("/api/accounts/", username="bob").json()] == [ids.bob_cash]


@pytest.mark.parametrize("account", ["0", "-1", "abc", str(2**31), str(2**70)])
def test_bad_account_ids_answer_422(api: Api, account: str) -> None:
    assert api.get(f"/api/accounts/{account}/").status_code == 422


def test_snapshots_page_by_page_newest_first(api: Api) -> None:
    giro = api.ids.giro
    first = api.get(f"/api/accounts/{giro}/snapshots/", params={"page_size": 1}).json()
    with api.engine.connect() as connection:
        newest = (
            connection.execute(
                select(account_snapshots.c.id)
                .where(account_snapshots.c.account_id == giro)
                .order_by(account_snapshots.c.snapshot_date.desc())
            )
            .scalars()
            .first()
        )
    assert first == {
        "count": 2,
        "page": 1,
        "page_size": 1,
        "next": f"http://testserver/api/accounts/{giro}/snapshots/?page_size=1&page=2",
        "previous": None,
        "results": [
            {
                "id": newest,
                "snapshot_date": "2025-01-03",
                "balance": "1200.0000",
                "currency": "EUR",
                "available_balance": None,
                "base_currency": "EUR",
                "balance_base_currency": "1200.0000",
                "exchange_rate_used": "1.000000000000",
                "rate_date": "2025-01-03",
                "conversion_note": None,
                "snapshot_source": "manual",
                "position_count": 0,
            }
        ],
    }
    second = api.get(first["next"].replace("http://testserver", "")).json()
    assert [r["snapshot_date"] for r in second["results"]] == ["2025-01-01"]
    assert second["next"] is None
    assert (
        second["previous"] == f"http://testserver/api/accounts/{giro}/snapshots/?page_size=1&page=1"
    )
    beyond = api.get(f"/api/accounts/{giro}/snapshots/", params={"page": 9}).json()
    assert (beyond["count"], beyond["results"]) == (2, [])
    brokerage = api.get(f"/api/accounts/{api.ids.brokerage}/snapshots/").json()["results"][0]
    assert (brokerage["balance_base_currency"], brokerage["exchange_rate_used"]) == (
        "2000.0000",
        "0.800000000000",
    )
    assert brokerage["position_count"] == 2


@pytest.mark.parametrize(
    "query", [{"page": 0}, {"page_size": 0}, {"page_size": 501}, {"page": "x"}]
)
def test_bad_pages_answer_422(api: Api, query: dict) -> None:
    assert api.get(f"/api/accounts/{api.ids.giro}/snapshots/", params=query).status_code == 422


def test_exchange_rates_for_a_day_through_the_rate_lookup(api: Api) -> None:
    body = api.get("/api/exchange-rates/", params={"date": "2025-01-04", "base": "USD"}).json()
    # Saturday: Friday's ECB rates; crosses through EUR as one exact division.
    assert body == {
        "date": "2025-01-04",
        "base": "USD",
        "rates": [
            # 0.95 / 1.2 = 0.791666...
            {"currency": "CHF", "rate": "0.791666666667", "rate_date": "2025-01-03"},
            # 1 / 1.2 = 0.8333...
            {"currency": "EUR", "rate": "0.833333333333", "rate_date": "2025-01-03"},
        ],
    }
    default = api.get("/api/exchange-rates/").json()  # latest day, your base currency
    assert (default["date"], default["base"]) == ("2025-01-03", "EUR")
    assert default["rates"] == [
        {"currency": "CHF", "rate": "0.950000000000", "rate_date": "2025-01-03"},
        {"currency": "USD", "rate": "1.200000000000", "rate_date": "2025-01-03"},
    ]
    assert api.get("/api/exchange-rates/", username="bob").json()["base"] == "CHF"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"date": "2025-02-30"}, 422),
        ({"date": "yesterday"}, 422),
        ({"base": "XXX"}, 422),
        ({"base": "EURO"}, 422),
        ({"date": "1990-01-01"}, 404),
        ({"date": "2024-06-01"}, 404),  # no rates stored within 14 days before
    ],
)
def test_bad_or_unanswerable_rate_questions(api: Api, query: dict, status: int) -> None:
    answer = api.get("/api/exchange-rates/", params=query)
    assert answer.status_code == status
    assert answer.json()["detail"]


def test_schema_and_docs(api: Api) -> None:
    schema = api.client.get("/api/schema").json()
    paths = set(schema["paths"])
    assert paths == {
        "/api/auth/salt/",
        "/api/auth/login/",
        "/api/auth/logout/",
        "/api/auth/refresh/",
        "/api/session/",
        "/api/session/refresh/",
        "/api/session/logout/",
        "/api/profile/",
        "/api/brokers/",
        "/api/brokers/{code}/",
        "/api/accounts/",
        "/api/accounts/{account_id}/",
        "/api/accounts/{account_id}/snapshots/",
        "/api/accounts/{account_id}/history/",
        "/api/accounts/{account_id}/flows/",
        "/api/wealth/summary/",
        "/api/wealth/performance/",
        "/api/wealth/changes/",
        "/api/wealth/history/",
        "/api/wealth/breakdown/",
        "/api/wealth/holdings/",
        "/api/wealth/projection/",
        "/api/exchange-rates/",
    }
    history = schema["paths"]["/api/wealth/history/"]["get"]
    assert history["security"] == [{"HTTPBearer": []}]
    assert "HistoryOut" in str(history["responses"]["200"])
    docs = api.client.get("/api/docs")
    assert docs.status_code == 200
    assert "/api/wealth/history/" in docs.text and "<script" not in docs.text
    assert "http://" not in docs.text and "https://" not in docs.text  # nothing from elsewhere


def test_the_docs_page_shows_parameters_bodies_and_answers(api: Api) -> None:
    """Each operation's parameters with their limits, the request body's fields and the
    answer's shape; Markdown descriptions rendered, never raw (and never raw HTML)."""
    from wealth_pipeline.api.docs import docs_page

    page = api.client.get("/api/docs").text
    history = page.split("id='history_api_wealth_history__get'")[1].split("</section>")[0]
    assert "<td><code>days</code></td><td>query</td><td>integer</td><td>no</td>" in history
    assert "(1 to 36600, default <code>30</code>)" in history
    assert "one of <code>daily</code>, <code>monthly</code>" in history
    assert "over the last <code>days</code> days" in history  # Markdown, rendered
    assert "<td><code>history</code></td><td>list of <a href='#schema-HistoryPoint'>" in history
    assert "id='schema-HistoryPoint'" in page
    login = page.split("id='login_api_auth_login__post'")[1].split("</section>")[0]
    assert "Request body (JSON)" in login and "<code>auth_hash</code>" in login
    assert "<td><code>expires_in</code></td><td>integer</td>" in login
    assert "<b>429</b>" in login and "No token needed." in login
    assert "`" not in page.split("<h2>Schemas</h2>")[0].split("</nav>")[1]  # no raw Markdown
    hostile = {
        "info": {"title": "t", "description": "<script>alert(1)</script> *ok*"},
        "paths": {},
    }
    rendered = docs_page(hostile)
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
    assert "<em>ok</em>" in rendered


def test_the_api_writes_nothing_but_tokens(api: Api) -> None:
    """Every read endpoint, then the warehouse compared: only refresh_tokens changed."""
    from wealth_pipeline.warehouse.schema import metadata

    def dump() -> dict[str, list]:
        with api.engine.connect() as connection:
            return {
                table.name: sorted(map(tuple, connection.execute(select(table))), key=repr)
                for table in metadata.sorted_tables
                if table.name != "refresh_tokens"
            }

    headers = api.headers()
    before = dump()
    for path in (
        "/api/profile/",
        "/api/brokers/",
        "/api/accounts/",
        f"/api/accounts/{api.ids.giro}/snapshots/",
        "/api/wealth/summary/",
        "/api/wealth/history/?granularity=monthly",
        "/api/wealth/breakdown/?by=currency",
        "/api/wealth/holdings/",
        "/api/wealth/performance/?period=max",
        f"/api/accounts/{api.ids.giro}/flows/",
        "/api/exchange-rates/",
    ):
        assert api.client.get(path, headers=headers).status_code == 200, path
    assert dump() == before


def test_never_loads_the_sync_key(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API host must not be able to decrypt credentials: no endpoint opens the key."""
    from wealth_pipeline.security import sync_keys

    def refuse(*_args, **_kwargs):
        raise AssertionError("the API loaded the sync key")

    monkeypatch.setattr(sync_keys, "load_private_key", refuse)
    headers = api.headers()
    for path in ("/api/accounts/", f"/api/accounts/{api.ids.giro}/", "/api/wealth/summary/"):
        assert api.client.get(path, headers=headers).status_code == 200


def test_an_unexpected_error_answers_500_without_details(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from wealth_pipeline.api.routes import wealth

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals: /var/lib/db password=hunter2")

    headers = api.headers()
    monkeypatch.setattr(wealth, "percentage", broken)
    answer = api.client.get("/api/wealth/breakdown/", headers=headers)
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal error"}
    assert "hunter2" not in answer.text
    assert "unhandled RuntimeError on GET /api/wealth/breakdown/" in caplog.text


def test_refuses_to_start_on_a_warehouse_behind_the_code(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from wealth_pipeline.api import create_app
    from wealth_pipeline.api.app import SchemaNotCurrent

    url = f"sqlite:///{tmp_path}/empty.sqlite"
    create_engine(url).connect().close()  # an empty database: never migrated
    with pytest.raises(SchemaNotCurrent, match="wealth db upgrade"):
        create_app(database_url=url)
