"""The ``journey`` command line: the composition root that wires settings, store and services."""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from datetime import time as dt_time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import structlog
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from journey.domain.errors import JourneyError
from journey.infra.audit import verify_log
from journey.infra.export import export_events, parse_bound, verify_export
from journey.infra.history import TimeFilter, audit_replay, views_as_of
from journey.infra.history import history as entity_history
from journey.infra.ingest import Ingestor, IngestSummary, LineSource
from journey.infra.logs import configure_logging
from journey.infra.settings import Settings
from journey.infra.store import JourneyApplication, open_store
from journey.infra.views import Projector, view_queries
from journey.projections.stock import Planning
from journey.projections.tables import PROJECTIONS, VIEW_PROJECTIONS

log = structlog.get_logger("journey")

app = typer.Typer(
    name="journey",
    help="Event-sourced customer-journey engine: ingest touchpoints, query journeys.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store URL: sqlite:///PATH or postgresql://... [env JOURNEY_DB]"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


class _State:
    settings: Settings = Settings()
    json: bool = False


state = _State()
# A pipe or file gets wide tables rather than ids cut short with an ellipsis.
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
stderr = Console(stderr=True)


@app.callback()
def main_options(
    db: DbOption = None,
    as_json: JsonOption = False,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error")] = None,
) -> None:
    state.settings = Settings.from_env().with_(db=db, log_level=log_level)
    state.json = as_json
    configure_logging(state.settings.log_level, state.settings.log_format)


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@contextmanager
def store(db: str | None) -> Iterator[JourneyApplication]:
    url = db or state.settings.db
    application = open_store(url, state.settings.audit_secret)
    try:
        yield application
    finally:
        application.close()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=not stderr.is_terminal,
        transient=False,
    )


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="JSON Lines file of touchpoints, or - for stdin")],
    db: DbOption = None,
    as_json: JsonOption = False,
    batch_size: Annotated[int | None, typer.Option(help="Touchpoints per transaction")] = None,
    views: Annotated[bool, typer.Option(help="Bring the views up to date before returning "
                                        "(--no-views: later, with journey project)")] = True,
) -> None:
    """Decide every touchpoint of a JSON Lines file: accepted, duplicate or rejected."""
    settings = state.settings.with_(batch_size=batch_size)
    lines, total = _open_input(source)
    with store(db) as application, _progress() as progress:
        task = progress.add_task("ingest", total=total)
        ingestor = Ingestor(application, settings.batch_size, settings.cache_size)
        summary = ingestor.ingest(
            lines, progress=lambda _n: progress.update(task, completed=lines.offset)
        )
        if views and summary.accepted:
            _catch_up(_projector(application), progress, "views")
    log.info("ingest.done", **summary.as_json())
    if as_json or state.json:
        emit_json(summary.as_json())
    else:
        _print_summary(summary)


def _open_input(source: str) -> tuple[LineSource, int | None]:
    """Standard input, or a file (named, so an interrupted ingest of it can resume)."""
    if source == "-":
        return LineSource(sys.stdin.buffer), None
    path = Path(source)
    try:
        return LineSource(path.open("rb"), name=str(path.resolve())), path.stat().st_size
    except OSError as exc:
        raise JourneyError(f"cannot read {source}: {exc.strerror or exc}") from exc


def _print_summary(summary: IngestSummary) -> None:
    table = Table(title="ingest", show_header=False)
    for key in ("read", "accepted", "duplicates", "rejected"):
        table.add_row(key, str(getattr(summary, key)))
    for reason, count in sorted(summary.rejected_by_reason.items()):
        table.add_row(f"  {reason}", str(count))
    stdout.print(table)


def _projector(application: JourneyApplication) -> Projector:
    settings = state.settings
    return Projector(application, settings.view_batch_size, settings.rebuild_worker_min)


