"""The wealth endpoints' plain requests answered without the framework's per-request work.

A `GET /api/wealth/{summary,history,breakdown,holdings}/` with a bearer token and a plain,
valid query is what the dashboard and API clients send over and over. Routing, dependency
solving and parameter validation cost about as much as the history query itself, so such a
request is answered here, through the same code the routes use (`routes.wealth.answer`: the
user checked on every request, the ETag, the 304, the kept answers) with the token's
verification remembered for its lifetime (`Tokens.access_claims`).

Anything else goes on to the framework unchanged: another path or method, a query that is
not in its plainest valid form, no `Bearer` token, and every refusal or error (a bad or
revoked token, an unavailable warehouse, a bug), which the routes then answer with their
usual status, body and log line. Nothing is sent before the answer is complete, and nothing
is written, so handing a request on is always safe. It runs inside the other middleware:
the body limit and the security headers apply as before.
"""

from __future__ import annotations

from starlette.datastructures import State
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from wealth_pipeline.api.routes.wealth import answer, fast_render

PREFIX = "/api/wealth/"
BEARER = b"Bearer "


class WealthFastPath:
    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].startswith(PREFIX)
        ):
            response = await self._answer(scope)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope) -> Response | None:
        render = fast_render(scope["path"], scope["query_string"])
        if render is None:
            return None
        authorization = if_none_match = None
        for name, value in scope["headers"]:  # the first of each, as the framework reads them
            if name == b"authorization" and authorization is None:
                authorization = value
            elif name == b"if-none-match" and if_none_match is None:
                if_none_match = value
        if authorization is None or not authorization.startswith(BEARER):
            return None
        try:
            claims = self.state.tokens.access_claims(
                authorization[len(BEARER) :].decode("latin-1").strip()
            )
            return await answer(
                self.state,
                claims,
                scope["path"],
                scope["query_string"],
                None if if_none_match is None else if_none_match.decode("latin-1"),
                render,
            )
        except Exception:  # refused or failed: the framework answers it (status, body, log)
            return None
