"""The analysts' commands: timeline, customers, errors, stock; and keeping the views
current (``project``) or rebuilding them (``rebuild``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import typer

from journey.domain.errors import JourneyError
from journey.infra.audit.history import TimeFilter, views_as_of
from journey.infra.bounds import period
from journey.infra.cli.app import (
    AsOfOption,
    DbOption,
    Format,
    FormatOption,
    JsonOption,
    KnownAtOption,
    app,
    catch_up,
    emit_json,
    log,
    make_projector,
    progress_bar,
    show,
    state,
    store,
    time_window,
)
from journey.infra.views.projector import view_queries
from journey.projections.stock import Planning
from journey.projections.tables import PROJECTIONS, VIEW_PROJECTIONS


def query(db: str | None, ask: Callable[[Any], dict[str, Any]],
           window: TimeFilter | None = None) -> dict[str, Any]:
    """Open the store, ask the views one question, close. With a time window the views are
    replayed from the log as they were (slower: the whole log is read)."""
    with store(db) as application:
        if window is not None and (window.as_of or window.known_at):
            with views_as_of(application, window) as replayed:
                return ask(replayed)
        with view_queries(application) as views:
            return ask(views)


@app.command()
def timeline(
    customer_id: Annotated[str, typer.Argument(help="The customer")],
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    as_of: AsOfOption = None, known_at: KnownAtOption = None,
) -> None:
    """A customer's journey: every touchpoint in business-time order, errors marked."""
    document = query(db, lambda views: views.timeline(customer_id), time_window(as_of, known_at))
    show(document, as_json, fmt, {"entries": f"timeline of {customer_id}"})


@app.command()
def customers(
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    top: Annotated[int, typer.Option(help="how many")] = 10,
) -> None:
    """The customers who met the most service errors (start a timeline from here)."""
    document = query(db, lambda views: views.customers(top))
    show(document, as_json, fmt, {"customers": f"top {top} customers by service errors"})


@app.command()
def errors(
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    kind: Annotated[str | None, typer.Option(help="purchase, invoice, complaint, ...")] = None,
    first: Annotated[str | None, typer.Option(
        "--from", help="first month (YYYY-MM; a day or instant counts as its month)")] = None,
    last: Annotated[str | None, typer.Option(
        "--to", help="last month (YYYY-MM; a day or instant counts as its month)")] = None,
    as_of: AsOfOption = None, known_at: KnownAtOption = None,
) -> None:
    """Error rates per kind and month, counts per error code, failure demand per month."""
    first_month = None if first is None else period(first, "--from").first_month
    last_month = None if last is None else period(last, "--to").last_month
    document = query(db, lambda views: views.errors(kind, first_month, last_month),
                     time_window(as_of, known_at))
    show(document, as_json, fmt, {"by_kind_month": "error rate by kind and month",
                                   "by_code": "errors by code",
                                   "failure_demand": "failure demand by month"})


@app.command()
def stock(
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    part: Annotated[str | None, typer.Option(help="only this part_id")] = None,
    location: Annotated[str | None, typer.Option(help="only this location")] = None,
    needs_reorder: Annotated[bool, typer.Option(help="only what needs reordering")] = False,
    lead_time: Annotated[float, typer.Option(help="replenishment lead time, days")] = 7.0,
    service_level: Annotated[float, typer.Option(help="target service level, 0-1")] = 0.95,
    as_of: AsOfOption = None, known_at: KnownAtOption = None,
) -> None:
    """Stock levels per part and location, with days of supply and reorder points."""
    if not 0 < service_level < 1:
        raise JourneyError("--service-level must be between 0 and 1")
    planning = Planning(lead_time_days=lead_time, service_level=service_level)
    document = query(db, lambda views: views.stock(part, location, needs_reorder, planning),
                      time_window(as_of, known_at))
    show(document, as_json, fmt, {"items": "stock levels"})


@app.command()
def project(
    db: DbOption = None, as_json: JsonOption = False,
    follow: Annotated[bool, typer.Option(help="keep the views current until interrupted")] = False,
    interval: Annotated[float, typer.Option(help="seconds between polls with --follow")] = 0.5,
) -> None:
    """Bring the views up to date with the log (exactly once); --follow keeps them there."""
    with store(db) as application, progress_bar() as progress:
        projector = make_projector(application)
        if follow:  # its first catch-up too waits out a database that goes away
            log.info("views.following", interval=interval)
            projector.follow(interval)
            done = 0
        else:
            done = catch_up(projector, progress, "views")
        lag = projector.lag()
    log.info("views.current", events=done, lag=lag)
    if as_json or state.json:
        emit_json({"events": done, "lag": lag})


@app.command()
def rebuild(
    view: Annotated[str | None, typer.Argument(help="timeline, errors or stock (all if none)")
                    ] = None,
    db: DbOption = None, as_json: JsonOption = False,
) -> None:
    """Rebuild views from the whole log beside the live ones, then swap them in at once."""
    if view is not None and view not in VIEW_PROJECTIONS:
        raise JourneyError(f"unknown view {view!r}: use timeline, errors or stock")
    names = sorted({VIEW_PROJECTIONS[view]} if view else set(PROJECTIONS))
    started = time.perf_counter()
    with store(db) as application, progress_bar() as progress:
        task = progress.add_task("rebuild", total=application.journey_recorder.position())
        done = make_projector(application).rebuild(
            names, lambda n, head: progress.update(task, completed=n, total=head))
    seconds = time.perf_counter() - started
    log.info("views.rebuilt", projections=names, events=done, seconds=round(seconds, 2))
    if as_json or state.json:
        emit_json({"rebuilt": names, "events": done,
                   "events_per_second": round(done / seconds) if seconds else None})
