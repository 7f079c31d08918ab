"""The application factory: one store, opened at start-up and shared by every request.

``create_app(settings)`` builds the FastAPI application; each door installs its routes
(``install(app)`` of ``api``, ``intake``, ``dashboard.pages``, ``metrics``). A route reads
what it needs from ``engine(request)``: the settings, the open store, the access rules,
the metrics, and the lock that serializes this process's writers (the store's own writer
lock serializes it with other processes).

Why FastAPI on uvicorn: typed routes and an OpenAPI document from the pydantic the contract
already uses, Starlette's ASGI underneath, and uvicorn (uvloop, httptools) to run it: the
best-kept Python stack for this. Its own cost (~0.1 ms a request for routing, dependencies
and middleware) is why the query routes check their token and parameters themselves
(``api``) rather than through a chain of dependencies, and why the views' answers take a
short way past it (``hot``: the same checks, answers and metrics, a third of the cost).

One ``JourneyApplication`` serves every request. Its datastore hands each thread a pooled
connection of its own (eventsourcing's ``ConnectionPool``; SQLite connections are opened
with ``check_same_thread=False`` and used by one thread at a time), so long questions (a
replay ``as_of``, an ``audit verify``, a pass over every row) run in Starlette's thread pool
and never stall the event loop; short reads of a SQLite store (an answer recalled from
memory, a timeline) run on the loop, on a connection of its own (``api``, ``memo``). The
pool is widened to the thread pool's size at start-up, so no thread waits for a connection.

Every failure that is not an HTTP status of its own becomes one JSON ``{"detail": ...}``
(``Guard``): 400 for a refused value (``UsageError``), 503 with ``Retry-After`` when the
database is unreachable, locked or full, 500 otherwise; never a traceback in a body, and the
log names the route template, never the path (customer ids are personal data).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from journey.domain.errors import JourneyError, UsageError
from journey.infra.http.access import Access
from journey.infra.http.hot import Shortcut, query_routes
from journey.infra.http.memo import Answers
from journey.infra.http.metrics import Metrics, route_template
from journey.infra.settings import Settings, got
from journey.infra.store import JourneyApplication, open_store, store_url
from journey.infra.store.errors import OPERATIONAL_KINDS, operational_failure
from journey.infra.views.live import view_queries

log = structlog.get_logger("journey.http")

#: Threads answering requests at once (Starlette's pool; each holds a pooled connection).
#: Short reads run on the event loop (``memo``); the threads take the long questions, which
#: the GIL serializes anyway, so a dozen is plenty. More would cost memory: each SQLite
#: connection keeps a page cache of up to 64 MiB.
THREADS = 12
#: Seconds a client is told to wait before retrying after a 503.
RETRY_AFTER = 5


@dataclass
class Engine:
    """What every request reads: set on ``app.state.engine`` when the app starts."""

    settings: Settings
    application: JourneyApplication
    access: Access
    metrics: Metrics
    #: Held by a request while it writes (intake): one writer at a time in this process.
    writer: threading.Lock = field(default_factory=threading.Lock)
    #: The views' answers, kept per state (``memo``): what the API and the dashboard ask.
    answers: Answers = field(init=False)

    def __post_init__(self) -> None:
        self.answers = Answers(self.application)


def engine(request: Request) -> Engine:
    """The request's engine (a FastAPI dependency, or called directly)."""
    found: Engine = request.app.state.engine
    return found


def create_app(settings: Settings, access: Access | None = None,
               application: JourneyApplication | None = None,
               hosts: Sequence[str] = ()) -> JourneyApp:
    """The server's application. ``access`` defaults to the tokens ``settings`` configure;
    ``application`` (a store already open, which the caller closes) to opening
    ``settings.db`` at start-up (created when missing, as ``journey ingest`` does).

    An open server (no tokens) answers only requests naming it by a loopback name (or one of
    ``hosts``) in their ``Host`` header: a web page whose own domain an attacker re-points at
    127.0.0.1 (DNS rebinding) must not read the views nor post touchpoints through the
    browser of whoever runs ``journey serve`` on a laptop."""
    from journey import __version__
    from journey.infra.http import api, intake, metrics
    from journey.infra.http.dashboard import pages

    rules = access if access is not None else Access.from_settings(settings)
    measured = Metrics(debug=settings.log_level == "debug")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = application or open_store(settings.db, settings.audit_secret, create=True)
        try:
            prepare(opened)
            measured.watch(opened)
            app.state.engine = Engine(settings, opened, rules, measured)
            yield
            app.state.engine.answers.close()
        finally:
            if application is None:
                opened.close()

    # FastAPI's OpenTelemetry off: /metrics is ours, and its spans would carry request
    # paths (customer ids are personal data) to whatever collector the environment names.
    app = JourneyApp(title="journey", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="The event-sourced customer-journey engine over HTTP: intake, "
                  "queries (each the command line's --json document), dashboard, metrics. "
                  "With tokens configured, every route but /healthz, /docs and /openapi.json "
                  "needs `Authorization: Bearer <token>` of the role its tag names.")
    app.add_exception_handler(RequestValidationError, _invalid)
    for door in (api, intake, pages):
        door.install(app)
    app.add_middleware(Guard)
    names = frozenset((*LOOPBACK_NAMES, *hosts))
    if rules.open:
        app.add_middleware(LoopbackHosts, names=names)
    metrics.install(app, measured)  # outermost: it times the guard's answers too
    app.shortcut = Shortcut(app, query_routes(app), refuse,
                            partial(LoopbackHosts.allows, names) if rules.open else None)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, bool]:
        """Open to all: the process is up and has its store (for probes and tests)."""
        return {"ok": True}

    return app


