"""`http.get` retries what may pass, refuses what won't, waits sensibly, and never leaks tokens.

Real HTTP against the local fake Frankfurter with queued faults; `sleep` is injected so the
backoff is observed instead of waited for.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.fakes.frankfurter import FakeFrankfurter, Fault
from tests.support.fakes.static import Response, StaticServer
from wealth_pipeline import http

SECRET = "SECRET-token-123"
FAST = http.Retry(max_attempts=3, backoff_seconds=0.01)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A client whose timeout is short enough that a slow answer times out quickly."""
    with httpx.Client(timeout=0.2) as client:
        yield client


@pytest.fixture
def static() -> Iterator[StaticServer]:
    with StaticServer() as server:
        yield server


def latest(server: FakeFrankfurter) -> str:
    return f"{server.url}/latest?t={SECRET}"


def let_slow_answers_finish(*faults: Fault) -> None:
    """A timed-out slow answer is still written later; let that happen inside the test, so
    the server's broken-pipe report is captured with it instead of printed after it."""
    time.sleep(max((f.seconds for f in faults), default=0))


class Sleeps(list[float]):
    """Stands in for time.sleep: records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", 500),
        Fault("status", 503),
        Fault("status", 429, headers={"Retry-After": "0"}),
        Fault("slow", seconds=0.3),
        Fault("drop"),
    ],
    ids=["500", "503", "429", "slow", "drop"],
)
def test_transient_failures_are_retried_until_an_answer(
    frankfurter: FakeFrankfurter, client: httpx.Client, fault: Fault
) -> None:
    frankfurter.inject(fault, fault)
    sleeps = Sleeps()
    response = http.get(client, latest(frankfurter), retry=FAST, sleep=sleeps)
    assert response.status_code == 200
    assert response.json()["base"] == "EUR"
    assert len(frankfurter.requests) == 3
    assert len(sleeps) == 2
    let_slow_answers_finish(fault)


def test_an_answer_at_once_needs_no_wait(
    frankfurter: FakeFrankfurter, client: httpx.Client
) -> None:
    sleeps = Sleeps()
    assert http.get(client, latest(frankfurter), retry=FAST, sleep=sleeps).status_code == 200
    assert sleeps == [] and len(frankfurter.requests) == 1


def test_query_params_reach_the_server(frankfurter: FakeFrankfurter, client: httpx.Client) -> None:
    response = http.get(client, f"{frankfurter.url}/latest", params={"base": "EUR"}, retry=FAST)
    assert response.status_code == 200
    assert frankfurter.requests == ["/v1/latest?base=EUR"]


@pytest.mark.parametrize(
    ("fault", "last"),
    [
        (Fault("status", 500), "HTTP 500"),
        (Fault("status", 429, headers={"Retry-After": "0"}), "HTTP 429"),
        (Fault("slow", seconds=0.3), "timed out"),
        (Fault("drop"), "connection failed"),
    ],
    ids=["500", "429", "slow", "drop"],
)
def test_giving_up_names_host_path_and_last_failure_but_not_the_query(
    frankfurter: FakeFrankfurter, client: httpx.Client, fault: Fault, last: str
) -> None:
    frankfurter.inject(fault, fault, fault)
    with pytest.raises(http.HttpGaveUp) as raised:
        http.get(client, latest(frankfurter), retry=FAST, sleep=Sleeps())
    message = str(raised.value)
    host = frankfurter.url.removeprefix("http://").removesuffix("/v1")
    assert host in message and "/v1/latest" in message
    assert "3 attempts" in message and last in message
    assert SECRET not in message and "?" not in message
    # The token did travel: it is the message that leaves it out.
    assert len(frankfurter.requests) == 3
    assert all(SECRET in path for path in frankfurter.requests)
    let_slow_answers_finish(fault)


def test_unreachable_server_is_retried_then_given_up(client: httpx.Client) -> None:
    with StaticServer() as closed:
        url = closed.url(f"/rates?t={SECRET}")
    sleeps = Sleeps()
    with pytest.raises(http.HttpGaveUp, match=r"connection failed \(ConnectError\)") as raised:
        http.get(client, url, retry=FAST, sleep=sleeps)
    assert "/rates" in str(raised.value) and SECRET not in str(raised.value)
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(
    frankfurter: FakeFrankfurter, client: httpx.Client, status: int
) -> None:
    frankfurter.inject(Fault("status", status))
    sleeps = Sleeps()
    with pytest.raises(http.HttpRefused) as raised:
        http.get(client, latest(frankfurter), retry=FAST, sleep=sleeps)
    assert raised.value.status == status
    assert f"HTTP {status}" in str(raised.value) and "/v1/latest" in str(raised.value)
    assert SECRET not in str(raised.value)
    assert len(frankfurter.requests) == 1
    assert sleeps == []


def test_the_servers_own_4xx_keeps_its_body(
    frankfurter: FakeFrankfurter, client: httpx.Client
) -> None:
    """A real 422 from the API (not an injected one), with the server's explanation."""
    with pytest.raises(http.HttpRefused) as raised:
        http.get(client, f"{frankfurter.url}/2024-13-01..2024-12-31", retry=FAST, sleep=Sleeps())
    assert raised.value.status == 422
    assert "invalid date" in str(raised.value) and "invalid date" in raised.value.body
    assert len(frankfurter.requests) == 1


