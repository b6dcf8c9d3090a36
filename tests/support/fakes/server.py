"""The base of every local fake service: a real HTTP server on 127.0.0.1 with a request log and
queued faults, so each fake only writes its protocol (`route`).

Faults are consumed one per request, before the protocol answers: an HTTP status, a slow
answer, garbage, a truncated body, a dropped connection, or HTML where JSON/XML was expected.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HTML_ERROR_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def free_port() -> int:
    """A port nothing listens on right now, for a server that must be told its port up front."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Fault:
    kind: str  # "status", "slow", "garbage", "truncate", "drop", "html"
    status: int = 500
    seconds: float = 0.0
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str | list[str]] = field(default_factory=dict)  # a list: repeated

    @classmethod
    def json(
        cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return cls(status, json.dumps(payload).encode(), "application/json", headers or {})

    @classmethod
    def xml(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), "text/xml")


class FakeService:
    """Subclass and implement `route`; use as a context manager or `start()`/`stop()`."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- to implement ----------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def paths(self) -> list[str]:
        with self._lock:
            return [request.path for request in self.requests]

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args: object) -> None:
                pass

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a timeout test)

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                with service._lock:
                    service.requests.append(request)
                fault = service._next_fault()
                if fault and fault.kind == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault and fault.kind == "slow":
                    time.sleep(fault.seconds)
                response = service.route(request)
                if fault and fault.kind == "status":
                    response = Response.json(
                        {"error": "injected fault"}, fault.status, fault.headers
                    )
                elif fault and fault.kind == "html":
                    response = Response(
                        fault.status if fault.status != 500 else 200, HTML_ERROR_PAGE, "text/html"
                    )
                elif fault and fault.kind == "garbage":
                    response = Response(200, fault.body or b"\x00garbage{", response.content_type)
                elif fault and fault.kind == "truncate":
                    response = Response(
                        response.status,
                        response.body[: max(1, len(response.body) // 2)],
                        response.content_type,
                        response.headers,
                    )
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                for name, value in response.headers.items():
                    for one in value if isinstance(value, list) else [value]:
                        self.send_header(name, one)
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return Handler
