"""A local HTTP server answering fixed responses by path: files (the ECB's zip or CSV), error
pages, redirects.

Each path has a list of responses served in order, the last one repeating, so "503 then the
file" is one call; a response may hang first (`delay_seconds`). Unknown paths get an HTML 404
page, as a web server or proxy would answer.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

NOT_FOUND_PAGE = (
    b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"
    delay_seconds: float = 0.0  # a server that hangs before answering


class StaticServer:
    def __init__(self) -> None:
        self.routes: dict[str, list[Response]] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def start(self) -> StaticServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StaticServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve(self, path: str, *responses: Response) -> str:
        """Answer `path` with `responses` in order (the last repeats); return its URL."""
        with self._lock:
            self.routes[path] = list(responses)
        return self.url(path)

    def serve_file(self, path: str, file: str | Path) -> str:
        """Answer `path` with the file's bytes as they are now."""
        return self.serve(path, Response(body=Path(file).read_bytes()))

    def redirect(self, path: str, target: str, status: int = 301) -> str:
        return self.serve(path, Response(status, headers={"Location": target}))

    def _next(self, path: str) -> Response:
        with self._lock:
            responses = self.routes.get(path)
            if not responses:
                return Response(404, NOT_FOUND_PAGE, content_type="text/html")
            return responses.pop(0) if len(responses) > 1 else responses[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append(self.path)
                response = server._next(urlsplit(self.path).path)
                if response.delay_seconds:
                    time.sleep(response.delay_seconds)
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(response.body)

        return Handler