def test_a_refusal_after_retries_stops_at_once(
    frankfurter: FakeFrankfurter, client: httpx.Client
) -> None:
    frankfurter.inject(Fault("status", 502), Fault("status", 401), Fault("status", 500))
    with pytest.raises(http.HttpRefused):
        http.get(client, latest(frankfurter), retry=http.Retry(5, 0.01), sleep=Sleeps())
    assert len(frankfurter.requests) == 2


def test_a_single_attempt_never_sleeps(frankfurter: FakeFrankfurter, client: httpx.Client) -> None:
    frankfurter.inject(Fault("status", 503))
    sleeps = Sleeps()
    with pytest.raises(http.HttpGaveUp, match="after 1 attempts"):
        http.get(client, latest(frankfurter), retry=http.Retry(max_attempts=1), sleep=sleeps)
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [(429, "7", 7.0), (503, "2.5", 2.5), (429, "0", 0.0), (429, "3600", 60.0), (429, "-5", 0.0)],
)
def test_retry_after_is_honoured_and_capped(
    frankfurter: FakeFrankfurter, client: httpx.Client, status: int, header: str, expected: float
) -> None:
    frankfurter.inject(Fault("status", status, headers={"Retry-After": header}))
    sleeps = Sleeps()
    http.get(client, latest(frankfurter), retry=http.Retry(3, 0.01, 60.0), sleep=sleeps)
    assert sleeps == [expected]


def test_unreadable_retry_after_falls_back_to_backoff(
    frankfurter: FakeFrankfurter, client: httpx.Client
) -> None:
    """An HTTP-date Retry-After is not understood: the jittered backoff applies instead."""
    frankfurter.inject(
        Fault("status", 429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    sleeps = Sleeps()
    http.get(client, latest(frankfurter), retry=http.Retry(3, 0.01), sleep=sleeps)
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.01


def test_backoff_ceilings_double_up_to_the_maximum(
    frankfurter: FakeFrankfurter, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the jitter pinned to its top, the waits are the ceilings: 1, 2, 4, 8... capped."""
    ceilings: list[tuple[float, float]] = []

    def top(low: float, high: float) -> float:
        ceilings.append((low, high))
        return high

    monkeypatch.setattr(http.random, "uniform", top)
    frankfurter.inject(*[Fault("status", 500)] * 6)
    sleeps = Sleeps()
    with pytest.raises(http.HttpGaveUp):
        http.get(client, latest(frankfurter), retry=http.Retry(6, 1.0, 10.0), sleep=sleeps)
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert all(low == 0 for low, _ in ceilings)  # full jitter: anywhere from zero


def test_backoff_is_full_jitter_below_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeded draws: every wait lies in [0, ceiling] and they spread over the whole range."""
    monkeypatch.setattr(http, "random", random.Random(20240102))
    retry = http.Retry(max_attempts=8, backoff_seconds=0.5, max_delay_seconds=16.0)
    for attempt in range(1, 9):
        ceiling = min(16.0, 0.5 * 2 ** (attempt - 1))
        delays = [retry.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert min(delays) < 0.1 * ceiling and max(delays) > 0.9 * ceiling
        assert len(set(delays)) == len(delays)


def test_seeded_jitter_gives_the_same_waits_in_a_real_retry_loop(
    frankfurter: FakeFrankfurter, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "random", random.Random(7))
    frankfurter.inject(*[Fault("status", 500)] * 4)
    sleeps = Sleeps()
    http.get(client, latest(frankfurter), retry=http.Retry(5, 0.01), sleep=sleeps)
    expected = random.Random(7)
    assert sleeps == [expected.uniform(0, 0.01 * 2**n) for n in range(4)]


def test_a_redirect_that_is_not_followed_is_refused(static: StaticServer) -> None:
    """A 3xx body is not the answer asked for: fail naming where it points, not parse it."""
    static.redirect("/old", static.url(f"/new?t={SECRET}"), status=301)
    with httpx.Client(timeout=1) as client, pytest.raises(http.HttpRefused) as raised:
        http.get(client, static.url(f"/old?t={SECRET}"), retry=FAST, sleep=Sleeps())
    assert raised.value.status == 301
    assert "HTTP 301" in str(raised.value) and "/new" in str(raised.value)
    assert SECRET not in str(raised.value)
    assert len(static.requests) == 1


def test_a_followed_redirect_gives_the_answer(static: StaticServer) -> None:
    static.redirect("/old", static.url("/new"), status=302)
    static.serve("/new", Response(body=b"rates"))
    with httpx.Client(timeout=1, follow_redirects=True) as client:
        assert http.get(client, static.url("/old"), retry=FAST).content == b"rates"


def test_safe_url_drops_query_fragment_and_credentials() -> None:
    safe = http.safe_url(f"https://ada:{SECRET}@rates.example:8443/v1/latest?t={SECRET}#x")
    assert safe == "https://rates.example:8443/v1/latest"