def _catch_up(projector: Projector, progress: Progress, label: str) -> int:
    """Bring every view up to the end of the log (so a query right after sees everything)."""
    lag = max(projector.lag().values())
    task = progress.add_task(label, total=lag)
    return projector.catch_up(lambda done, _pos: progress.update(task, completed=done))


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="table, csv or json")]


def _show(document: dict[str, Any], as_json: bool, fmt: Format, tables: dict[str, str]) -> None:
    """Print a query result: exact JSON, CSV sections, or rich tables (key -> title)."""
    if as_json or state.json or fmt is Format.json:
        emit_json(document)
        return
    for key, title in tables.items():
        rows: list[dict[str, Any]] = document[key]
        if fmt is Format.csv:
            writer = csv.writer(sys.stdout)
            if len(tables) > 1:
                sys.stdout.write(f"# {title}\n")
            if rows:
                writer.writerow(rows[0].keys())
                writer.writerows([_cell(v) for v in row.values()] for row in rows)
            continue
        table = Table(*(rows[0].keys() if rows else ["(none)"]), title=title)
        for row in rows:
            table.add_row(*(_cell(v) for v in row.values()))
        stdout.print(table)


def _query(db: str | None, ask: Callable[[Any], dict[str, Any]],
           window: TimeFilter | None = None) -> dict[str, Any]:
    """Open the store, ask the views one question, close. With a time window the views are
    replayed from the log as they were (slower: the whole log is read)."""
    with store(db) as application:
        if window is not None and (window.as_of or window.known_at):
            with views_as_of(application, window) as replayed:
                return ask(replayed)
        with view_queries(application) as views:
            return ask(views)


def _moment(value: str | None, option: str) -> datetime | None:
    """RFC 3339 with an offset, or a date (meaning the end of that day, UTC)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), dt_time.max, tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise JourneyError(f"{option}: expected RFC 3339 (2026-03-01T10:00:00Z) or a date, "
                           f"got {value!r}") from exc
    if moment.tzinfo is None:
        raise JourneyError(f"{option}: the time needs an offset (Z or +HH:MM): {value!r}")
    return moment.astimezone(UTC)


AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="business time: only touchpoints that occurred by then (from the log)")]
KnownAtOption = Annotated[str | None, typer.Option(
    "--known-at", help="record time: only what the engine had stored by then (from the log)")]


def _window(as_of: str | None, known_at: str | None) -> TimeFilter:
    return TimeFilter(_moment(as_of, "--as-of"), _moment(known_at, "--known-at"))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return str(value)  # floats are already rounded by the queries (4 decimals, or 1-2)


@app.command()
def timeline(
    customer_id: Annotated[str, typer.Argument(help="The customer")],
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    as_of: AsOfOption = None, known_at: KnownAtOption = None,
) -> None:
    """A customer's journey: every touchpoint in business-time order, errors marked."""
    document = _query(db, lambda views: views.timeline(customer_id), _window(as_of, known_at))
    _show(document, as_json, fmt, {"entries": f"timeline of {customer_id}"})


@app.command()
def customers(
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    top: Annotated[int, typer.Option(help="how many")] = 10,
) -> None:
    """The customers who met the most service errors (start a timeline from here)."""
    document = _query(db, lambda views: views.customers(top))
    _show(document, as_json, fmt, {"customers": f"top {top} customers by service errors"})


