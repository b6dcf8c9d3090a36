"""The wealth endpoints on the fixed warehouse (tests/support/api.py), marts built by
`build_marts`: every number hand-checked, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from tests.support.api import Api
from wealth_pipeline.warehouse.schema import profiles


def test_summary_lists_each_account_on_the_last_day(api: Api) -> None:
    ids = api.ids
    answer = api.get("/api/wealth/summary/")
    assert answer.status_code == 200
    assert answer.json() == {
        "as_of": "2025-01-03",
        "total_wealth": "4189.4737",
        "base_currency": "EUR",
        "account_count": 3,
        "unconverted_count": 0,
        "accounts": [
            {
                "account_id": ids.brokerage,
                "account_name": "Brokerage",
                "broker": "Interactive Brokers",
                "broker_code": "ibkr",
                "balance": "2500.0000",
                "currency": "USD",
                "balance_base_currency": "2000.0000",
                "snapshot_date": "2025-01-02",
            },
            {
                "account_id": ids.giro,
                "account_name": "Giro",
                "broker": "DKB (Deutsche Kreditbank)",
                "broker_code": "dkb",
                "balance": "1200.0000",
                "currency": "EUR",
                "balance_base_currency": "1200.0000",
                "snapshot_date": "2025-01-03",
            },
            {
                "account_id": ids.savings,
                "account_name": "Savings",
                "broker": "Manual account",
                "broker_code": "manual",
                "balance": "940.0000",
                "currency": "CHF",
                "balance_base_currency": "989.4737",
                "snapshot_date": "2025-01-03",
            },
        ],
        "week_change": {  # the history starts on 2025-01-01
            "since": "2024-12-27",
            "amount": None,
            "percentage": None,
            "like_for_like": False,
            "note": "no account was counted a week before",
        },
        "figures_note": None,  # only for the demo waiting for rates
    }


def test_summary_of_another_user_is_their_own(api: Api) -> None:
    body = api.get("/api/wealth/summary/", username="bob").json()
    assert body["base_currency"] == "CHF"
    assert body["total_wealth"] == "475.0000"
    assert [a["account_id"] for a in body["accounts"]] == [api.ids.bob_cash]


def test_daily_history_carries_each_account_forward(api: Api) -> None:
    answer = api.get("/api/wealth/history/", params={"days": 3650})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "base_currency": "EUR",
        "start_date": "2015-01-07",  # 3650 days ending on the marts' last day (3 leap days)
        "end_date": "2025-01-03",
        "granularity": "daily",
        "aggregation": None,
        "history": [
            {"date": "2025-01-01", "total_wealth": "1000.0000"},
            {"date": "2025-01-02", "total_wealth": "3000.0000"},
            {"date": "2025-01-03", "total_wealth": "4189.4737"},
        ],
    }


def test_history_window_counts_days_back_from_the_last_day(api: Api) -> None:
    body = api.get("/api/wealth/history/", params={"days": 2}).json()
    assert (body["start_date"], body["end_date"]) == ("2025-01-02", "2025-01-03")
    assert [p["date"] for p in body["history"]] == ["2025-01-02", "2025-01-03"]
    default = api.get("/api/wealth/history/").json()  # 30 days
    assert default["start_date"] == "2024-12-05"
    assert len(default["history"]) == 3


@pytest.mark.parametrize(
    ("aggregation", "value"),
    [
        ("last", "4189.4737"),
        ("min", "1000.0000"),
        ("max", "4189.4737"),
        # (1000 + 3000 + 4189.4737) / 3 = 2729.82456..., rounded half-even to 4 places
        ("avg", "2729.8246"),
    ],
)
def test_monthly_history_aggregates_as_the_profile_chooses(
    api: Api, aggregation: str, value: str
) -> None:
    with api.engine.begin() as connection:
        connection.execute(
            update(profiles)
            .where(profiles.c.user_id == api.ids.alice)
            .values(monthly_aggregation=aggregation)
        )
    body = api.get("/api/wealth/history/", params={"granularity": "monthly", "days": 365}).json()
    assert body["granularity"] == "monthly"
    assert body["aggregation"] == aggregation
    assert body["history"] == [{"date": "2025-01-01", "total_wealth": value}]


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        (
            "broker",
            [
                ("ibkr", "Interactive Brokers", "2000.0000", "47.74"),
                ("dkb", "DKB (Deutsche Kreditbank)", "1200.0000", "28.64"),
                ("manual", "Manual account", "989.4737", "23.62"),
            ],
        ),
        (
            "currency",
            [
                ("USD", "USD", "2000.0000", "47.74"),
                ("EUR", "EUR", "1200.0000", "28.64"),
                ("CHF", "CHF", "989.4737", "23.62"),
            ],
        ),
        (
            "account_type",
            [
                ("brokerage", "Brokerage", "2000.0000", "47.74"),
                ("checking", "Checking", "1200.0000", "28.64"),
                ("savings", "Savings", "989.4737", "23.62"),
            ],
        ),
        (
            # Brokerage by its positions (fully covered); Giro and Savings count as cash.
            "asset_class",
            [
                ("cash", "Cash", "2189.4737", "52.26"),
                ("equity", "Equities", "1200.0000", "28.64"),
                ("fund", "Funds", "800.0000", "19.10"),
            ],
        ),
    ],
)
def test_breakdown_shares_add_up(api: Api, by: str, expected: list) -> None:
    answer = api.get("/api/wealth/breakdown/", params={"by": by})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["base_currency"], body["group_by"], body["as_of"], body["total"]) == (
        "EUR",
        by,
        "2025-01-03",
        "4189.4737",
    )
    got = [(i["key"], i["category"], i["amount"], i["percentage"]) for i in body["breakdown"]]
    assert got == expected


def test_breakdown_by_account_names_the_accounts(api: Api) -> None:
    body = api.get("/api/wealth/breakdown/", params={"by": "account"}).json()
    assert [(i["category"], i["amount"]) for i in body["breakdown"]] == [
        ("Brokerage", "2000.0000"),
        ("Giro", "1200.0000"),
        ("Savings", "989.4737"),
    ]


def test_holdings_merged_with_shares_and_asset_classes(api: Api) -> None:
    brokerage = {"account_id": api.ids.brokerage, "account_name": "Brokerage"}
    body = api.get("/api/wealth/holdings/").json()
    assert body == {
        "as_of": "2025-01-03",  # the marts' last day (the positions are of 2025-01-02)
        "base_currency": "EUR",
        "total": "2000.0000",
        "holdings": [
            {
                "isin": "US0000000001",
                "symbol": "ACME",
                "name": "Acme Corp",
                "asset_class": "equity",
                "quantity": "10.00000000",
                "value_base_currency": "1200.0000",
                "price_base_currency": "120.0000000000",
                "percentage": "60.00",
                "accounts": [brokerage],
            },
            {
                "isin": None,
                "symbol": "BETA",
                "name": "Beta Bond Fund",
                "asset_class": "fund",
                "quantity": "5.00000000",
                "value_base_currency": "800.0000",
                "price_base_currency": "160.0000000000",
                "percentage": "40.00",
                "accounts": [brokerage],
            },
        ],
        "by_asset_class": [
            {"asset_class": "equity", "amount": "1200.0000", "percentage": "60.00"},
            {"asset_class": "fund", "amount": "800.0000", "percentage": "40.00"},
        ],
    }


def test_a_user_without_marts_gets_empty_answers(api: Api) -> None:
    from tests.support.factories import CHEAP
    from wealth_pipeline.security.vault import create_user

    with api.engine.begin() as connection:
        create_user(connection, "carol", "carols password", params=CHEAP)
    headers = api.headers("carol", "carols password")
    summary = api.client.get("/api/wealth/summary/", headers=headers).json()
    assert summary == {
        "as_of": None,
        "total_wealth": "0.0000",
        "base_currency": "EUR",
        "account_count": 0,
        "unconverted_count": 0,
        "accounts": [],
        "week_change": None,
        "figures_note": None,
    }
    history = api.client.get("/api/wealth/history/", headers=headers).json()
    assert (history["history"], history["start_date"]) == ([], None)
    assert api.client.get("/api/wealth/holdings/", headers=headers).json()["holdings"] == []
    breakdown = api.client.get("/api/wealth/breakdown/", headers=headers).json()
    assert (breakdown["total"], breakdown["breakdown"]) == ("0.0000", [])


@pytest.mark.parametrize(
    "query",
    [
        {"days": 0},
        {"days": -5},
        {"days": 36601},
        {"days": "ten"},
        {"granularity": "weekly"},
    ],
)
def test_bad_history_parameters_answer_422(api: Api, query: dict) -> None:
    answer = api.get("/api/wealth/history/", params=query)
    assert answer.status_code == 422
    assert answer.json()["detail"]


def test_bad_breakdown_dimension_answers_422(api: Api) -> None:
    answer = api.get("/api/wealth/breakdown/", params={"by": "planet"})
    assert answer.status_code == 422
    assert "broker" in answer.text  # the message lists the choices


def test_daily_amounts_are_printed_exactly_by_the_database(api: Api) -> None:
    """The daily series is rendered in SQL (scaled integers on SQLite): signs, zeros and
    large values come out as the exact decimal strings, in day order."""
    from datetime import date, timedelta
    from decimal import Decimal

    from sqlalchemy import insert

    from tests.support.factories import CHEAP
    from wealth_pipeline.security.vault import create_user
    from wealth_pipeline.warehouse.schema import mart_net_worth_daily

    values = ["-0.0005", "-12.3400", "0.0000", "0.0001", "123456789012.3456", "-999999.9999"]
    first = date(2024, 12, 28)
    with api.engine.begin() as connection:
        carol = create_user(connection, "carol", "carols password", params=CHEAP)
        connection.execute(
            insert(mart_net_worth_daily),
            [
                {
                    "user_id": carol,
                    "day": first + timedelta(days=n),
                    "base_currency": "EUR",
                    "total_wealth": Decimal(value),
                    "account_count": 1,
                }
                for n, value in reversed(list(enumerate(values)))
            ],
        )
    headers = api.headers("carol", "carols password")
    body = api.client.get("/api/wealth/history/", params={"days": 5}, headers=headers).json()
    assert (
        body["history"]
        == [
            {"date": (first + timedelta(days=n)).isoformat(), "total_wealth": value}
            for n, value in enumerate(values)
        ][1:]
    )
    assert (body["start_date"], body["end_date"]) == ("2024-12-29", "2025-01-02")
