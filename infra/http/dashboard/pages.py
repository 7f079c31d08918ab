"""The dashboard's pages: the overview ``/``, a customer's journey ``/customers/{id}``, the
stock ``/stock``, and signing in with a token (``/login``, ``/logout``).

Each page asks the API's own questions (``journey.infra.audit.answers.answer``) with the
API's checks of its parameters (``journey.infra.parameters``; a bad one is a 400 page naming
it) and says how fresh its figures are. Pages need the analyst role, as the API's views do:
the token comes from the ``journey_token`` cookie ``/login`` sets (HttpOnly, SameSite=Strict,
Secure over https), which ``access`` reads for GET only. A page asked for without a valid
token is redirected to ``/login``; the API's 401 stays JSON. With no token configured the
server is open and nobody signs in.

Every answer carries a Content-Security-Policy that allows no script and nothing from
elsewhere (the charts are inline SVG, the stylesheet is ``/static``), no referrer to other
sites (customer ids are in the addresses) and no caching.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from journey import __version__
from journey.domain.errors import UsageError
from journey.infra import parameters as p
from journey.infra.audit.answers import answer
from journey.infra.http.access import COOKIE, Role, require
from journey.infra.http.dashboard import charts
from journey.infra.http.dashboard.overview import OverviewFilter, overview_html
from journey.infra.http.dashboard.rendering import STATIC, render
from journey.infra.http.server import engine
from journey.projections.stock import Planning

log = structlog.get_logger("journey.http")

CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
           "X-Frame-Options": "DENY"}
#: The routes that are pages a person opens: a refused token sends them to ``/login``.
PAGES = frozenset({"/", "/customers", "/customers/{customer_id:path}", "/stock"})
#: The largest sign-in form read (a token is 46 characters).
MAX_FORM = 4096

_ANALYST = [Depends(require(Role.analyst))]


def page(html: str, status: int = 200) -> HTMLResponse:
    """A page with the dashboard's headers."""
    return HTMLResponse(html, status, headers=HEADERS)


def _common(request: Request, **context: Any) -> dict[str, Any]:
    """What the base template takes besides the page's own figures."""
    access = engine(request).access
    return {"report": False, "version": __version__,
            "signed_in": not access.open and bool(request.cookies.get(COOKIE)), **context}


def _message(request: Request, status: int, title: str, text: str, **more: Any) -> HTMLResponse:
    return page(render("message.html", **_common(request, title=title, text=text,
                                                 status=status, active="", **more)), status)


def _given(request: Request, name: str) -> str | None:
    """A query parameter, an empty one (a form's blank field) as not given."""
    value = request.query_params.get(name)
    return value if value not in (None, "") else None


def _refused(request: Request, exc: UsageError, title: str = "That filter is not valid"
             ) -> HTMLResponse:
    """A 400 page naming the parameter; back to the page without its filters, if any."""
    more = {"back": request.url.path} if request.url.path != "/" else {}
    if request.scope.get("path_params"):
        more = {}  # the path itself was refused: there is nothing to go back to
    return _message(request, 400, title, " ".join(str(exc).split()), **more)


def install(app: FastAPI) -> None:
    """Add the pages, the stylesheet, and the redirect to ``/login`` for a page refused."""
    app.mount("/static", StaticFiles(directory=STATIC), name="dashboard-static")
    _install_pages(app)
    _install_login(app)

    async def refused(request: Request, exc: Exception) -> Response:
        """401 on a page: to ``/login`` and back; 403: a page that says why. The API's
        refusals are answered as before (JSON)."""
        route = getattr(request.scope.get("route"), "path", None)
        if not isinstance(exc, HTTPException) or route not in PAGES:
            # whoever answers other refusals (looked up now: it may be set after us)
            others = request.app.exception_handlers.get(HTTPException, http_exception_handler)
            answered = others(request, exc)
            found: Response = await answered if inspect.isawaitable(answered) else answered
            return found
        if exc.status_code == 401:
            return RedirectResponse("/login?next=" + quote(_here(request), safe=""), 303,
                                    headers=HEADERS)
        return _message(request, 403, "This token may not read the dashboard",
                        "The dashboard needs a token with the analyst role. Sign in with "
                        "another token.", sign_in=_here(request))

    for status in (401, 403):
        app.add_exception_handler(status, refused)


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _install_pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False, dependencies=_ANALYST)
    def overview(request: Request) -> HTMLResponse:
        """Error rates, failure demand, KPIs, overdue invoices, parts to reorder, the
        worst-served customers."""
        try:
            first, last = p.month_range(_given(request, "from"), _given(request, "to"),
                                        "from", "to")
            cost = _given(request, "contact_cost")
            chosen = OverviewFilter(first, last, p.setting("contact_cost", "contact_cost")(cost)
                                    if cost is not None else engine(request).settings.contact_cost)
        except UsageError as exc:
            return _refused(request, exc)
        served = engine(request)
        html = overview_html(served.application, chosen, ready=True,
                             recall=served.answers.ask, **_common(request))
        return page(html)

    @app.get("/customers", include_in_schema=False, dependencies=_ANALYST)
    def find_customer(request: Request) -> Response:
        """The header's search box: to the customer's page."""
        customer = _given(request, "id")
        if customer is None:
            return RedirectResponse("/", 303)
        return RedirectResponse("/customers/" + quote(customer, safe=""), 303)

    @app.get("/customers/{customer_id:path}", include_in_schema=False, dependencies=_ANALYST)
    def customer(request: Request, customer_id: str) -> HTMLResponse:
        """A customer's journey: every touchpoint in business-time order, errors marked."""
        try:
            chosen = p.text("customer_id")(customer_id)
        except UsageError as exc:
            return _refused(request, exc, "That is not a customer id")
        journey = answer(engine(request).application, lambda v: v.timeline(chosen), ready=True)
        entries = journey["entries"]
        context = _common(request, customer_id=chosen, journey=journey, active="customer",
                          days=_by_day(entries), facts=_facts(entries),
                          freshness=journey["freshness"])
        return page(render("customer.html", **context), 200 if entries else 404)

    @app.get("/stock", include_in_schema=False, dependencies=_ANALYST)
    def stock(request: Request) -> HTMLResponse:
        """Stock per part and location, with days of supply and reorder points."""
        try:
            chosen = _stock_filter(request)
        except UsageError as exc:
            return _refused(request, exc)
        levels = answer(engine(request).application,
                        lambda v: v.stock(chosen["part"], chosen["location"],
                                          chosen["needs_reorder"], chosen["planning"]),
                        ready=True)
        items = levels["items"]
        places = charts.location_totals(items)
        context = _common(request, items=items, chosen=chosen, active="stock",
                          issued_key=chosen["planning"].issued_key, totals=_stock_totals(items),
                          places=places, chart=charts.reorder_by_location(places),
                          freshness=levels["freshness"])
        return page(render("stock.html", **context))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


