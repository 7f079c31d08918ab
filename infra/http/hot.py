"""The answers of the views as the API sends them, and the short way to them.

``answered`` turns a kept answer (``memo.Kept``) into the ``Response`` every query route
sends: its JSON (gzipped, once, for a client that takes gzip), ``Content-Type``,
``Content-Length`` and the freshness headers.

``Shortcut``: a question answered from memory costs the server tens of microseconds, and
FastAPI's path to it (three middlewares of its own and our three, routing, its request
handler) costs several times that; under 50 clients asking at once, that difference is the
queue every request waits in. So the app (``JourneyApp``) hands a ``GET`` that one of the
views' routes matches (``/v1/customers/{id}/timeline``, ``/v1/stock``, ``/v1/errors``, ...)
straight to the route's own function, and does around it what the middlewares and the
router would do for a plain answer:

- the Host rule of an open server (the same check as ``server.LoopbackHosts``);
- the route's token check (``Access.verdict``, the same roles) and parameters (``read``,
  the same checks);
- the same function (``api``), answer and ``Response`` (``answered``);
- the request's latency in the same histogram, under the route's template (``Metrics``).

An exception the answer lets through (a bad parameter, a database that is unreachable, a
bug) is answered by the guard's own function (``server.refuse``: 400, 503 or 500, logged by
route template), as the guard would. The refusals of the Host rule and of the token check
(421, 401, 403) go the long way, through FastAPI, untouched, as does whatever is not a
``GET`` of the views' routes: nothing has been sent at that point (a ``GET`` has no body to
read), so the long way answers the request from its start.

The views' routes are the first the app registers (only ``/openapi.json`` comes before them,
and no other route matches a ``GET /v1/...`` path they match), so the route matched here is
the route FastAPI's router would match.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from journey.infra.http.access import Role
    from journey.infra.http.memo import Kept

log = structlog.get_logger("journey.http")

#: Bodies smaller than this go uncompressed (gzip would not pay for itself).
GZIP_FROM = 4096
_GZIPPED = ((b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding"))


def answered(request: Request, kept: Kept) -> Response:
    """The kept answer: its JSON (gzipped for a client that takes it), freshness in headers."""
    body, headers = kept.body, kept.headers
    if len(body) >= GZIP_FROM and "gzip" in request.headers.get("accept-encoding", ""):
        body, headers = kept.gzipped, (*headers, *_GZIPPED)
    response = Response(body, media_type="application/json")  # length and type
    response.raw_headers[:0] = headers
    return response


@dataclass(frozen=True)
class QueryRoute:
    """A route the short way takes: the route as FastAPI holds it, the role it needs, and
    its answer (the route's function with the path and query parameters read)."""

    route: APIRoute
    role: Role
    answer: Callable[[Request], Awaitable[Kept]]


def query_routes(app: FastAPI) -> list[QueryRoute]:
    """The routes of ``app`` the short way takes (``api`` adds them as it registers them)."""
    routes: list[QueryRoute] | None = getattr(app.state, "query_routes", None)
    if routes is None:
        routes = app.state.query_routes = []
    return routes


#: How the guard answers an exception a route let through (``server.refuse``): the status.
Refuse = Callable[[Exception, Scope, Send], Awaitable[int]]


class Shortcut:
    """The short way of ``app`` (see the module). ``refuse``: the guard's answer to an
    exception; ``allows_host``: the Host rule of an open server (None: tokens are
    configured, any Host is answered)."""

    def __init__(self, app: FastAPI, routes: Sequence[QueryRoute], refuse: Refuse,
                 allows_host: Callable[[Scope], bool] | None, prefix: str = "/v1/") -> None:
        self.app, self.routes, self.refuse = app, routes, refuse
        self.allows_host, self.prefix = allows_host, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer the request if it is a plain answer of one of the routes; False: it was
        not, and nothing was sent (the long way answers it)."""
        started = time.perf_counter()
        engine: Any = getattr(self.app.state, "engine", None)  # None: not started yet
        if (engine is None or scope["method"] != "GET" or scope.get("root_path")
                or not scope["path"].startswith(self.prefix)):
            return False
        for hot in self.routes:  # in the router's order; its own pattern first (cheap)
            if hot.route.path_regex.match(scope["path"]):
                match, child = hot.route.matches(scope)
                if match is Match.FULL:
                    break
        else:
            return False
        if self.allows_host is not None and not self.allows_host(scope):
            return False
        request = Request({**scope, **child, "app": self.app}, receive, send)
        if engine.access.verdict(request, hot.role) != 200:
            return False
        try:
            response = answered(request, await hot.answer(request))
        except HTTPException:  # not raised by these routes' answers: FastAPI words it
            return False
        except Exception as exc:  # a bad parameter, a store that is gone, a bug
            status = await self.refuse(exc, request.scope, send)
        else:
            status = response.status_code
            await self._send(response, request.scope, receive, send)
        engine.metrics.observe(hot.route.path, "GET", status, time.perf_counter() - started)
        return True

    @staticmethod
    async def _send(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await response(scope, receive, send)
        except Exception as exc:  # the client went away: nothing more can be said to it
            log.error("http.answer_cut", route=scope["route"].path, error=type(exc).__name__)