class JourneyApp(FastAPI):
    """FastAPI, with the short way to the views' plain answers in front (``hot``)."""

    #: ``hot.Shortcut``: True when it answered the request (None: no short way).
    shortcut: Callable[[Scope, Receive, Send], Awaitable[bool]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and self.shortcut is not None
                and await self.shortcut(scope, receive, send)):
            return
        await super().__call__(scope, receive, send)


#: The ``Host`` names an open server answers to ("testserver": Starlette's test client).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "testserver")


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:8000`` -> ``::1``)."""
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class LoopbackHosts:
    """ASGI middleware of an open server: a request whose ``Host`` is not one of ``names``
    is a 421 (it was meant for another server), answered before any route runs."""

    def __init__(self, app: ASGIApp, names: frozenset[str]) -> None:
        self.app, self.names = app, names

    @staticmethod
    def allows(names: frozenset[str], scope: Scope) -> bool:
        """Whether the request names this server by one of ``names`` in its ``Host``."""
        return host_name(_host(scope)).lower().rstrip(".") in names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allows(self.names, scope):
            header = _host(scope)
            await JSONResponse(
                {"detail": f"Host: {header[:100]!r} is not a name of this server; with no "
                 "tokens configured it answers loopback names only (localhost, "
                 "127.0.0.1, [::1])"}, status_code=421)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _host(scope: Scope) -> str:
    """The request's ``Host`` header (the last, if it came more than once)."""
    found = b""
    for name, value in scope["headers"]:
        if name == b"host":
            found = value
    return str(found.decode("latin-1"))


def prepare(application: JourneyApplication) -> None:
    """Once, before the first request: the views' tables made or brought to their current
    layout (so requests skip that check), the thread pool and connection pool sized."""
    import anyio.to_thread

    with view_queries(application):
        pass
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
    pool: Any = getattr(application.journey_recorder.datastore, "pool", None)
    if pool is not None and hasattr(pool, "max_overflow"):  # eventsourcing's SQLite pool
        # Connections beyond pool_size are closed when handed back: under load that is a
        # new connection per request. Keep one per thread instead.
        pool.pool_size = max(pool.pool_size, THREADS)
    elif pool is not None and hasattr(pool, "resize"):  # psycopg_pool (PostgreSQL)
        pool.resize(pool.min_size, max(pool.max_size, THREADS))


class Guard:
    """ASGI middleware: an exception a route lets through becomes one JSON answer (400,
    503 or 500, see the module), logged by route template; never a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started:  # a streamed answer cut short: nothing more can be said to the client
                failure(exc, scope)
                log.error("http.answer_cut", route=route_template(scope), error=type(exc).__name__)
                return
            await refuse(exc, scope, send)


async def refuse(exc: Exception, scope: Scope, send: Send) -> int:
    """Answer the request with what ``exc`` (let through by its route, before anything was
    sent) means: one JSON ``detail`` (see ``failure``); returns the status sent."""
    status, detail = failure(exc, scope)
    headers = [(b"content-type", b"application/json")]
    if status == 503:
        headers.append((b"retry-after", str(RETRY_AFTER).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps({"detail": detail})})
    return status


def failure(exc: Exception, scope: Scope) -> tuple[int, str]:
    """The status and ``detail`` an exception a route let through is answered with."""
    route = route_template(scope)
    if isinstance(exc, UsageError):
        return 400, " ".join(str(exc).split())
    if type(exc).__name__ == "ConnectionUnavailableError":  # eventsourcing's pool: all busy
        log.warning("http.busy", route=route)
        return 503, "the server is busy (no database connection came free in time)"
    operational = operational_failure(exc)
    if operational is not None:
        kind, detail = operational
        app = scope["app"].state.engine.application
        log.warning("http.store_unavailable", route=route, failure=kind)
        return 503, f"{OPERATIONAL_KINDS[kind]} ({store_url(app.env)}): {detail}"
    if isinstance(exc, JourneyError) and str(exc).startswith(tuple(OPERATIONAL_KINDS.values())):
        log.warning("http.store_unavailable", route=route)
        return 503, str(exc)
    debug = scope["app"].state.engine.settings.log_level == "debug"
    log.error("http.internal_error", route=route, error=type(exc).__name__, exc_info=debug)
    if isinstance(exc, JourneyError):
        return 500, " ".join(str(exc).split())
    return 500, f"internal error: {type(exc).__name__} (details in the server's log)"


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own checks (a missing body, a path that is no value) as one 400 line."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    first = errors[0] if errors else {"loc": ("request",), "msg": str(exc)}
    name = str(first["loc"][-1]) if first.get("loc") else "request"
    detail = f"{name}: {first['msg']}"
    if "input" in first:
        detail += f" (got {got(first['input'])})"
    return JSONResponse({"detail": detail}, status_code=400)
