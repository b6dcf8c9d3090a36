"""`FrankfurterRates`: year-sized range requests, exactly the ECB's numbers, clear failures.

Against the local fake Frankfurter v1 serving the ECB sample; what it answers is compared with
the sample file read directly.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import httpx
import pytest

from tests.support.data import ECB_SAMPLE
from tests.support.fakes.frankfurter import FakeFrankfurter, Fault
from tests.support.fakes.static import Response, StaticServer
from wealth_pipeline import http
from wealth_pipeline.fx.ecb_file import DailyRates, MalformedRates, read_ecb_bytes
from wealth_pipeline.fx.frankfurter import year_chunks
from wealth_pipeline.fx.sources import FrankfurterRates

ECB: DailyRates = read_ecb_bytes(ECB_SAMPLE.read_bytes(), str(ECB_SAMPLE))


def published_text() -> dict[tuple[date, str], str]:
    """Every rate in the sample as the text the ECB published, read without our parser."""
    with ECB_SAMPLE.open(newline="") as handle:
        rows = list(csv.reader(handle))
    codes = rows[0][1:]
    return {
        (date.fromisoformat(row[0]), code): cell
        for row in rows[1:]
        for code, cell in zip(codes, row[1:], strict=True)
        if code and cell != "N/A"
    }


def ecb_window(start: date, end: date) -> DailyRates:
    return {day: rates for day, rates in ECB.items() if start <= day <= end}


def source(base_url: str, **overrides: float) -> FrankfurterRates:
    settings: dict = {"timeout_seconds": 0.5, "max_attempts": 3, "backoff_seconds": 0.01}
    return FrankfurterRates(base_url=base_url, **(settings | overrides))


@pytest.fixture
def static() -> Iterator[StaticServer]:
    with StaticServer() as server:
        yield server


# --- requests -------------------------------------------------------------------------


def test_year_chunks_split_at_new_year() -> None:
    assert year_chunks(date(2022, 2, 20), date(2024, 1, 10)) == [
        (date(2022, 2, 20), date(2022, 12, 31)),
        (date(2023, 1, 1), date(2023, 12, 31)),
        (date(2024, 1, 1), date(2024, 1, 10)),
    ]
    assert year_chunks(date(2024, 3, 1), date(2024, 3, 1)) == [(date(2024, 3, 1), date(2024, 3, 1))]


def test_three_calendar_years_take_exactly_three_requests(frankfurter: FakeFrankfurter) -> None:
    published = source(frankfurter.url).fetch(date(2022, 2, 20), date(2024, 1, 10))
    assert frankfurter.requests == [
        "/v1/2022-02-20..2022-12-31?base=EUR",
        "/v1/2023-01-01..2023-12-31?base=EUR",
        "/v1/2024-01-01..2024-01-17?base=EUR",  # the last one looks 7 days further
    ]
    assert published.requests == 3
    assert published.days == ecb_window(date(2022, 2, 20), date(2024, 1, 10))


def test_a_window_inside_one_year_is_one_request(frankfurter: FakeFrankfurter) -> None:
    published = source(frankfurter.url + "/").fetch(date(2024, 3, 1), date(2024, 3, 5))
    assert frankfurter.requests == ["/v1/2024-03-01..2024-03-12?base=EUR"]
    assert published.requests == 1
    assert sorted(published.days) == [date(2024, 3, 1), date(2024, 3, 4), date(2024, 3, 5)]


def test_the_snapped_back_start_day_is_not_in_the_window(frankfurter: FakeFrankfurter) -> None:
    """Frankfurter answers a range from the nearest earlier day with data; that day is outside."""
    raw = httpx.get(f"{frankfurter.url}/2024-01-01..2024-01-17", params={"base": "EUR"}).json()
    assert "2023-12-29" in raw["rates"]  # the server really did snap back
    frankfurter.reset()
    published = source(frankfurter.url).fetch(date(2024, 1, 1), date(2024, 1, 10))
    assert date(2023, 12, 29) not in published.days
    assert min(published.days) == date(2024, 1, 2)
    assert max(published.days) == date(2024, 1, 10)
    assert published.start == date(2024, 1, 1) and published.end == date(2024, 1, 10)


def test_lookahead_days_are_not_in_the_window_but_give_the_latest_day(
    frankfurter: FakeFrankfurter,
) -> None:
    published = source(frankfurter.url).fetch(date(2024, 3, 1), date(2024, 3, 5))
    assert max(published.days) == date(2024, 3, 5)
    assert published.latest_day == date(2024, 3, 12)


def test_latest_day_is_the_newest_the_server_has(frankfurter: FakeFrankfurter) -> None:
    published = source(frankfurter.url).fetch(date(2026, 10, 26), date(2026, 10, 30))
    assert published.latest_day == date(2026, 10, 30)
    published = source(frankfurter.url).fetch(date(2026, 10, 31), date(2026, 11, 30))
    assert published.days == {}
    assert published.latest_day == date(2026, 10, 30)


def test_lookahead_into_the_next_year_stays_one_request(frankfurter: FakeFrankfurter) -> None:
    published = source(frankfurter.url).fetch(date(2023, 12, 20), date(2023, 12, 29))
    assert frankfurter.requests == ["/v1/2023-12-20..2024-01-05?base=EUR"]
    assert max(published.days) == date(2023, 12, 29)
    assert published.latest_day == date(2024, 1, 5)


# --- what comes back ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2004, 12, 15), date(2005, 1, 20)),  # TRL ends, TRY starts
        (date(2008, 11, 25), date(2008, 12, 31)),  # ISK's gap starts
        (date(2017, 12, 20), date(2018, 2, 10)),  # ISK returns
        (date(2022, 2, 15), date(2022, 3, 20)),  # RUB ends
        (date(2022, 12, 15), date(2023, 1, 15)),  # HRK joins the euro
        (date(2023, 12, 20), date(2024, 4, 10)),  # Christmas, New Year, Easter
        (date(2025, 12, 15), date(2026, 1, 20)),  # BGN joins the euro
    ],
)
def test_days_in_the_window_are_the_ecbs(
    frankfurter: FakeFrankfurter, start: date, end: date
) -> None:
    published = source(frankfurter.url).fetch(start, end)
    expected = ecb_window(start, end)
    assert published.days == expected
    assert published.currencies == frozenset(c for rates in expected.values() for c in rates)
    assert published.source == "frankfurter"


def test_rates_are_decimals_exactly_as_published(frankfurter: FakeFrankfurter) -> None:
    published = source(frankfurter.url).fetch(date(2004, 12, 15), date(2026, 10, 30))
    text = published_text()
    seen = {
        (day, code): rate for day, rates in published.days.items() for code, rate in rates.items()
    }
    assert seen.keys() == text.keys()
    for key, rate in seen.items():
        assert type(rate) is Decimal
        assert str(rate) == text[key], key
    day = published.days[date(2026, 10, 30)]
    assert str(day["ISK"]) == "136" and str(day["IDR"]) == "20275.17"
    assert str(published.days[date(2026, 10, 29)]["GBP"]) == "0.83578"
    assert str(published.days[date(2004, 12, 31)]["TRL"]) == "1836200"


# --- no data --------------------------------------------------------------------------


def test_a_not_found_range_is_empty_and_latest_day_comes_from_the_lookahead(
    frankfurter: FakeFrankfurter,
) -> None:
    """2003 has no data (404 not found); the lookahead past 2004-12-10 finds 15..17 December."""
    published = source(frankfurter.url).fetch(date(2003, 6, 1), date(2004, 12, 10))
    assert frankfurter.requests == [
        "/v1/2003-06-01..2003-12-31?base=EUR",
        "/v1/2004-01-01..2004-12-17?base=EUR",
    ]
    assert published.days == {}
    assert published.latest_day == date(2004, 12, 17)
    assert published.requests == 2


def test_nothing_found_anywhere_is_empty_once_the_api_is_confirmed(
    frankfurter: FakeFrankfurter,
) -> None:
    """Before the ECB's first day there is nothing; `/latest` proves the base URL is right."""
    published = source(frankfurter.url).fetch(date(2003, 1, 1), date(2003, 6, 30))
    assert published.days == {} and published.latest_day is None
    assert frankfurter.requests == ["/v1/2003-01-01..2003-07-07?base=EUR", "/v1/latest?base=EUR"]
    assert published.requests == 2


