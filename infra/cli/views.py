"""The analysts' commands: timeline, customers, errors, kpis, invoices, stock; and keeping
the views current (``project``) or rebuilding them (``rebuild``). How the service reports
(kpis, invoices) print is in ``service``."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from journey.domain.errors import JourneyError, UsageError
from journey.infra.bounds import check_range, period
from journey.infra.cli import options
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
from journey.infra.cli.interrupts import REBUILD_KEPT, on_interrupt, views_kept
from journey.infra.cli.service import print_invoices, print_kpis
from journey.projections.service.queries import STATUSES
from journey.projections.tables import PROJECTIONS, VIEW_PROJECTIONS

if TYPE_CHECKING:
    from journey.infra.audit.window import TimeFilter

#: ``journey invoices --status``: contract 4.8's statuses.


def query(db: str | None, ask: Callable[[Any], dict[str, Any]],
          window: TimeFilter | None = None) -> dict[str, Any]:
    """Open the store (never creating one), ask the views one question (``answer``), close."""
    from journey.infra.audit.answers import answer

    with store(db) as application:
        return answer(application, ask, window)


@app.command(epilog="Example: journey timeline C00042 --as-of 2026-03")
def timeline(
    customer_id: Annotated[str, typer.Argument(
        parser=options.text("CUSTOMER_ID"), help="The customer (1 to 128 characters)")],
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    as_of: AsOfOption = None, known_at: KnownAtOption = None,
) -> None:
    """A customer's journey: every touchpoint in business-time order, errors marked."""
    document = query(db, lambda views: views.timeline(customer_id), time_window(as_of, known_at))
    show(document, as_json, fmt, {"entries": f"timeline of {customer_id}"})


@app.command(epilog="Example: journey customers --top 5 --format csv")
def customers(
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    top: Annotated[int, typer.Option(parser=options.count("--top"),
                                     help="how many (a positive integer)")] = 10,
) -> None:
    """The customers who met the most service errors (start a timeline from here)."""
    document = query(db, lambda views: views.customers(top))
    show(document, as_json, fmt, {"customers": f"top {top} customers by service errors"})


FromOption = Annotated[str | None, typer.Option(
    "--from", parser=options.bound("--from"),
    help="first month (YYYY-MM; a day YYYY-MM-DD or an RFC 3339 instant counts as its "
    "month)")]
ToOption = Annotated[str | None, typer.Option(
    "--to", parser=options.bound("--to"),
    help="last month, included (YYYY-MM; a day or instant counts as its month)")]


def months(first: str | None, last: str | None) -> tuple[str | None, str | None]:
    """``--from`` and ``--to`` as the first and last month they name (a reversed range is
    refused)."""
    check_range(first, last)
    return (None if first is None else period(first, "--from").first_month,
            None if last is None else period(last, "--to").last_month)


@app.command(epilog="Example: journey errors --kind repair --from 2026-01 --to 2026-03 "
             "--contact-cost 12.50")
def errors(
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    kind: Annotated[str | None, typer.Option(
        parser=options.kind, help=", ".join(options.KINDS) + " (any case)")] = None,
    first: FromOption = None, last: ToOption = None,
    contact_cost: Annotated[Decimal | None, typer.Option(
        "--contact-cost", parser=options.contact_cost,
        help="what one contact costs (a decimal >= 0, at most 2 decimals): each failure "
        "demand row gets its cost, failure x C (env JOURNEY_CONTACT_COST)")] = None,
    as_of: AsOfOption = None, known_at: KnownAtOption = None,
) -> None:
    """Error rates per kind and month, counts per error code, failure demand per month
    (and what it cost, with a cost per contact)."""
    first_month, last_month = months(first, last)
    cost = state.settings.contact_cost if contact_cost is None else contact_cost
    document = query(db, lambda views: views.errors(kind, first_month, last_month,
                                                    contact_cost=cost),
                     time_window(as_of, known_at))
    demand = "failure demand by month" + ("" if cost is None else f" at {cost} per contact")
    show(document, as_json, fmt, {"by_kind_month": "error rate by kind and month",
                                   "by_code": "errors by code", "failure_demand": demand})


@app.command(epilog="Example: journey kpis --from 2026-01 --to 2026-03 --format csv")
def kpis(
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    first: FromOption = None, last: ToOption = None,
    as_of: AsOfOption = None, known_at: KnownAtOption = None,
) -> None:
    """Service KPIs per month: cases (time to resolve, reopen rate), repairs (first-time
    fix rate, time to fix), parts (fill rate); satisfaction after a service error or not."""
    first_month, last_month = months(first, last)
    document = query(db, lambda views: views.kpis(first_month, last_month),
                     time_window(as_of, known_at))
    print_kpis(document, as_json, fmt)


