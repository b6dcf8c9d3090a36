"""Where ECB rates come from: one resource interface, two implementations.

`FrankfurterRates` asks a Frankfurter v1 server (public or self-hosted); `EcbFileRates` reads
the ECB's own file from a path or URL (the embedded default reads the excerpt shipped in the
package). Both answer `fetch(start, end)` with the rates published in that window plus the
latest day the source knows, so a missing business day can be told apart from one the ECB
has not published yet.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from wealth_pipeline import http
from wealth_pipeline.settings import SHIPPED_ECB_EXCERPT, Settings

if TYPE_CHECKING:
    import httpx
from wealth_pipeline.fx import frankfurter
from wealth_pipeline.fx.ecb_file import DailyRates, read_ecb_bytes

# How far past the requested end a source looks, to learn whether the ECB has moved on.
LOOKAHEAD = timedelta(days=7)
USER_AGENT = "wealth-pipeline (+https://github.com/wealth-pipeline)"


@dataclass(frozen=True)
class PublishedRates:
    source: str
    start: date
    end: date
    days: DailyRates  # only days within [start, end]
    latest_day: date | None  # the newest day the source has, possibly after `end`
    earliest_day: date | None = None  # the oldest day the source has, possibly before `start`
    requests: int = 0
    currencies: frozenset[str] = field(default_factory=frozenset)


def _window(
    all_days: DailyRates, start: date, end: date, source: str, requests: int
) -> PublishedRates:
    kept = {day: rates for day, rates in all_days.items() if start <= day <= end}
    currencies = frozenset(code for rates in kept.values() for code in rates)
    return PublishedRates(
        source=source,
        start=start,
        end=end,
        days=kept,
        latest_day=max(all_days) if all_days else None,
        earliest_day=min(all_days) if all_days else None,
        requests=requests,
        currencies=currencies,
    )


def _client(timeout_seconds: float) -> httpx.Client:
    import httpx

    """Redirects are followed: moved hosts (api.frankfurter.app, mirrors) answer with them."""
    return httpx.Client(
        timeout=timeout_seconds,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=True,
        verify=http.tls_context(),
    )


class RatesSource(dg.ConfigurableResource, ABC):
    """A source of EUR-based ECB reference rates."""

    @abstractmethod
    def fetch(self, start: date, end: date) -> PublishedRates: ...

    @abstractmethod
    def describe(self) -> str: ...


class FrankfurterRates(RatesSource):
    """Frankfurter v1 over HTTP: at most one range request per calendar year."""

    base_url: str
    timeout_seconds: float = 20.0
    max_attempts: int = 5
    backoff_seconds: float = 1.0

    def describe(self) -> str:
        return f"Frankfurter at {http.safe_url(self.base_url)}"

    def fetch(self, start: date, end: date) -> PublishedRates:
        retry = http.Retry(max_attempts=self.max_attempts, backoff_seconds=self.backoff_seconds)
        chunks = frankfurter.year_chunks(start, end)
        last_start, _ = chunks[-1]
        chunks[-1] = (last_start, end + LOOKAHEAD)
        found: DailyRates = {}
        requests = len(chunks)
        with _client(self.timeout_seconds) as client:
            for chunk_start, chunk_end in chunks:
                found.update(
                    frankfurter.fetch_range(client, self.base_url, chunk_start, chunk_end, retry)
                )
            if not found:
                # Its 404 also answers unknown paths: an empty answer must come from the API.
                frankfurter.confirm_api(client, self.base_url, retry)
                requests += 1
        return _window(found, start, end, "frankfurter", requests)


_file_cache: dict[tuple[str, int, int], DailyRates] = {}
_file_lock = threading.Lock()


class EcbFileRates(RatesSource):
    """The ECB's `eurofxref-hist.zip`/`.csv` from a local path or an http(s) URL."""

    location: str
    timeout_seconds: float = 60.0
    max_attempts: int = 5
    backoff_seconds: float = 1.0

    def describe(self) -> str:
        if self.location.startswith(("http://", "https://")):
            return f"ECB file at {http.safe_url(self.location)}"
        return f"ECB file {self.location}"

    def fetch(self, start: date, end: date) -> PublishedRates:
        all_days, requests = self._read()
        return _window(all_days, start, end, "ecb_file", requests)

    def _read(self) -> tuple[DailyRates, int]:
        if self.location.startswith(("http://", "https://")):
            retry = http.Retry(max_attempts=self.max_attempts, backoff_seconds=self.backoff_seconds)
            with _client(self.timeout_seconds) as client:
                response = http.get(client, self.location, retry=retry)
            return read_ecb_bytes(response.content, http.safe_url(self.location)), 1
        path = Path(self.location).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ECB rate file not found: {path} (check WEALTH_ECB_FILE)")
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        with _file_lock:
            if key not in _file_cache:
                _file_cache.clear()
                _file_cache[key] = read_ecb_bytes(path.read_bytes(), str(path))
            return _file_cache[key], 0


def shipped_excerpt_end(settings: Settings) -> date | None:
    """The last day of the ECB excerpt shipped in the package when it is the rate source.

    That file never grows (the demo's clock ends on its last day): schedules use this to skip
    days it cannot have instead of failing on them every evening. None for a live source
    (Frankfurter, or an ECB file of your own, which may be refreshed).
    """
    if settings.fx_source != "ecb_file" or settings.ecb_file != str(SHIPPED_ECB_EXCERPT):
        return None
    return EcbFileRates(location=settings.ecb_file).fetch(date.max, date.max).latest_day
