"""HTTP with retries: exponential backoff with full jitter for what may pass, none for what won't.

Timeouts, connection errors, 429 and 5xx are retried; other 4xx, and redirects the client was
not told to follow, fail at once. Messages name the host and path but never the query string,
where tokens travel.
"""

from __future__ import annotations

import functools
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # httpx loads on use, keeping the Dagster definitions quick to import
    import httpx


class HttpFailure(Exception):
    """A request that did not give a usable answer."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class HttpGaveUp(HttpFailure):
    """Retryable failures until the attempts ran out (`status`, `body`: the last answer's)."""


class HttpRefused(HttpFailure):
    """A 4xx answer (or a redirect the client does not follow) that no retry would change."""


@dataclass(frozen=True)
class Retry:
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_delay_seconds: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay_seconds)
        ceiling = min(self.max_delay_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: each new client would otherwise reload the
    certificate store (~35 ms of CPU, the largest cost of syncing an account)."""
    return ssl.create_default_context()


def safe_url(url: httpx.URL | str) -> str:
    """The URL without its query string and credentials, fit for messages and logs."""
    import httpx

    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(query=None, fragment=None, userinfo=b""))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _redirect_target(response: httpx.Response) -> str:
    import httpx

    try:
        return safe_url(response.url.join(response.headers.get("location", "")))
    except httpx.InvalidURL:
        return "an invalid location"


def get(
    client: httpx.Client,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    retry: Retry = Retry(),
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """GET `url`, retrying transient failures; raise HttpGaveUp or HttpRefused otherwise."""
    return request(client, "GET", url, params=params, retry=retry, sleep=sleep)


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    json: Any = None,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    retry: Retry = Retry(),
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """Send a request, retrying transient failures; raise HttpGaveUp or HttpRefused otherwise.

    Pass `Retry(max_attempts=1)` for requests that must not be repeated (a login, a TAN).
    """
    import httpx

    where = safe_url(url)
    last = ""
    last_status: int | None = None
    last_body = ""
    for attempt in range(1, retry.max_attempts + 1):
        retry_after = None
        try:
            response = client.request(
                method, url, params=params, json=json, data=data, headers=headers
            )
        except httpx.TimeoutException:
            last, last_status, last_body = "timed out", None, ""
        except httpx.TransportError as exc:
            last, last_status, last_body = f"connection failed ({type(exc).__name__})", None, ""
        else:
            status = response.status_code
            if status < 300:
                return response
            body = response.text[:500]
            if status < 400:
                target = _redirect_target(response)
                message = f"{where} answered HTTP {status}, a redirect to {target}"
                raise HttpRefused(message, status, body)
            if status == 429 or status >= 500:
                last, last_status, last_body = f"HTTP {status}", status, body
                retry_after = _retry_after(response)
            else:
                raise HttpRefused(f"{where} answered HTTP {status}: {body.strip()}", status, body)
        if attempt < retry.max_attempts:
            sleep(retry.delay(attempt, retry_after))
    raise HttpGaveUp(
        f"{where}: gave up after {retry.max_attempts} attempts, last: {last}",
        last_status,
        last_body,
    )
