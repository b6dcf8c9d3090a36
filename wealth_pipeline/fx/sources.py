"""Where ECB rates come from: one resource interface, two implementations.

`FrankfurterRates` asks a Frankfurter v1 server (public or self-hosted); `EcbFileRates` reads
the ECB's own file from a path or URL; `ExcerptThenLive` (the embedded default) reads the
excerpt shipped in the package for the days it holds and asks Frankfurter only for later
days, so a fresh install is fast and offline for the past and current whenever it is online. Both answer `fetch(start, end)` with the rates published in that window plus the
latest day the source knows, so a missing business day can be told apart from one the ECB
has not published yet.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import replace
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
from wealth_pipeline.fx.published import PublishedRates

# How far past the requested end a source looks, to learn whether the ECB has moved on.
LOOKAHEAD = timedelta(days=7)
USER_AGENT = "wealth-pipeline (+https://github.com/wealth-pipeline)"


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


class ExcerptThenLive(RatesSource):
    """The embedded default: the shipped excerpt for its days, Frankfurter v1 for later ones.

    `offline` (WEALTH_OFFLINE) never opens a connection. When the live part cannot be reached
    the excerpt's days are still answered and `unreachable` says where rates stop and how to
    get more, so a refresh skips the later days with that sentence instead of failing.
    """

    excerpt: str = str(SHIPPED_ECB_EXCERPT)
    base_url: str
    offline: bool = False
    timeout_seconds: float = 20.0
    max_attempts: int = 3
    backoff_seconds: float = 1.0

    def describe(self) -> str:
        if self.offline:
            return "the ECB excerpt shipped in the package (offline)"
        return f"the shipped ECB excerpt, then Frankfurter at {http.safe_url(self.base_url)}"

    def excerpt_end(self) -> date | None:
        return EcbFileRates(location=self.excerpt).fetch(date.max, date.max).latest_day

    def fetch(self, start: date, end: date) -> PublishedRates:
        shipped = EcbFileRates(location=self.excerpt).fetch(start, end)
        last = shipped.latest_day
        if last is None or end <= last:
            return shipped
        first_live = max(start, last + timedelta(days=1))
        stop = (
            f"Rates stop on {last.isoformat()}, the last day of the ECB excerpt shipped in "
            "the package"
        )
        if self.offline:
            return replace(
                shipped,
                unreachable=f"{stop}: WEALTH_OFFLINE is on, so no live source is asked. Unset "
                "it (or set WEALTH_FX_SOURCE=frankfurter) to get later rates.",
            )
        live_source = FrankfurterRates(
            base_url=self.base_url,
            timeout_seconds=self.timeout_seconds,
            max_attempts=min(self.max_attempts, 3),
            backoff_seconds=self.backoff_seconds,
        )
        try:
            live = live_source.fetch(first_live, end)
        except http.HttpFailure as exc:
            reason = (
                str(exc).rpartition("last: ")[2] if exc.status is None else f"HTTP {exc.status}"
            )
            return replace(
                shipped,
                unreachable=f"{stop}, and {live_source.describe()} could not be reached "
                f"({reason}). Run the refresh again when online, or set WEALTH_OFFLINE=true "
                "to stay on the excerpt.",
            )
        days = {**shipped.days, **live.days}
        return PublishedRates(
            source="ecb_file+frankfurter",
            start=start,
            end=end,
            days=days,
            latest_day=max(filter(None, (last, live.latest_day))),
            earliest_day=shipped.earliest_day,
            requests=live.requests,
            currencies=frozenset(code for rates in days.values() for code in rates),
        )


def shipped_excerpt_end(settings: Settings) -> date | None:
    """The last day rates can come from when the source is the excerpt shipped in the package
    and nothing live follows it: the excerpt itself, or the default with WEALTH_OFFLINE on.

    That file never grows (the demo's clock ends on its last day): schedules use this to skip
    days it cannot have instead of failing on them every evening. None for a live source
    (the default online, Frankfurter, or an ECB file of your own, which may be refreshed).
    """
    shipped = settings.ecb_file == str(SHIPPED_ECB_EXCERPT)
    if settings.fx_source == "ecb_file" and shipped:
        return EcbFileRates(location=settings.ecb_file).fetch(date.max, date.max).latest_day
    if settings.fx_source == "auto" and settings.offline:
        return EcbFileRates(location=settings.ecb_file).fetch(date.max, date.max).latest_day
    return None


def source_for(settings: Settings) -> RatesSource:
    """The rate source the settings choose (`WEALTH_FX_SOURCE`, `WEALTH_OFFLINE`)."""
    common = {
        "timeout_seconds": settings.http_timeout_seconds,
        "max_attempts": settings.http_max_attempts,
        "backoff_seconds": settings.http_backoff_seconds,
    }
    if settings.fx_source == "frankfurter":
        return FrankfurterRates(base_url=settings.frankfurter_url, **common)
    if settings.fx_source == "auto":
        return ExcerptThenLive(
            excerpt=settings.ecb_file,
            base_url=settings.frankfurter_url,
            offline=settings.offline,
            **common,
        )
    return EcbFileRates(location=settings.ecb_file, **common)
