"""The ``journey`` command's shared parts: the Typer app, its options, and how answers print.

Each command group is a module beside this one (``ingesting``, ``views``, ``audit``,
``kafka``, ``workload``); ``main`` imports them all, so every command is registered on
``app`` before it runs. A door parses its input and renders its output, nothing more:
the work is done by the services in ``journey.infra`` and ``journey.projections``.

Registering a command costs little: each group imports the services a command needs when
it runs (the store, the ingestor, Kafka ...), so a query starts without the rest
(``tests/e2e/test_startup_imports.py``).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from journey.infra.audit.window import TimeFilter
from journey.infra.bounds import FORMATS, upper
from journey.infra.cli import options
from journey.infra.logs import Logger, configure_logging
from journey.infra.settings import VARIABLES, Settings

if TYPE_CHECKING:  # imported by the commands that use them: a query starts without them
    from rich.progress import Progress

    from journey.infra.ingest import IngestSummary
    from journey.infra.store import JourneyApplication
    from journey.infra.views.projector import Projector

log = Logger("journey")

#: The environment variables every command reads, for ``journey --help``.
ENVIRONMENT = "Settings come from the environment (an option, where there is one, wins): " + \
    "; ".join(f"{variable}: {form}" for variable, form in VARIABLES.values()) + "."

app = typer.Typer(
    name="journey",
    help="Event-sourced customer-journey engine: ingest touchpoints, query journeys.",
    epilog="Example: journey ingest touchpoints.jsonl && journey errors --from 2026-01\n\n"
    + ENVIRONMENT,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", parser=options.store_url,
                 help="Store URL: sqlite:///PATH or postgresql://... (env JOURNEY_DB)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


class _State:
    """What the top-level options set for the command that runs."""

    settings: Settings = Settings()
    json: bool = False


state = _State()
# A pipe or file gets wide tables rather than ids cut short with an ellipsis.
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
stderr = Console(stderr=True)


def _version(shown: bool) -> None:
    if shown:
        from journey import __version__

        sys.stdout.write(f"journey {__version__}\n")
        raise typer.Exit()


@app.callback()
def main_options(
    db: DbOption = None,
    as_json: JsonOption = False,
    log_level: Annotated[str | None, typer.Option(
        parser=options.log_level,
        help="debug, info, warning or error (env JOURNEY_LOG_LEVEL; default info)")] = None,
    log_format: Annotated[str | None, typer.Option(
        parser=options.log_format, help="json, console or auto (console on a terminal) "
        "(env JOURNEY_LOG_FORMAT; default auto)")] = None,
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_version, help="Print the version and exit.")
    ] = False,
) -> None:
    """Every ``JOURNEY_*`` variable is checked here, before any command runs."""
    state.settings = Settings.from_env().with_(db=db, log_level=log_level,
                                               log_format=log_format)
    state.json = as_json
    configure_logging(state.settings.log_level, state.settings.log_format)


def emit_json(document: Any) -> None:
    """The one JSON document of ``--json`` on stdout."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@contextmanager
def store(db: str | None, *, create: bool = False) -> Iterator[JourneyApplication]:
    """The store named by ``--db`` (else the settings), closed when the command ends.

    Only writers pass ``create=True`` (ingest, project, rebuild, consume): a reader pointed
    at a store that is not there (a typo in ``--db``) gets one clear error, and nothing is
    created."""
    from journey.infra.store import open_store

    url = db or state.settings.db
    application = open_store(url, state.settings.audit_secret, create=create)
    try:
        yield application
    finally:
        application.close()


def progress_bar() -> Progress:
    """A progress bar on stderr, shown on a terminal only."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

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


def print_summary(summary: IngestSummary) -> None:
    """An ingest summary as a table."""
    table = Table(title="ingest", show_header=False)
    for key in ("read", "accepted", "duplicates", "rejected"):
        table.add_row(key, str(getattr(summary, key)))
    for reason, count in sorted(summary.rejected_by_reason.items()):
        table.add_row(f"  {reason}", str(count))
    stdout.print(table)


def make_projector(application: JourneyApplication) -> Projector:
    """The views' runner, with the batch sizes of the settings."""
    from journey.infra.views.projector import Projector

    settings = state.settings
    return Projector(application, settings.view_batch_size, settings.rebuild_worker_min)


def catch_up(projector: Projector, progress: Progress, label: str) -> int:
    """Bring every view up to the end of the log (so a query right after sees everything)."""
    lag = max(projector.lag().values())
    task = progress.add_task(label, total=lag)
    return projector.catch_up(lambda done, _pos: progress.update(task, completed=done))


class Format(StrEnum):
    """How a query's answer prints."""

    table = "table"
    csv = "csv"
    json = "json"


FormatOption = Annotated[Format, typer.Option(
    "--format", case_sensitive=False, help="table, csv or json")]


def show(document: dict[str, Any], as_json: bool, fmt: Format, tables: dict[str, str]) -> None:
    """Print a query result: exact JSON, CSV sections, or rich tables (key -> title)."""
    if as_json or state.json or fmt is Format.json:
        emit_json(document)
        return
    caption = _freshness_note(document.get("freshness"))
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
        table = Table(*(rows[0].keys() if rows else ["(none)"]), title=title, caption=caption)
        for row in rows:
            table.add_row(*(_cell(v) for v in row.values()))
        stdout.print(table)


def _freshness_note(freshness: dict[str, Any] | None) -> str | None:
    """For a table or CSV answer: a warning on stderr when the views lag the log; the
    caption of an answer replayed from the log (none for current views)."""
    if not freshness:
        return None
    position, head = freshness["view_position"], freshness["log_head"]
    if freshness.get("source") == "log":
        window = ", ".join(f"{key.replace('_', ' ')} {freshness[key]}"
                           for key in ("as_of", "known_at") if freshness.get(key))
        return f"replayed from the log ({window}), up to position {position:,}"
    if position < head:
        sys.stderr.write(f"journey: warning: the views reflect the log up to position "
                         f"{position:,} of {head:,}: run journey project to bring them "
                         "up to date\n")
        sys.stderr.flush()
    return None


AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", parser=options.bound("--as-of"),
    help="business time: only touchpoints that occurred by the end of this "
    f"month, day or instant ({FORMATS}; replayed from the log)")]
KnownAtOption = Annotated[str | None, typer.Option(
    "--known-at", parser=options.bound("--known-at"),
    help="record time: only what the engine had stored by the end of this "
    "month, day or instant (YYYY-MM, YYYY-MM-DD or RFC 3339 with an offset; replayed from "
    "the log)")]


def time_window(as_of: str | None, known_at: str | None) -> TimeFilter:
    """The ``--as-of`` and ``--known-at`` bounds, each the end of the period it names."""
    return TimeFilter(_upper(as_of, "--as-of"), _upper(known_at, "--known-at"))


def _upper(value: str | None, option: str) -> datetime | None:
    return None if value is None else upper(value, option)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return str(value)  # floats are already rounded by the queries (4 decimals, or 1-2)


