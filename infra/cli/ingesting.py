"""``journey ingest`` and ``journey rejects``: touchpoints in, and what was refused."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

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
    with store(db) as application, progress_bar() as progress:
        task = progress.add_task("ingest", total=total)
        ingestor = Ingestor(application, settings.batch_size, settings.cache_size)
        summary = ingestor.ingest(
            lines, progress=lambda _n: progress.update(task, completed=lines.offset)
        )
        if views and summary.accepted:
            catch_up(make_projector(application), progress, "views")
    log.info("ingest.done", **summary.as_json())
    if as_json or state.json:
        emit_json(summary.as_json())
    else:
        print_summary(summary)


def _open_input(source: str) -> tuple[LineSource, int | None]:
    """Standard input, or a file (named, so an interrupted ingest of it can resume)."""
    if source == "-":
        return LineSource(sys.stdin.buffer), None
    path = Path(source)
    try:
        return LineSource(path.open("rb"), name=str(path.resolve())), path.stat().st_size
    except OSError as exc:
        raise JourneyError(f"cannot read {source}: {exc.strerror or exc}") from exc


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