# --- wrong server ---------------------------------------------------------------------


def test_base_url_without_v1_fails_clearly(frankfurter: FakeFrankfurter) -> None:
    """The fake, like Frankfurter, answers unknown paths with the same 404 `not found` as an
    empty range: that must not pass for "no rates"."""
    root = frankfurter.url.removesuffix("/v1")
    with pytest.raises(http.HttpRefused) as raised:
        source(root).fetch(date(2024, 1, 1), date(2024, 1, 10))
    message = str(raised.value)
    assert raised.value.status == 404
    assert "not a Frankfurter v1 API" in message and root in message
    assert "check the base URL" in message


def test_a_server_answering_html_404_fails_clearly_at_once(static: StaticServer) -> None:
    with pytest.raises(http.HttpRefused) as raised:
        source(static.url("/api")).fetch(date(2024, 1, 1), date(2024, 1, 10))
    assert raised.value.status == 404
    assert "/api/2024-01-01..2024-01-17" in str(raised.value)
    assert "not a Frankfurter v1 API" in str(raised.value)
    assert static.requests == ["/api/2024-01-01..2024-01-17?base=EUR"]


def test_a_web_page_instead_of_the_api_is_malformed(static: StaticServer) -> None:
    page = Response(body=b"<html><body>Welcome</body></html>", content_type="text/html")
    static.serve("/site/2024-01-01..2024-01-17", page)
    with pytest.raises(MalformedRates, match=re.escape("/site/2024-01-01..2024-01-17: not JSON")):
        source(static.url("/site")).fetch(date(2024, 1, 1), date(2024, 1, 10))


