"""The application factory: engines, token service, routes, error handling and docs."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wealth_pipeline import dashboard
from wealth_pipeline.api.answers import AnswerCache
from wealth_pipeline.api.fast_path import WealthFastPath
from wealth_pipeline.api.login_guard import LoginGuard
from wealth_pipeline.api.routes import (
    accounts,
    auth,
    brokers,
    changes,
    performance,
    profile,
    projection,
    rates,
    session,
    wealth,
)
from wealth_pipeline.api.tokens import Tokens
from wealth_pipeline.security.kdf import KdfParams
from wealth_pipeline.settings import Settings, load_settings
from wealth_pipeline.warehouse import dialect

log = logging.getLogger(__name__)
# The largest request body read: login and refresh bodies are a few hundred bytes.
MAX_BODY_BYTES = 16 * 1024
DESCRIPTION = """\
Read-only access to your wealth: accounts, snapshots, and the marts (net worth history,
breakdowns, holdings) built ahead of time by the pipeline. Money travels as exact decimal
strings, dates as ISO 8601. Log in with the `auth_hash` your client derives from your
password (`GET /api/auth/salt/` gives the salts), then send the access token as
`Authorization: Bearer <token>`.
"""


class SchemaNotCurrent(RuntimeError):
    """The warehouse is missing or behind the code: the read-only API neither creates nor
    migrates it."""


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    tokens: Tokens | None = None,
    login_guard: LoginGuard | None = None,
    fast_path: bool = True,
) -> FastAPI:
    """The API over `database_url` (default: the configured warehouse); `fast_path=False`
    leaves every wealth request to the routes (`api.fast_path`; the tests compare the two).

    Raises `KeyConfigurationError` for an unusable signing key and `SchemaNotCurrent` when
    the warehouse needs `wealth db upgrade`: the API refuses to start rather than fail later.
    """
    from wealth_pipeline.warehouse.engine import (
        WarehouseUnavailable,
        current_revision,
        get_engine,
        head_revision,
        sqlite_path,
    )

    settings = settings or load_settings()
    url = database_url or settings.database_url
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        # Never an empty warehouse made by the API: it would only answer "no data".
        raise SchemaNotCurrent(
            f"there is no warehouse at {path}: create it with `wealth init` (or point "
            "WEALTH_DATABASE_URL at yours)"
        )
    # must_exist: the engines never create the SQLite file, and notice it deleted or
    # replaced while the API runs (a deleted one answers 503; nothing is written into it).
    reader = get_engine(url, readonly=True, migrate=False, must_exist=True)
    try:
        revision = current_revision(reader)
    except WarehouseUnavailable as exc:
        raise SchemaNotCurrent(str(exc)) from None
    if revision != head_revision():
        raise SchemaNotCurrent(
            "the warehouse is not at the newest schema: run `wealth db upgrade` first"
        )
    app = FastAPI(
        title="wealth-pipeline API",
        version="1",
        description=DESCRIPTION,
        openapi_url="/api/schema",
        docs_url=None,
        redoc_url=None,
    )
    if dialect.name(reader) == dialect.POSTGRESQL:
        # Each read is a statement of its own: no BEGIN/ROLLBACK round trips per request.
        reader = reader.execution_options(isolation_level="AUTOCOMMIT")
    app.state.reader = reader
    # Token bookkeeping only (refresh_tokens): short transactions on the writer engine.
    app.state.writer = get_engine(url, migrate=False, must_exist=True)
    app.state.tokens = tokens or Tokens.from_settings(settings)
    app.state.kdf_params = KdfParams.from_settings(settings)
    app.state.login_guard = login_guard or LoginGuard()
    app.state.answers = AnswerCache(settings.api_answer_cache_mib * 1024 * 1024)
    if fast_path:  # innermost: the body limit and the security headers still apply
        app.add_middleware(WealthFastPath, state=app.state)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    for module in (
        auth,
        session,
        profile,
        brokers,
        changes,
        accounts,
        performance,
        wealth,
        projection,
        rates,
    ):
        app.include_router(module.router)
    dashboard.mount(app)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Where and what, never the input itself: a mistyped token or hash is not echoed.
        problems = [
            {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(WarehouseUnavailable)
    async def unavailable(request: Request, exc: WarehouseUnavailable) -> JSONResponse:
        # Locked, unreachable or cut off: a passing state, not a bug. The operator's log
        # gets the sentence (no password); the client only that it may retry.
        log.warning("warehouse unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "the warehouse is unavailable right now: try again shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Logged for the operator (type and place, no request body); the client learns nothing.
        log.error(
            "unhandled %s on %s %s",
            type(exc).__name__,
            request.method,
            request.url.path,
            exc_info=exc,
        )
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        from wealth_pipeline.api.docs import docs_page

        return HTMLResponse(docs_page(app.openapi()))

    return app


class BodyLimit:
    """Refuse request bodies over `limit` bytes (413) before anything parses them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is larger than {self.limit} bytes"
        await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
