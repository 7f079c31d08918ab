"""``/metrics`` in Prometheus' text format (``prometheus_client``, the official library).

Each app has its own ``CollectorRegistry`` (two apps in one process, as in tests, never mix
their counts). What it holds:

``journey_http_request_duration_seconds``  histogram of every request, by route template
                                           (``/v1/customers/{customer_id}/timeline``, never
                                           the path: customer ids are personal data),
                                           method and status
``journey_touchpoints_decided_total``      the intake's decisions by outcome (accepted,
                                           duplicate, rejected) and reject reason
``journey_log_head``                       the log's last position
``journey_view_lag_events``                per projection, events of the log not yet in its
                                           views (0: current)
``journey_relay_lag_events``               per relay, events not yet acknowledged by Kafka
``journey_store_up``                       1 when the scrape could read the store, else 0

The last four are read from the store when Prometheus scrapes (one short read transaction),
so they are as fresh as the scrape and cost nothing between scrapes.

Who may read it: anyone when the server is open (loopback, no tokens); with tokens, a token
with the ``monitor`` role (a scraper's: it reads counts, never an answer) or ``analyst``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from journey.infra.http.access import Role, require
from journey.infra.views.database import ViewDb
from journey.infra.views.swap import TRACKING_PREFIX
from journey.projections.tables import PROJECTIONS

if TYPE_CHECKING:
    from journey.infra.ingest import IngestSummary
    from journey.infra.store import JourneyApplication

log = structlog.get_logger("journey.http")

#: Latency buckets, seconds: fine below 25 ms (the queries' target), coarse above.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """This app's own registry of metrics."""

    def __init__(self, debug: bool = False) -> None:
        #: Each request logged (at debug level) as it is measured.
        self.debug = debug
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "journey_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            ("route", "method", "status"), registry=self.registry, buckets=BUCKETS)
        self._children: dict[tuple[str, str, int], Any] = {}
        self.decisions = Counter(
            "journey_touchpoints_decided_total",
            "Touchpoints the intake decided, by outcome and (for rejects) reason.",
            ("outcome", "reason"), registry=self.registry)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """One request answered: its latency, by route template, method and status."""
        labels = (route, method, status)
        child = self._children.get(labels)
        if child is None:  # a few dozen combinations: each looked up once
            child = self._children[labels] = self.latency.labels(route, method, str(status))
        child.observe(seconds)
        if self.debug:
            log.debug("http.request", route=route, method=method, status=status,
                      ms=round(seconds * 1000, 2))

    def decided(self, summary: IngestSummary) -> None:
        """Count one intake request's decisions (``POST /v1/touchpoints`` calls it)."""
        if summary.accepted:
            self.decisions.labels("accepted", "").inc(summary.accepted)
        if summary.duplicates:
            self.decisions.labels("duplicate", "").inc(summary.duplicates)
        for reason, count in summary.rejected_by_reason.items():
            if count:
                self.decisions.labels("rejected", reason).inc(count)

    def watch(self, application: JourneyApplication) -> None:
        """Read the lags from ``application``'s store at each scrape."""
        self.registry.register(_StoreLag(application))

    def exposition(self) -> bytes:
        """Every metric, in the text format."""
        return generate_latest(self.registry)


class _StoreLag(Collector):
    """The log's head, the views' and the relays' lag behind it, read when scraped."""

    def __init__(self, application: JourneyApplication) -> None:
        self.application = application
        self.views = ViewDb(application)

    def describe(self) -> list[Any]:
        return []  # read at scrape time only (registering must not touch the store)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("journey_store_up", "1 when this scrape could read the store.")
        try:
            head, views, relays = self._read()
        except Exception as exc:  # the store is gone: say so, and keep the other metrics
            log.warning("metrics.store_unreadable", error=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("journey_log_head", "The log's last position.", value=head)
        lag = GaugeMetricFamily("journey_view_lag_events", "Events of the log not yet in the "
                                "views, per projection.", labels=["projection"])
        for name, position in sorted(views.items()):
            lag.add_metric([name], max(0, head - position))
        yield lag
        relay = GaugeMetricFamily("journey_relay_lag_events", "Events of the log Kafka has not "
                                  "acknowledged yet, per relay.", labels=["relay"])
        for name, position in sorted(relays.items()):
            relay.add_metric([name], max(0, head - position))
        yield relay

    def _read(self) -> tuple[int, dict[str, int], dict[str, int]]:
        recorder = self.application.journey_recorder
        with recorder.read_rows() as c:
            views = {name: self.views.position(c, TRACKING_PREFIX + name)
                     for name in PROJECTIONS}
            c.execute(f"SELECT name, position FROM {recorder.relay_sql}")
            relays = {str(name): int(position) for name, position in c.fetchall()}
        return recorder.position(), views, relays


class Observed:
    """ASGI middleware: each request's latency into the histogram, by route template
    (routes the app does not know count as ``<unmatched>``, mounted assets by their mount)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            self.metrics.observe(route_template(scope), scope["method"], status,
                                 time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The route a request matched, as declared (``/v1/history/{entity}``), never its path."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", "<unmatched>"))
    mounted = scope.get("root_path") or ""
    return f"{mounted}/*" if mounted else "<unmatched>"


def install(app: FastAPI, metrics: Metrics) -> None:
    """Add ``/metrics`` and the request-latency middleware."""
    app.add_middleware(Observed, metrics=metrics)

    @app.get("/metrics", tags=["operations (role: monitor or analyst)"],
             dependencies=[Depends(require(Role.monitor, Role.analyst))],
             summary="Prometheus metrics", response_class=Response)
    def prometheus(request: Request) -> Response:
        """Request latency, the intake's decisions, the views' and the relays' lag."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
