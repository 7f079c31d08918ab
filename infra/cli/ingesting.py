"""``journey ingest`` and ``journey rejects``: touchpoints in, and what was refused."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from journey.domain.errors import JourneyError
from journey.infra.cli.app import (
    DbOption,
    JsonOption,
    app,
    catch_up,
    emit_json,
    log,
    make_projector,
    print_summary,
    progress_bar,
    state,
    stdout,
    store,
)
from journey.infra.ingest import Ingestor, LineSource
from journey.infra.store import JourneyRecorderMixin, RejectRow
from journey.infra.views.projector import ViewFailed


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
    failed: ViewFailed | None = None
    with store(db) as application, progress_bar() as progress:
        task = progress.add_task("ingest", total=total)

        def settle() -> bool:
            """The run is complete once the views have caught up (or were not asked for)."""
            nonlocal failed
            if not views:
                return True
            try:
                catch_up(make_projector(application), progress, "views")
            except ViewFailed as exc:
                failed = exc
                return False
            return True

        ingestor = Ingestor(application, settings.batch_size, settings.cache_size)
        summary = ingestor.ingest(
            lines, progress=lambda _n: progress.update(task, completed=lines.offset),
            settle=settle,
        )
    log.info("ingest.done", **summary.as_json())
    if as_json or state.json:
        emit_json(summary.as_json())
    else:
        print_summary(summary)
    if failed is not None:  # stored, and said so above; the views wait for journey project
        log.error("views.failed", position=failed.position, error=str(failed.cause))
        raise failed


def _open_input(source: str) -> tuple[LineSource, int | None]:
    """Standard input, or a file (named, so an interrupted ingest of it can resume)."""
    if source == "-":
        return LineSource(sys.stdin.buffer), None
    path = Path(source)
    try:
        return LineSource(path.open("rb"), name=str(path.resolve())), path.stat().st_size
    except OSError as exc:
        raise JourneyError(f"cannot read {source}: {exc.strerror or exc}") from exc


#: Rejects read per query when listing them: a reject keeps at most one line of 1 MiB, so
#: a page stays under 100 MiB however large the lines were, and memory does not grow with
#: the number of rejects.
REJECTS_PAGE = 100


@app.command()
def rejects(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List stored rejects in arrival order, with reason, detail and the raw line."""
    with store(db) as application:
        recorder = application.journey_recorder
        pages = _pages(recorder)
        if as_json or state.json:
            _stream_json(pages)
            return
        total = recorder.counts()["rejects"]
        for number, page in enumerate(pages):
            table = Table("#", "touchpoint_id", "reason", "detail",
                          title=None if number else f"{total} rejects", show_header=not number)
            for row in page:
                doc = _document(row)
                table.add_row(str(row.seq), doc["touchpoint_id"] or "-", doc["reason"],
                              doc["detail"])
            stdout.print(table)
        if not total:
            stdout.print(Table("#", "touchpoint_id", "reason", "detail", title="0 rejects"))


def _pages(recorder: JourneyRecorderMixin) -> Iterator[list[RejectRow]]:
    after = 0
    while page := recorder.rejects(after=after, limit=REJECTS_PAGE):
        yield page
        after = page[-1].seq


def _document(row: RejectRow) -> dict[str, Any]:
    return {
        "touchpoint_id": row.touchpoint_id,
        "reason": row.reason,
        "detail": row.detail,
        "raw": row.raw.decode("utf-8", errors="replace"),
    }


def _stream_json(pages: Iterator[list[RejectRow]]) -> None:
    """``{"rejects": [...]}`` exactly as ``emit_json`` would print it, one page at a time."""
    out = sys.stdout
    out.write('{"rejects": [')
    separator = ""
    for page in pages:
        for row in page:
            out.write(separator + json.dumps(_document(row), ensure_ascii=False))
            separator = ", "
    out.write("]}\n")
    out.flush()
