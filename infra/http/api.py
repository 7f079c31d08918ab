"""The queries over HTTP: ``GET /v1/...``, each answer the command line's ``--json`` document.

Every route asks the same service the command line asks (``journey.infra.audit.answers``,
``journey.infra.audit``, ``journey.infra.ingest.rejects``) and takes the command line's
filters as query parameters with the same checks (``journey.infra.parameters``): a bad value
is a 400 ``{"detail": "<param>: <what is wrong> (got <value>)"}``, and so is a parameter the
route does not know (a typo must not silently widen an answer) or a single-valued one given
twice. Each route declares its parameters once (``Param``): they are parsed, checked and
documented in the OpenAPI from that one list. An answer from the views says how fresh it is,
in its ``freshness`` and in the headers ``X-Journey-View-Position`` / ``X-Journey-Log-Head``.

Speed: the answers of the views are kept per state (``memo``); the routes are coroutines
that recall an answer, or ask a short bounded question (a timeline), on the event loop when
the store is a local SQLite file, and send anything longer (a replay, a pass over every row,
PostgreSQL's round trips) to the thread pool, so a slow answer never stalls the others.
A client that accepts gzip gets the kept answer's gzipped bytes (compressed once). The
views' routes are also taken the short way, past FastAPI's routing (``hot``).

Also here: the API's documentation, ``/docs`` (Swagger UI served from the assets the
``fastapi-offline`` wheel ships: no CDN) and ``/openapi.json``, open to all (they describe
the API and hold no data).
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from journey.domain.errors import REASONS, JourneyError, UsageError
from journey.infra import parameters as p
from journey.infra.audit.export import export_events
from journey.infra.audit.history import history as entity_history
from journey.infra.audit.history import parse_ref
from journey.infra.audit.verify import expect_head_hash, verify_log
from journey.infra.audit.window import TimeFilter
from journey.infra.bounds import FORMATS, check_range, lower, upper
from journey.infra.http.access import BEARER, Role, check
from journey.infra.http.hot import QueryRoute, answered, query_routes
from journey.infra.http.memo import Kept
from journey.infra.http.server import engine
from journey.infra.ingest.rejects import reject_pages, rejects_json
from journey.projections.service.queries import STATUSES
from journey.projections.stock import Planning

log = structlog.get_logger("journey.http")

VIEWS = "views (role: analyst)"
AUDIT = "audit (role: auditor)"
#: Where the Swagger UI's JavaScript and CSS are served from (the fastapi-offline wheel's).
DOCS_ASSETS = "/docs-assets"


@dataclass(frozen=True)
class Param:
    """A query parameter: its name, its description, how its text is read, its default."""

    name: str
    description: str
    parse: Callable[[str], Any]
    default: Any = None
    repeat: bool = False  # may be given more than once (a list)

    def openapi(self) -> dict[str, Any]:
        text = {"type": "string"}
        return {"name": self.name, "in": "query", "required": False,
                "description": self.description,
                "schema": {"type": "array", "items": text} if self.repeat else text}


def read(request: Request, params: Sequence[Param]) -> dict[str, Any]:
    """The route's parameters, parsed; an unknown one, or a single one given twice, is
    refused (``UsageError``: a 400)."""
    query = request.query_params
    declared = {param.name: param for param in params}
    for name in query:
        param = declared.get(name)
        if param is None:
            raise p.refusal(name, "not a parameter of this route (it takes "
                            f"{', '.join(declared) or 'none'})", query[name])
        if not param.repeat and len(query.getlist(name)) > 1:
            raise UsageError(f"{name}: given more than once, it takes one value (got "
                             f"{json.dumps(query.getlist(name), ensure_ascii=False)})")
    values = {}
    for param in params:
        if param.repeat:
            given = query.getlist(param.name)
            values[param.name] = [param.parse(v) for v in given] if given else param.default
        else:
            text = query.get(param.name)
            values[param.name] = param.default if text is None else param.parse(text)
    return values


def _upper(name: str) -> Callable[[str], Any]:
    return lambda text: upper(p.bound(name)(text), name)


AS_OF = Param("as_of", "business time: only touchpoints that occurred by the end of "
              f"{FORMATS} (replayed from the log: slower)", _upper("as_of"))
KNOWN_AT = Param("known_at", "record time: only what the engine had stored by the end of this "
                 "month, day or instant (replayed from the log: slower)", _upper("known_at"))
FROM = Param("from", "first month (YYYY-MM; a day or an RFC 3339 instant counts as its month)",
             p.bound("from"))
TO = Param("to", "last month, included (YYYY-MM; a day or instant counts as its month)",
           p.bound("to"))


def window(values: dict[str, Any]) -> TimeFilter:
    """``as_of`` and ``known_at`` (taken out of ``values``), each the end of its period."""
    return TimeFilter(values.pop("as_of", None), values.pop("known_at", None))


async def ask(request: Request, key: tuple[Hashable, ...],
              question: Callable[[Any], dict[str, Any]], when: TimeFilter, *,
              bounded: bool = False) -> Kept:
    """One question to the views (``answer``, the command line's service), ``key`` naming it
    and its parameters. From memory while the views have not moved; ``bounded``: a question
    whose rows an index finds (a timeline), asked on the event loop on SQLite."""
    answers = engine(request).answers
    replay = bool(when.as_of or when.known_at)
    key = (*key, when.as_of, when.known_at)
    if answers.inline and not replay:
        kept = answers.recall(key) or (answers.answer_here(key, question) if bounded else None)
        if kept is not None:
            return kept
    return await run_in_threadpool(answers.answer, key, question, when)


def _route(app: FastAPI, path: str, role: Role, tag: str, summary: str,
           params: Sequence[Param], path_params: Sequence[tuple[str, str]] = ()
           ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``GET path`` for one of ``role``: the function gets the request, the path
    parameters and the query ``params`` parsed, as keyword arguments, and returns the
    ``Response`` or the kept answer (``answered`` sends it). The views' routes (``tag``
    ``VIEWS``: kept answers) are also the short way's (``hot``)."""
    extra = {**BEARER, "parameters": [
        {"name": name, "in": "path", "required": True, "description": description,
         "schema": {"type": "string"}} for name, description in path_params
    ] + [param.openapi() for param in params]}

    defaults = {param.name: param.default for param in params}  # what ``read`` finds in ""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        async def answer(request: Request) -> Any:
            values = read(request, params) if request.scope["query_string"] else {**defaults}
            return await function(request, **request.path_params, **values)

        async def endpoint(request: Request) -> Response:
            check(request, role)  # here, not as a dependency: a third of FastAPI's cost
            result = await answer(request)
            return answered(request, result) if isinstance(result, Kept) else result

        endpoint.__name__ = function.__name__
        app.get(path, tags=[tag], summary=summary, description=function.__doc__,
                openapi_extra=extra, response_class=Response)(endpoint)
        if tag == VIEWS:
            route = app.router.routes[-1]
            assert isinstance(route, APIRoute) and route.path == path
            query_routes(app).append(QueryRoute(route, role, answer))
        return function
    return register


def install(app: FastAPI) -> None:
    """Add the query routes and the documentation pages."""
    _views(app)
    _audit(app)
    _docs(app)


CUSTOMER = ("customer_id", "the customer (1 to 128 characters)")
PLANNING = (
    Param("lead_time", "replenishment lead time, days (> 0, <= 3650; default 7)",
          p.number("lead_time", 0, 3650, "expected days, a number > 0 and <= 3650"), 7.0),
    Param("service_level", "target service level, between 0 and 1 excluded (default 0.95)",
          p.number("service_level", 0, 1, "expected a number between 0 and 1 (both "
                   "excluded)", high_open=True), 0.95),
)


def _views(app: FastAPI) -> None:
    @_route(app, "/v1/customers/{customer_id:path}/timeline", Role.analyst, VIEWS,
            "A customer's journey (journey timeline --json)", (AS_OF, KNOWN_AT), (CUSTOMER,))
    async def timeline(request: Request, customer_id: str, **values: Any) -> Kept:
        """Every touchpoint of the customer in business-time order, errors marked."""
        customer = p.text("customer_id")(customer_id)
        return await ask(request, ("timeline", customer),
                         lambda views: views.timeline(customer), window(values), bounded=True)

    @_route(app, "/v1/customers", Role.analyst, VIEWS,
            "The customers who met the most errors (journey customers --json)",
            (Param("top", "how many (a positive integer; default 10)", p.count("top"), 10),))
    async def customers(request: Request, top: int) -> Kept:
        """The customers with the most touchpoints carrying an error code."""
        return await ask(request, ("customers", top), lambda views: views.customers(top),
                         TimeFilter())

    @_route(app, "/v1/errors", Role.analyst, VIEWS,
            "Error rates, codes, failure demand (journey errors --json)", (
                Param("kind", ", ".join(p.KINDS), p.choice("kind", p.KINDS)), FROM, TO,
                Param("contact_cost", "what one contact costs (a decimal >= 0, at most 2 "
                      "decimals; default JOURNEY_CONTACT_COST): each failure demand row gets "
                      "its cost", p.setting("contact_cost", "contact_cost")),
                AS_OF, KNOWN_AT))
    async def errors(request: Request, **values: Any) -> Kept:
        """Error rates per kind and month, counts per error code, failure demand per month."""
        first, last = p.month_range(values.pop("from"), values.pop("to"), "from", "to")
        kind, cost = values.pop("kind"), values.pop("contact_cost")
        if cost is None:
            cost = engine(request).settings.contact_cost
        return await ask(request, ("errors", kind, first, last, cost),
                         lambda views: views.errors(kind, first, last, contact_cost=cost),
                         window(values))

    @_route(app, "/v1/stock", Role.analyst, VIEWS,
            "Stock levels and reorder points (journey stock --json)", (
                Param("part", "only this part_id", p.text("part")),
                Param("location", "only this location", p.text("location")),
                Param("needs_reorder", "true: only what needs reordering",
                      p.flag("needs_reorder"), False),
                *PLANNING, AS_OF, KNOWN_AT))
    async def stock(request: Request, part: str | None, location: str | None,
                    needs_reorder: bool, lead_time: float, service_level: float,
                    **values: Any) -> Kept:
        """Stock levels per part and location, with days of supply and reorder points."""
        planning = Planning(lead_time_days=lead_time, service_level=service_level)
        return await ask(request, ("stock", part, location, needs_reorder, lead_time,
                                   service_level),
                         lambda views: views.stock(part, location, needs_reorder, planning),
                         window(values))

    @_route(app, "/v1/kpis", Role.analyst, VIEWS, "Service KPIs per month (journey kpis --json)",
            (FROM, TO, AS_OF, KNOWN_AT))
    async def kpis(request: Request, **values: Any) -> Kept:
        """Cases, repairs, parts per month; satisfaction after a service error or not."""
        first, last = p.month_range(values.pop("from"), values.pop("to"), "from", "to")
        return await ask(request, ("kpis", first, last),
                         lambda views: views.kpis(first, last), window(values))

    @_route(app, "/v1/invoices", Role.analyst, VIEWS,
            "Invoices, balances and status (journey invoices --json)", (
                Param("as_of_day", "the reference day of the status, YYYY-MM-DD (default: the "
                      "day of the latest touchpoint)", p.day("as_of_day")),
                Param("status", "list only " + ", ".join(STATUSES) + " invoices",
                      p.choice("status", STATUSES)),
                AS_OF, KNOWN_AT))
    async def invoices(request: Request, as_of_day: Any, status: str | None,
                       **values: Any) -> Kept:
        """Invoices with corrections, payments, balance, reminders and status, and a summary
        per month of issue and currency. Money is exact, as decimal strings."""
        return await ask(request, ("invoices", as_of_day, status),
                         lambda views: views.invoices(as_of_day, status), window(values))


def _audit(app: FastAPI) -> None:
    @_route(app, "/v1/history/{entity:path}", Role.auditor, AUDIT,
            "Every stored event of an entity (journey history --json)", (AS_OF, KNOWN_AT),
            (("entity", "customer:C1, order:O1, invoice:I1, case:K1, repair:R1 or "
              "part:P1@WH1"),))
    async def history(request: Request, entity: str, **values: Any) -> Kept:
        """Log position, record and business time and the state after each event."""
        try:
            parse_ref(entity)
        except JourneyError:
            raise p.refusal("entity", "expected customer:C1, order:O1, invoice:I1, case:K1, "
                            "repair:R1 or part:P1@WH1", entity) from None
        document = await run_in_threadpool(entity_history, engine(request).application,
                                           entity, window(values))
        return Kept.of(document)

    @_route(app, "/v1/rejects", Role.auditor, AUDIT,
            "The rejected lines, raw (journey rejects --json)", (
                Param("all", "true: every reject decision ever made, open or not",
                      p.flag("all"), False),
                Param("reason", "only rejects of this reason (repeatable): "
                      + ", ".join(REASONS), p.choice("reason", REASONS), repeat=True),
                Param("limit", "at most this many (the first, in decision order)",
                      p.count("limit"))))
    async def rejects(request: Request, reason: list[str] | None, limit: int | None,
                      **values: Any) -> StreamingResponse:
        """The open rejects (``all=true``: every one) in decision order, each with its reason,
        detail, provenance and raw line; streamed page by page."""
        pages = reject_pages(engine(request).application.journey_recorder,
                             sorted(set(reason)) if reason else None, limit,
                             open_only=not values["all"])
        # The first page is read now: a database that is gone is a 503, not a cut answer.
        first = await run_in_threadpool(next, pages, None)
        chained = itertools.chain(() if first is None else (first,), pages)
        return StreamingResponse(_encoded(rejects_json(chained)),
                                 media_type="application/json")

    @_route(app, "/v1/audit/verify", Role.auditor, AUDIT,
            "Verify the hash chain and seals (journey audit verify --json)", (
                Param("expect_head", "a head_hash kept from an earlier report (64 hex "
                      "digits): ok only if the verified chain still passes through it",
                      lambda text: _head_hash(text)),))
    async def audit_verify(request: Request, expect_head: str | None) -> Kept:
        """Recompute the hash chain over the whole log and check its HMAC seals (reads every
        event: seconds on a large store). ``ok`` is true only when both hold."""
        report = await run_in_threadpool(
            lambda: verify_log(engine(request).application, expect_head=expect_head))
        log.info("audit.verify", ok=report.ok, chain=report.chain, seals=report.seals,
                 events=report.events)
        document = report.as_json()
        return Kept.of(document)


    @_route(app, "/v1/export", Role.auditor, AUDIT,
            "Selected stored events as an Avro file (journey export -o -)", (
                Param("customer", "only this customer's events (and their repairs' part "
                      "movements)", p.text("customer")),
                Param("from", "occurred at or after the start of this month, day or instant",
                      p.bound("from")),
                Param("to", "occurred at or before the end of this month, day or instant",
                      p.bound("to"))))
    async def export(request: Request, customer: str | None, **values: Any
                     ) -> StreamingResponse:
        """The stored events, byte for byte, with their hashes and the audit chain's, in an
        Avro object container (``journey verify-export`` checks it); in log order, up to the
        log's head when asked."""
        first, last = values["from"], values["to"]
        check_range(first, last, "from", "to")
        spool = tempfile.SpooledTemporaryFile(max_size=EXPORT_IN_MEMORY)  # noqa: SIM115
        try:
            summary = await run_in_threadpool(
                export_events, engine(request).application, cast("BinaryIO", spool),
                customer=customer, start=None if first is None else lower(first, "from"),
                end=None if last is None else upper(last, "to"))
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        log.info("export.done", records=summary.records)
        return StreamingResponse(_chunks(spool), media_type="application/avro", headers={
            "Content-Disposition": 'attachment; filename="journey-export.avro"',
            "X-Journey-Records": str(summary.records),
            "X-Journey-Head-Position": str(summary.head_position)})


#: An export kept in memory up to this size while it is written, on disk beyond.
EXPORT_IN_MEMORY = 16 << 20


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    """The spooled export, in pieces, then gone (it is a temporary file)."""
    with spool:
        while piece := spool.read(1 << 20):
            yield piece


def _head_hash(value: str) -> str:
    try:
        return expect_head_hash(value)
    except ValueError:
        raise p.refusal("expect_head", "expected 64 hex digits, the head_hash of an earlier "
                        "audit verify", value) from None


def _encoded(pieces: Iterator[str]) -> Iterator[bytes]:
    for piece in pieces:
        yield piece.encode("utf-8")


def _docs(app: FastAPI) -> None:
    import fastapi_offline
    from fastapi.staticfiles import StaticFiles

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """The API's documentation page (Swagger UI), with every asset served here."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title="journey API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png")
