"""The read-only web dashboard: static files served by `wealth api` at `/`.

No build step: plain HTML, CSS and JavaScript modules shipped in the package, plus one
vendored chart library (uPlot, `static/vendor/uplot/`, refreshed by
`scripts/vendor-dashboard`). Every page reads the JSON API of the same origin; a strict
Content-Security-Policy forbids inline scripts and any other origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    b"content-security-policy": CONTENT_SECURITY_POLICY.encode(),
    b"x-content-type-options": b"nosniff",
    # The sign-in code travels in the URL fragment, which no Referer carries; say it anyway.
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
}
# Page addresses the dashboard's router owns (each answers the same page).
PAGES = ("/", "/signin")


class SecurityHeaders:
    """Add the dashboard's security headers to every answer (the API's JSON included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def mount(app: FastAPI) -> None:
    """Serve the dashboard's pages and files beside the API."""
    index = STATIC / "index.html"

    def page() -> FileResponse:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    for path in PAGES:
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="dashboard-static")
    app.add_middleware(SecurityHeaders)
