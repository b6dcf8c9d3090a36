"""`/api/wealth/performance/` and `/api/accounts/{id}/flows/` on the fixed warehouse
(tests/support/api.py) with Giro's flows added, on SQLite and PostgreSQL; every figure
hand-checked:

Giro (EUR) is covered from 2024-12-31: 1000.00 deposited on 01-01 (its value 1000), 150.00
deposited and 50.00 interest on 01-03 (value 1200): change 1200 = contributions 1150 + market
result 50 (income 50). Days: 01-01 r = 0 / (0 + 1000) = 0; 01-03 r = 50 / (1000 + 150).
Brokerage and Savings have no flow data: their opening values (2000.0000 on 01-02, 989.4737
on 01-03) are not explained.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.support.api import Api, build
from wealth_pipeline.flows.store import NewFlow, write_flows


@pytest.fixture
def flows_api(api: Api) -> Api:
    with api.engine.begin() as c:
        write_flows(
            c,
            api.ids.giro,
            [
                NewFlow(date(2025, 1, 1), Decimal("1000"), "deposit", external_id="a"),
                NewFlow(date(2025, 1, 3), Decimal("150"), "deposit", external_id="b"),
                NewFlow(date(2025, 1, 3), Decimal("50"), "interest", external_id="c"),
            ],
            source="import",
            covered=(date(2024, 12, 31), date(2025, 1, 3)),
        )
    build(api.engine)
    return api


def test_performance_of_the_total_and_each_account(flows_api: Api) -> None:
    answer = flows_api.get("/api/wealth/performance/", params={"period": "max"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    total = body["total"]
    assert (total["start_date"], total["end_date"]) == ("2025-01-01", "2025-01-03")
    assert total["value_start"] == "0.0000" and total["value_end"] == "4189.4737"
    assert total["contributions"] == "1150.0000"
    assert total["market_result"] == "50.0000" and total["income"] == "50.0000"
    assert total["unexplained"] == "2989.4737"
    assert total["time_weighted_return"] == str(Decimal(repr(50 / 1150)).quantize(Decimal("1e-8")))
    assert total["annualised"] is False
    giro = next(a for a in body["accounts"] if a["account_id"] == flows_api.ids.giro)
    assert giro["account_name"] == "Giro" and giro["unexplained"] == "0.0000"
    assert giro["time_weighted_return"] == total["time_weighted_return"]
    brokerage = next(a for a in body["accounts"] if a["account_id"] == flows_api.ids.brokerage)
    assert brokerage["time_weighted_return"] is None  # never a made-up return
    assert brokerage["unexplained"] == "2000.0000" and brokerage["contributions"] == "0.0000"

    one = flows_api.get(
        "/api/wealth/performance/", params={"period": "week", "account": flows_api.ids.giro}
    ).json()
    assert one["accounts"] == [] and one["total"]["account_name"] == "Giro"
    assert one["total"]["market_result"] == "50.0000"


def test_performance_refuses_bad_periods_and_other_people_s_accounts(flows_api: Api) -> None:
    assert flows_api.get("/api/wealth/performance/", params={"period": "decade"}).status_code == 422
    assert (
        flows_api.get(
            "/api/wealth/performance/", params={"account": flows_api.ids.bob_cash}
        ).status_code
        == 404
    )
    bob = flows_api.get("/api/wealth/performance/", username="bob").json()
    assert bob["total"]["unexplained"] == "475.0000"  # bob's cash has no flow data


def test_account_flows_newest_first(flows_api: Api) -> None:
    answer = flows_api.get(f"/api/accounts/{flows_api.ids.giro}/flows/", params={"page_size": 2})
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 3 and body["next"] and body["previous"] is None
    assert (body["covered_from"], body["covered_through"]) == ("2024-12-31", "2025-01-03")
    assert [(r["flow_date"], r["kind"], r["amount"]) for r in body["results"]] == [
        ("2025-01-03", "interest", "50.0000"),
        ("2025-01-03", "deposit", "150.0000"),
    ]
    assert body["results"][0]["amount_base_currency"] == "50.0000"
    assert (
        flows_api.get(f"/api/accounts/{flows_api.ids.giro}/flows/", username="bob").status_code
        == 404
    )


def test_the_weekly_report_says_where_the_change_came_from(flows_api: Api) -> None:
    from wealth_pipeline.report.facts import load_report
    from wealth_pipeline.report.render import render

    with flows_api.engine.connect() as c:
        report = load_report(c, flows_api.ids.alice, today=date(2025, 1, 3))
    rendered = render(report)
    text = rendered.text
    assert "WHERE THE CHANGE CAME FROM (this year, since 1 Jan 2025)" in text
    assert (
        "Total: +€4,189.47 = €1,150.00 you saved + €50.00 markets + €0.00 currencies"
        " + €2,989.47 not explained (no flow data)"
    ) in text
    assert "Giro: +€1,200.00 = €1,150.00 you saved + €50.00 markets + €0.00 currencies;" in text
    assert "Brokerage: +€2,000.00 = €0.00 you saved" in text and "no return without flow data" in text
    assert "Where the change came from" in rendered.html()
