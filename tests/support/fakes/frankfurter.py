"""A local Frankfurter v1 server over ECB data, with fault injection.

Reproduces what the client relies on: `/latest`, `/YYYY-MM-DD` (14-day look-back, `date`
is the business day used), ranges `/A..B` and `/A..` (start snaps back to the nearest earlier
day with data, then only ECB days), `/currencies`, 404 `not found` and 422 errors, and
non-EUR bases rounded the way the real server rounds. Faults are queued and each is used by
one request: an HTTP status, a slow answer, garbage, a truncated body, a dropped connection.
Also used by `bench/fx_backfill` with the full ECB history.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from wealth_pipeline.fx.ecb_file import DailyRates, read_ecb_bytes

LOOKBACK = timedelta(days=14)
FIRST_DAY = date(1999, 1, 4)


@dataclass
class Fault:
    kind: str  # "status", "slow", "garbage", "truncate", "drop"
    status: int = 500
    seconds: float = 0.0
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _band(value: Decimal) -> Decimal:
    """The real server's rounding bands for non-EUR bases and amounts."""
    places = 6
    if value > 5000:
        places = 0
    elif value > 80:
        places = 2
    elif value > 20:
        places = 3
    elif value > 1:
        places = 4
    elif value > Decimal("0.0001"):
        places = 5
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


class FakeFrankfurter:
    def __init__(self, rates: DailyRates, prefix: str = "/v1") -> None:
        self.rates = rates
        self.days = sorted(rates)
        self.prefix = prefix.rstrip("/")
        self.faults: list[Fault] = []
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @classmethod
    def from_file(cls, path: str | Path, prefix: str = "/v1") -> FakeFrankfurter:
        return cls(read_ecb_bytes(Path(path).read_bytes(), str(path)), prefix)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    def start(self) -> FakeFrankfurter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    # --- the v1 API -------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict]:
        if not path.startswith(self.prefix + "/"):
            return 404, {"message": "not found"}
        route = path[len(self.prefix) + 1 :]
        base = (query.get("from") or query.get("base") or ["EUR"])[0].upper()
        symbols_raw = (query.get("to") or query.get("symbols") or [""])[0]
        symbols = [s.upper() for s in symbols_raw.split(",") if s]
        try:
            amount = Decimal((query.get("amount") or ["1"])[0])
        except ArithmeticError:
            return 422, {"message": "invalid amount"}
        if not amount.is_finite() or amount <= 0:
            return 422, {"message": "invalid amount"}
        if base in symbols:
            return 422, {"message": "bad currency pair"}
        if route == "currencies":
            return 200, {code: code for code in self._recent_currencies()}
        if route == "latest":
            return self._single(self.days[-1], base, symbols, amount)
        if ".." in route:
            start_text, _, end_text = route.partition("..")
            start = _parse_date(start_text)
            end = _parse_date(end_text) if end_text else self.days[-1]
            if start is None or end is None:
                return 422, {"message": "invalid date"}
            return self._range(start, end, base, symbols, amount)
        day = _parse_date(route)
        if day is None:
            return 422, {"message": "invalid date"}
        return self._single(day, base, symbols, amount)

    def _recent_currencies(self) -> list[str]:
        cutoff = self.days[-1] - LOOKBACK
        return sorted({c for d in self.days if d >= cutoff for c in self.rates[d]})

    def _convert(
        self, rates: dict[str, Decimal], base: str, symbols: list[str], amount: Decimal
    ) -> dict[str, Decimal] | None:
        if base != "EUR":
            if base not in rates:
                return None
            divisor = rates[base]
            quoted = {"EUR": Decimal(1), **rates}
            quoted.pop(base)
            converted = {c: _band(_band(amount * r) / divisor) for c, r in quoted.items()}
        elif amount != 1:
            converted = {c: _band(amount * r) for c, r in rates.items()}
        else:
            converted = dict(rates)
        if symbols:
            converted = {c: v for c, v in converted.items() if c in symbols}
        return converted or None

    def _single(
        self, day: date, base: str, symbols: list[str], amount: Decimal
    ) -> tuple[int, dict]:
        index = bisect.bisect_right(self.days, day) - 1
        if index < 0 or self.days[index] < day - LOOKBACK:
            return 404, {"message": "not found"}
        used = self.days[index]
        merged: dict[str, Decimal] = {}
        for earlier in self.days[bisect.bisect_left(self.days, day - LOOKBACK) : index + 1]:
            merged.update(self.rates[earlier])
        converted = self._convert(merged, base, symbols, amount)
        if converted is None:
            return 404, {"message": "not found"}
        return 200, {"amount": amount, "base": base, "date": used.isoformat(), "rates": converted}

    def _range(
        self, start: date, end: date, base: str, symbols: list[str], amount: Decimal
    ) -> tuple[int, dict]:
        # The start snaps back to the nearest earlier day with data.
        first = max(bisect.bisect_right(self.days, start) - 1, 0)
        last = bisect.bisect_right(self.days, end)
        selected = self.days[first:last]
        answer: dict[str, dict[str, Decimal]] = {}
        for day in selected:
            converted = self._convert(self.rates[day], base, symbols, amount)
            if converted:
                answer[day.isoformat()] = converted
        if not answer:
            return 404, {"message": "not found"}
        return 200, {
            "amount": amount,
            "base": base,
            "start_date": selected[0].isoformat(),
            "end_date": selected[-1].isoformat(),
            "rates": answer,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                with fake._lock:
                    fake.requests.append(self.path)
                fault = fake._next_fault()
                if fault and fault.kind == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault and fault.kind == "slow":
                    time.sleep(fault.seconds)
                status, payload = fake.answer(parts.path, parse_qs(parts.query))
                body = dumps(payload).encode()
                if fault and fault.kind == "status":
                    status, body = fault.status, json.dumps({"message": "fault"}).encode()
                elif fault and fault.kind == "garbage":
                    body = fault.body or b"<html>Bad gateway</html>"
                elif fault and fault.kind == "truncate":
                    body = body[: max(1, len(body) // 2)]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (fault.headers if fault else {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler


def dumps(value: object) -> str:
    """JSON with Decimals written as the exact numbers they are (as the real server does)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value)


def _parse_date(text: str) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day
