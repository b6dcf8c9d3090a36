"""Frankfurter v1: EUR-based ECB rates over HTTP, one range request per calendar year.

Crosses are never taken from the server (it rounds twice); only `base=EUR` ranges are fetched
and the answer is validated before anything is kept.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import httpx

from wealth_pipeline import http, money
from wealth_pipeline.fx.ecb_file import DailyRates, MalformedRates, parse_rate, valid_currency_code
from wealth_pipeline.settings import FRANKFURTER_PUBLIC_URL


def year_chunks(start: date, end: date) -> list[tuple[date, date]]:
    """Split [start, end] at calendar-year boundaries."""
    chunks = []
    year = start.year
    while year <= end.year:
        chunks.append((max(start, date(year, 1, 1)), min(end, date(year, 12, 31))))
        year += 1
    return chunks


def fetch_range(
    client: httpx.Client, base_url: str, start: date, end: date, retry: http.Retry
) -> DailyRates:
    """The EUR rates the server has for [start, end]; {} when it has none (its 404)."""
    url = f"{base_url.rstrip('/')}/{start.isoformat()}..{end.isoformat()}"
    try:
        response = http.get(client, url, params={"base": "EUR"}, retry=retry)
    except http.HttpRefused as exc:
        if exc.status != 404:
            raise
        if _message(exc.body) == "not found":
            return {}
        raise _not_frankfurter(base_url, url, exc) from None
    return parse_range_answer(response.content, http.safe_url(url))


def confirm_api(client: httpx.Client, base_url: str, retry: http.Retry) -> None:
    """Raise unless `base_url` answers `/latest` like Frankfurter v1.

    Frankfurter's 404 `not found` means both "no rates in this range" and "no such path", so
    ranges that all came back empty prove nothing until the API itself is known to be there.
    """
    url = f"{base_url.rstrip('/')}/latest"
    try:
        response = http.get(client, url, params={"base": "EUR"}, retry=retry)
    except http.HttpRefused as exc:
        if exc.status == 404:
            raise _not_frankfurter(base_url, url, exc) from None
        raise
    try:
        answer = money.loads_json(response.content)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("rates"), dict):
        raise MalformedRates(
            f"{http.safe_url(url)}: not a Frankfurter v1 answer; check the base URL "
            f"(e.g. {FRANKFURTER_PUBLIC_URL})"
        )


def _not_frankfurter(base_url: str, url: str, exc: http.HttpRefused) -> http.HttpRefused:
    return http.HttpRefused(
        f"{http.safe_url(url)} answered HTTP {exc.status}: {http.safe_url(base_url)} is not a "
        f"Frankfurter v1 API; check the base URL (e.g. {FRANKFURTER_PUBLIC_URL})",
        exc.status,
        exc.body,
    )


def _message(body: str) -> str | None:
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    return answer.get("message") if isinstance(answer, dict) else None


def parse_range_answer(content: bytes, origin: str) -> DailyRates:
    try:
        answer = money.loads_json(content)
    except ValueError as exc:
        raise MalformedRates(f"{origin}: not JSON ({exc})") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("rates"), dict):
        raise MalformedRates(f"{origin}: no 'rates' object in the answer")
    if answer.get("base") != "EUR":
        raise MalformedRates(f"{origin}: base is {answer.get('base')!r}, expected 'EUR'")
    try:
        amount_is_one = money.to_decimal(answer.get("amount", 1)) == 1
    except (TypeError, ValueError):
        amount_is_one = False
    if not amount_is_one:
        raise MalformedRates(f"{origin}: amount is {answer.get('amount')!r}, expected 1")
    result: DailyRates = {}
    for key, rates in answer["rates"].items():
        try:
            day = date.fromisoformat(key)
        except (TypeError, ValueError):
            raise MalformedRates(f"{origin}: {key!r} is not a date") from None
        if not isinstance(rates, dict) or not rates:
            raise MalformedRates(f"{origin}: {key}: expected currency rates, got {rates!r}")
        day_rates = {}
        for code, value in rates.items():
            if not valid_currency_code(code):
                raise MalformedRates(f"{origin}: {key}: invalid currency {code!r}")
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                raise MalformedRates(f"{origin}: {key} {code}: not a number: {value!r}")
            day_rates[code] = parse_rate(value, f"{origin}: {key} {code}")
        result[day] = day_rates
    return result