@app.command(epilog="Example: journey invoices --status overdue --as-of-day 2026-03-31")
def invoices(
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    as_of_day: Annotated[date | None, typer.Option(
        "--as-of-day", parser=options.day("--as-of-day"),
        help="the reference day of the status: overdue once the due date is before it "
        "(default: the day of the latest touchpoint)")] = None,
    status: Annotated[str | None, typer.Option(
        parser=options.choice("--status", STATUSES),
        help="list only paid, open or overdue invoices (the monthly summary keeps all)")
    ] = None,
    limit: Annotated[int | None, typer.Option(
        parser=options.count("--limit"),
        help="the table lists at most this many invoices (the first by invoice_id)")] = None,
    as_of: AsOfOption = None, known_at: KnownAtOption = None,
) -> None:
    """Invoices with corrections, payments, balance, reminders and status (paid, open,
    overdue), and a summary per month of issue and currency. Money is exact."""
    if limit is not None and (as_json or state.json or fmt is not Format.table):
        raise UsageError("--limit: only for the table (--json and --format csv|json print "
                         "every invoice, as the contract's document)")
    document = query(db, lambda views: views.invoices(as_of_day, status),
                     time_window(as_of, known_at))
    print_invoices(document, as_json, fmt, status, limit)


@app.command(epilog="Example: journey stock --needs-reorder --lead-time 10 --service-level 0.98")
def stock(
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    part: Annotated[str | None, typer.Option(parser=options.text("--part"),
                                             help="only this part_id")] = None,
    location: Annotated[str | None, typer.Option(parser=options.text("--location"),
                                                 help="only this location")] = None,
    needs_reorder: Annotated[bool, typer.Option(help="only what needs reordering")] = False,
    lead_time: Annotated[float, typer.Option(
        parser=options.number("--lead-time", 0, 3650, "expected days, a number > 0 and <= 3650"),
        help="replenishment lead time, days (> 0)")] = 7.0,
    service_level: Annotated[float, typer.Option(
        parser=options.number("--service-level", 0, 1, "expected a number between 0 and 1 "
                              "(both excluded)", high_open=True),
        help="target service level, between 0 and 1 (excluded)")] = 0.95,
    as_of: AsOfOption = None, known_at: KnownAtOption = None,
) -> None:
    """Stock levels per part and location, with days of supply and reorder points."""
    from journey.projections.stock import Planning

    planning = Planning(lead_time_days=lead_time, service_level=service_level)
    document = query(db, lambda views: views.stock(part, location, needs_reorder, planning),
                      time_window(as_of, known_at))
    show(document, as_json, fmt, {"items": "stock levels"})


@app.command(epilog="Example: journey project --follow --interval 2")
def project(
    db: DbOption = None, as_json: JsonOption = False,
    follow: Annotated[bool, typer.Option(help="keep the views current until interrupted")] = False,
    interval: Annotated[float, typer.Option(
        parser=options.seconds("--interval"),
        help="seconds between polls with --follow (> 0, at most 86400)")] = 0.5,
) -> None:
    """Bring the views up to date with the log (exactly once); --follow keeps them there."""
    with store(db, create=True) as application, progress_bar() as progress:
        projector = make_projector(application)
        with on_interrupt(lambda: views_kept(projector)):
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


@app.command(epilog="Example: journey rebuild errors")
def rebuild(
    view: Annotated[str | None, typer.Argument(
        parser=options.choice("VIEW", tuple(VIEW_PROJECTIONS)),
        help=", ".join(VIEW_PROJECTIONS) + " (all if none; views sharing a projection are "
        "rebuilt together)")] = None,
    db: DbOption = None, as_json: JsonOption = False,
) -> None:
    """Rebuild views from the whole log beside the live ones, then swap them in at once."""
    if view is not None and view not in VIEW_PROJECTIONS:
        raise JourneyError(f"unknown view {view!r}: use {', '.join(VIEW_PROJECTIONS)}")
    names = sorted({VIEW_PROJECTIONS[view]} if view else set(PROJECTIONS))
    started = time.perf_counter()
    with (store(db, create=True) as application, progress_bar() as progress,
          _sigterm_interrupts()):  # `kill PID` cleans up as Ctrl-C does: no _next tables
        task = progress.add_task("rebuild", total=application.journey_recorder.position())
        with on_interrupt(lambda: REBUILD_KEPT):
            done = make_projector(application).rebuild(
                names, lambda n, head: progress.update(task, completed=n, total=head))
    seconds = time.perf_counter() - started
    log.info("views.rebuilt", projections=names, events=done, seconds=round(seconds, 2))
    if as_json or state.json:
        emit_json({"rebuilt": names, "events": done,
                   "events_per_second": round(done / seconds) if seconds else None})


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt meanwhile, so the work's cleanup runs."""
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
