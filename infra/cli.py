"""The ``journey`` command line: the composition root that wires settings, store and services."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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

from domain.errors import JourneyError
from infra.ingest import Ingestor, IngestSummary, LineSource
from infra.logs import configure_logging
from infra.settings import Settings
from infra.store import JourneyApplication, open_store

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
stdout = Console(soft_wrap=True)
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
    application = open_store(url)
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
    from infra.generate import WorkloadOptions, write_workload

    options = WorkloadOptions(customers=customers, seed=seed, error_rate=error_rate,
                              bad_rate=bad_rate, late_rate=late_rate)
    if output == "-":
        count = write_workload(options, sys.stdout)
    else:
        with open(output, "w", encoding="utf-8") as out:
            count = write_workload(options, out)
    log.info("generate.done", lines=count, customers=customers, seed=seed)


def _fail(message: str, code: int = 1) -> NoReturn:
    stderr.print(f"journey: error: {message}", markup=False, highlight=False)
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