@app.command()
def errors(
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    kind: Annotated[str | None, typer.Option(help="purchase, invoice, complaint, ...")] = None,
    first: Annotated[str | None, typer.Option("--from", help="first month, YYYY-MM")] = None,
    last: Annotated[str | None, typer.Option("--to", help="last month, YYYY-MM")] = None,
    as_of: AsOfOption = None, known_at: KnownAtOption = None,
) -> None:
    """Error rates per kind and month, counts per error code, failure demand per month."""
    document = _query(db, lambda views: views.errors(kind, first, last),
                      _window(as_of, known_at))
    _show(document, as_json, fmt, {"by_kind_month": "error rate by kind and month",
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
    document = _query(db, lambda views: views.stock(part, location, needs_reorder, planning),
                      _window(as_of, known_at))
    _show(document, as_json, fmt, {"items": "stock levels"})


@app.command()
def project(
    db: DbOption = None, as_json: JsonOption = False,
    follow: Annotated[bool, typer.Option(help="keep the views current until interrupted")] = False,
    interval: Annotated[float, typer.Option(help="seconds between polls with --follow")] = 0.5,
) -> None:
    """Bring the views up to date with the log (exactly once); --follow keeps them there."""
    with store(db) as application, _progress() as progress:
        projector = _projector(application)
        done = _catch_up(projector, progress, "views")
        if follow:
            log.info("views.following", interval=interval)
            projector.follow(interval)
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
    with store(db) as application, _progress() as progress:
        task = progress.add_task("rebuild", total=application.journey_recorder.position())
        done = _projector(application).rebuild(
            names, lambda n, head: progress.update(task, completed=n, total=head))
    seconds = time.perf_counter() - started
    log.info("views.rebuilt", projections=names, events=done, seconds=round(seconds, 2))
    if as_json or state.json:
        emit_json({"rebuilt": names, "events": done,
                   "events_per_second": round(done / seconds) if seconds else None})


@app.command()
def history(
    entity: Annotated[str, typer.Argument(
        help="customer:C1, order:O1, invoice:I1, case:K1, repair:R1 or part:P1@WH1")],
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    as_of: AsOfOption = None, known_at: KnownAtOption = None,
) -> None:
    """Every stored event of an entity: log position, record and business time, state after."""
    window = _window(as_of, known_at)
    with store(db) as application:
        document = entity_history(application, entity, window)
    if as_json or state.json or fmt is Format.json:
        emit_json(document)
        return
    rows = [{k: v for k, v in e.items() if k != "state"} | {"state": json.dumps(e["state"])}
            for e in document["events"]]
    _show({"events": rows}, False, fmt, {"events": f"history of {entity}"})


@app.command()
def export(
    output: Annotated[str, typer.Option("-o", "--output", help="the .avro file to write")],
    db: DbOption = None, as_json: JsonOption = False,
    customer: Annotated[str | None, typer.Option(help="only this customer's events")] = None,
    first: Annotated[str | None, typer.Option("--from", help="occurred at or after")] = None,
    last: Annotated[str | None, typer.Option("--to", help="occurred at or before")] = None,
) -> None:
    """Write selected stored events with their metadata to an Avro container file."""
    start = None if first is None else parse_bound(first)
    end = None if last is None else parse_bound(last, end=True)
    with store(db) as application:
        summary = export_events(application, output, customer=customer, start=start, end=end)
    log.info("export.done", records=summary.records, path=str(summary.path))
    if as_json or state.json:
        emit_json(summary.as_json())
    else:
        stdout.print(f"exported {summary.records} events to {summary.path}", markup=False)


@app.command("verify-export")
def verify_export_command(
    path: Annotated[str, typer.Argument(help="an .avro file written by journey export")],
    db: DbOption = None, as_json: JsonOption = False,
) -> None:
    """Check an export against the store, record by record; non-zero exit on a mismatch."""
    with store(db) as application:
        report = verify_export(application, path)
    if as_json or state.json:
        emit_json(report.as_json())
    else:
        verdict = "ok" if report.ok else f"MISMATCH: {report.first_mismatch}"
        stdout.print(f"{report.records} records: {verdict}", markup=False)
    if not report.ok:
        raise SystemExit(1)


audit_app = typer.Typer(help="Auditors: verify the log, replay the views.",
                        no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Recompute the hash chain over the log, check the HMAC seals; non-zero exit on tampering."""
    with store(db) as application:
        report = verify_log(application)
    for warning in report.warnings:
        log.warning("audit.warning", detail=warning)
    log.info("audit.verify", ok=report.ok, events=report.events,
             events_per_second=report.events_per_second)
    if as_json or state.json:
        emit_json(report.as_json())
    elif report.ok:
        stdout.print(f"ok: {report.events} events verified, sealed up to position "
                     f"{report.sealed_up_to} ({report.events_per_second} events/s)", markup=False)
    else:
        stdout.print(f"TAMPERED at position {report.first_bad_position}: {report.problem}: "
                     f"{report.detail}", markup=False)
    if not report.ok:
        raise SystemExit(1)


@audit_app.command("replay")
def audit_replay_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Rebuild every view from the log into scratch tables and compare with the live ones."""
    with store(db) as application:
        report = audit_replay(application)
    log.info("audit.replay", ok=report["ok"], events=report["events"])
    if as_json or state.json:
        emit_json(report)
    else:
        for table, result in report["tables"].items():
            mark = "ok" if result["ok"] else "DRIFT"
            stdout.print(f"{mark:5} {table}", markup=False)
            for row in result["only_in_live"]:
                stdout.print(f"      live only:   {row}", markup=False)
            for row in result["only_in_replay"]:
                stdout.print(f"      replay only: {row}", markup=False)
    if not report["ok"]:
        raise SystemExit(1)


@app.command()
def rejects(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List stored rejects in arrival order, with reason, detail and the raw line."""
    with store(db) as application:
        rows = []
        after = 0
        while batch := application.journey_recorder.rejects(after=after):
            rows.extend(batch)
            after = batch[-1].seq
    documents = [
        {
            "touchpoint_id": row.touchpoint_id,
            "reason": row.reason,
            "detail": row.detail,
            "raw": row.raw.decode("utf-8", errors="replace"),
        }
        for row in rows
    ]
    if as_json or state.json:
        emit_json({"rejects": documents})
        return
    table = Table("#", "touchpoint_id", "reason", "detail", title=f"{len(rows)} rejects")
    for row, doc in zip(rows, documents, strict=True):
        table.add_row(str(row.seq), doc["touchpoint_id"] or "-", doc["reason"], doc["detail"])
    stdout.print(table)


@app.command()
def generate(
    customers: Annotated[int, typer.Option(help="How many customers")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same bytes")] = 42,
    error_rate: Annotated[float, typer.Option(help="Share of service errors")] = 0.05,
    bad_rate: Annotated[float, typer.Option(help="Share of lines that must be rejected")] = 0.01,
    late_rate: Annotated[float, typer.Option(help="Share of late-arriving touchpoints")] = 0.02,
    output: Annotated[str, typer.Option("-o", "--output", help="File, or - for stdout")] = "-",
) -> None:
    """Write a realistic, deterministic JSON Lines workload across all five kinds."""
    from journey.infra.generate import WorkloadOptions, write_workload

    options = WorkloadOptions(customers=customers, seed=seed, error_rate=error_rate,
                              bad_rate=bad_rate, late_rate=late_rate)
    if output == "-":
        count = write_workload(options, sys.stdout)
    else:
        with open(output, "w", encoding="utf-8") as out:
            count = write_workload(options, out)
    log.info("generate.done", lines=count, customers=customers, seed=seed)


def _fail(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(f"journey: error: {' '.join(message.split())}\n")  # one line, never wrapped
    raise SystemExit(code)


def main() -> None:
    """Entry point: one clear error line and a non-zero exit, never a traceback."""
    try:
        app(standalone_mode=True)
    except JourneyError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        os._exit(1)  # stdout closed by the reader (e.g. `| head`); nothing left to say
    except Exception as exc:  # a bug: say so plainly, details in the structured log
        log.error("internal_error", exc_info=os.environ.get("JOURNEY_LOG_LEVEL") == "debug")
        _fail(f"internal error: {type(exc).__name__}: {exc}")


# The Kafka commands (publish, consume, tail, broker) live beside this module; importing it
# registers them on ``app``.
from journey.infra import cli_kafka  # noqa: E402, F401