def test_a_moved_api_is_followed(frankfurter: FakeFrankfurter, static: StaticServer) -> None:
    """An old host that redirects (as api.frankfurter.app does) still gives the rates."""
    path = "/2024-01-01..2024-01-17"
    static.redirect(f"/v1{path}", f"{frankfurter.url}{path}?base=EUR")
    published = source(static.url("/v1")).fetch(date(2024, 1, 1), date(2024, 1, 10))
    assert published.days == ecb_window(date(2024, 1, 1), date(2024, 1, 10))
    assert frankfurter.requests == [f"/v1{path}?base=EUR"]


def test_describe_names_the_server_without_credentials_or_query() -> None:
    rates = FrankfurterRates(base_url="https://ada:pw@fx.example/v1?t=SECRET")
    assert rates.describe() == "Frankfurter at https://fx.example/v1"


# --- transient failures ---------------------------------------------------------------


def test_transient_failures_are_retried(frankfurter: FakeFrankfurter) -> None:
    frankfurter.inject(Fault("status", 503), Fault("drop"))
    published = source(frankfurter.url).fetch(date(2024, 3, 1), date(2024, 3, 5))
    assert published.days == ecb_window(date(2024, 3, 1), date(2024, 3, 5))
    assert len(frankfurter.requests) == 3
    assert published.requests == 1  # range requests asked, not attempts


def test_a_server_that_keeps_failing_gives_up(frankfurter: FakeFrankfurter) -> None:
    frankfurter.inject(*[Fault("status", 500)] * 3)
    with pytest.raises(
        http.HttpGaveUp, match=re.escape("/v1/2024-03-01..2024-03-12: gave up after 3")
    ):
        source(frankfurter.url).fetch(date(2024, 3, 1), date(2024, 3, 5))


# --- malformed answers ----------------------------------------------------------------


def answer(rates: object, **fields: object) -> bytes:
    return json.dumps({"amount": 1.0, "base": "EUR", **fields, "rates": rates}).encode()


GOOD_DAY = {"USD": 1.0876, "JPY": 160.1, "ISK": 150}