def _stock_filter(request: Request) -> dict[str, Any]:
    """The stock page's filters, checked as ``GET /v1/stock`` checks them."""
    def given(name: str, parse: Callable[[str], Any], default: Any = None) -> Any:
        value = _given(request, name)
        return default if value is None else parse(value)

    planning = Planning(
        lead_time_days=given("lead_time", p.number(
            "lead_time", 0, 3650, "expected days, a number > 0 and <= 3650"), 7.0),
        service_level=given("service_level", p.number(
            "service_level", 0, 1, "expected a number between 0 and 1 (both excluded)",
            high_open=True), 0.95))
    return {"part": given("part", p.text("part")), "location": given("location",
                                                                      p.text("location")),
            "needs_reorder": given("needs_reorder", p.flag("needs_reorder"), False),
            "planning": planning}


def _stock_totals(items: list[Mapping[str, Any]]) -> dict[str, int]:
    return {"pairs": len(items),
            "reorder": sum(1 for item in items if item.get("needs_reorder")),
            "empty": sum(1 for item in items if item["available"] <= 0),
            "backordered": sum(item["backordered"] for item in items)}


def _by_day(entries: list[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """The timeline's entries under the UTC day they occurred."""
    days: list[tuple[str, list[Mapping[str, Any]]]] = []
    for entry in entries:
        day = entry["occurred_at"][:10]
        if not days or days[-1][0] != day:
            days.append((day, []))
        days[-1][1].append(entry)
    return days


def _facts(entries: list[Mapping[str, Any]]) -> dict[str, Any]:
    """What the head of a customer's page says: counts, first and last touchpoint."""
    entities = {entry["entity"] for entry in entries}
    return {"touchpoints": len(entries),
            "errors": sum(1 for entry in entries if entry["error"]),
            "entities": len(entities),
            "first": entries[0]["occurred_at"] if entries else None,
            "last": entries[-1]["occurred_at"] if entries else None}


def _install_login(app: FastAPI) -> None:
    @app.get("/login", include_in_schema=False)
    def login_form(request: Request) -> HTMLResponse:
        """The sign-in form (a token of journey token create)."""
        return _login(request, _next(request.query_params.get("next")))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        """Check the token; keep it in a cookie the dashboard's pages read."""
        if _cross_site(request):
            return _message(request, 403, "Sign in from this server's own page",
                            "A sign-in posted from another site is refused.")
        form = await _form(request)
        target = _next(form.get("next"))
        access = engine(request).access
        if access.open:
            return RedirectResponse(target, 303)
        token = form.get("token", "").strip()
        roles = access.roles_of(token) if token else None
        if roles is None:
            log.info("http.sign_in_refused", reason="unknown token")
            return _login(request, target, "That token is not known to this server.", 401)
        if Role.analyst not in roles:
            log.info("http.sign_in_refused", reason="no analyst role")
            return _login(request, target, "That token does not have the analyst role the "
                          "dashboard needs.", 403)
        answer_ = RedirectResponse(target, 303, headers=HEADERS)
        answer_.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                           secure=request.url.scheme == "https")
        return answer_

    @app.api_route("/logout", methods=["GET", "POST"], include_in_schema=False)
    def logout(request: Request) -> Response:
        """Forget the token (the cookie); back to the sign-in form."""
        target = "/" if engine(request).access.open else "/login"
        answer_ = RedirectResponse(target, 303, headers=HEADERS)
        answer_.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                              secure=request.url.scheme == "https")
        return answer_


def _login(request: Request, target: str, error: str | None = None,
           status: int = 200) -> HTMLResponse:
    context = _common(request, target=target, error=error, active="login",
                      open=engine(request).access.open)
    answer_ = page(render("login.html", **context), status)
    if status == 401:
        answer_.headers["WWW-Authenticate"] = "Bearer"
    return answer_


def _next(value: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


def _cross_site(request: Request) -> bool:
    """A form posted from another site or another port (login CSRF): a browser says so in
    ``Sec-Fetch-Site``, an older one in ``Origin``."""
    fetched = request.headers.get("sec-fetch-site")
    if fetched is not None:
        return fetched not in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin not in (None, "null") and urlsplit(origin).netloc != request.headers.get(
        "host")


async def _form(request: Request) -> dict[str, str]:
    """A small url-encoded form (the sign-in's): its first value of each field."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=8)
    return {name: values[0] for name, values in fields.items()}