MALFORMED: list[tuple[bytes, str]] = [
    (b"<html>Bad gateway</html>", "not JSON"),
    (b"", "not JSON"),
    (b"[1, 2]", "no 'rates' object"),
    (json.dumps({"base": "EUR"}).encode(), "no 'rates' object"),
    (answer({"2024-03-01": GOOD_DAY}, base="USD"), "base is 'USD', expected 'EUR'"),
    (answer({"2024-03-01": GOOD_DAY}, base=None), "base is None"),
    (answer({"2024-03-01": GOOD_DAY}, amount=10), "amount is 10, expected 1"),
    (answer({"2024-03-01": GOOD_DAY}, amount="lots"), "amount is 'lots', expected 1"),
    (answer({"2024-03-01": GOOD_DAY}, amount=None), "amount is None, expected 1"),
    (answer({"2024-13-01": GOOD_DAY}), "'2024-13-01' is not a date"),
    (answer({"yesterday": GOOD_DAY}), "'yesterday' is not a date"),
    (answer({"2024-03-01": {}}), "2024-03-01: expected currency rates"),
    (answer({"2024-03-01": [1.1]}), "2024-03-01: expected currency rates"),
    (answer({"2024-03-01": {"usd": 1.1}}), "invalid currency 'usd'"),
    (answer({"2024-03-01": {"US1": 1.1}}), "invalid currency 'US1'"),
    (answer({"2024-03-01": {"EURO": 1.1}}), "invalid currency 'EURO'"),
    (answer({"2024-03-01": {"USD": -1.1}}), "rate must be positive"),
    (answer({"2024-03-01": {"USD": 0}}), "rate must be positive"),
    (answer({"2024-03-01": {"USD": "1.1"}}), "USD: not a number: '1.1'"),
    (answer({"2024-03-01": {"USD": None}}), "USD: not a number: None"),
    (answer({"2024-03-01": {"USD": True}}), "USD: not a number: True"),
    (answer({"2024-03-01": {"USD": float("nan")}}), "USD: not a number: nan"),
    (answer({"2024-03-01": {"USD": 1.1234567890123}}), "more than 12 decimals"),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_answers_are_refused_clearly(
    frankfurter: FakeFrankfurter, body: bytes, message: str
) -> None:
    frankfurter.inject(Fault("garbage", body=body))
    with pytest.raises(MalformedRates) as raised:
        source(frankfurter.url).fetch(date(2024, 3, 1), date(2024, 3, 5))
    assert message in str(raised.value)
    assert "/v1/2024-03-01..2024-03-12" in str(raised.value)  # names where it came from
    assert "base=EUR" not in str(raised.value)
    assert len(frankfurter.requests) == 1  # malformed is not retried


def test_a_truncated_answer_is_malformed(frankfurter: FakeFrankfurter) -> None:
    frankfurter.inject(Fault("truncate"))
    with pytest.raises(MalformedRates, match="not JSON"):
        source(frankfurter.url).fetch(date(2024, 1, 1), date(2024, 3, 5))


def test_one_malformed_year_fails_the_whole_fetch(frankfurter: FakeFrankfurter) -> None:
    """Nothing is returned half-validated: a bad later chunk fails after a good first one."""
    frankfurter.inject(Fault("slow", seconds=0), Fault("garbage", body=answer({"x": GOOD_DAY})))
    with pytest.raises(
        MalformedRates, match=re.escape("/v1/2024-01-01..2024-03-12: 'x' is not a date")
    ):
        source(frankfurter.url).fetch(date(2023, 12, 1), date(2024, 3, 5))
    assert len(frankfurter.requests) == 2


def test_a_well_formed_answer_written_by_hand_is_read_exactly(
    frankfurter: FakeFrankfurter,
) -> None:
    """Numbers as a JSON writer may put them: integer, exponent, many decimals."""
    body = b'{"amount":1.0,"base":"EUR","rates":{"2024-03-04":{"ISK":150,"JPY":1.601E2,"GBP":0.85715}}}'
    frankfurter.inject(Fault("garbage", body=body))
    published = source(frankfurter.url).fetch(date(2024, 3, 1), date(2024, 3, 5))
    rates = published.days[date(2024, 3, 4)]
    assert rates == {"ISK": Decimal("150"), "JPY": Decimal("160.1"), "GBP": Decimal("0.85715")}
    assert str(rates["GBP"]) == "0.85715" and str(rates["ISK"]) == "150"
