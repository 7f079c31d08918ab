"""``journey ingest`` and ``journey rejects``: touchpoints in, and what was refused."""

from __future__ import annotations

import base64
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from journey.domain.errors import REASONS, JourneyError
from journey.infra.cli import options
from journey.infra.cli.app import (
    DbOption,
    Format,
    FormatOption,
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
from journey.infra.cli.interrupts import lines_of, on_interrupt
from journey.infra.ingest import Ingestor, LineSource
from journey.infra.store import JourneyRecorderMixin, RejectRow
from journey.infra.views.projector import ViewFailed


@app.command(epilog="Example: journey ingest touchpoints.jsonl --batch-size 5000; "
             "journey generate | journey ingest -")
def ingest(
    source: Annotated[str, typer.Argument(help="JSON Lines file of touchpoints, or - for stdin")],
    db: DbOption = None,
    as_json: JsonOption = False,
    batch_size: Annotated[int | None, typer.Option(
        parser=options.count("--batch-size"),
        help="Touchpoints per transaction, a positive integer (env JOURNEY_BATCH_SIZE; "
        "default 2000)")] = None,
    views: Annotated[bool, typer.Option(help="Bring the views up to date before returning "
                                        "(--no-views: later, with journey project)")] = True,
) -> None:
    """Decide every touchpoint of a JSON Lines file: accepted, duplicate or rejected."""
    settings = state.settings.with_(batch_size=batch_size)
    lines, total = _open_input(source)
    failed: ViewFailed | None = None
    settling = False
    with store(db, create=True) as application, progress_bar() as progress:
        task = progress.add_task("ingest", total=total)

        def settle() -> bool:
            """The run is complete once the views have caught up (or were not asked for)."""
            nonlocal failed, settling
            settling = True
            if not views:
                return True
            try:
                catch_up(make_projector(application), progress, "views")
            except ViewFailed as exc:
                failed = exc
                return False
            return True

        ingestor = Ingestor(application, settings.batch_size, settings.cache_size)
        with on_interrupt(lambda: _kept(lines, ingestor.lines_stored, settling)):
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


def _kept(lines: LineSource, stored: int, settling: bool) -> str:
    """What an interrupted ingest kept (``stored`` lines of the input) and how to go on."""
    what = "standard input" if lines.name is None else lines.label
    if settling:
        return (f"all {lines_of(stored)} of {what} are stored, but the views are not caught "
                "up; run " + ("the same command to finish" if lines.name is not None
                              else "journey project to bring them up to date"))
    if lines.name is not None:
        return f"{lines_of(stored)} of {what} are stored; run the same command to resume"
    return (f"the first {lines_of(stored)} of standard input are stored; to go on, send only "
            f"the lines after line {stored:,} (e.g. tail -n +{stored + 1} FILE | journey "
            "ingest -)")


def _open_input(source: str) -> tuple[LineSource, int | None]:
    """Standard input, or a file (named, so an interrupted ingest of it can resume; its
    lines' provenance is the name as given, ``touchpoints.jsonl:12``)."""
    if source == "-":
        return LineSource(sys.stdin.buffer), None
    path = Path(source)
    try:
        return (LineSource(path.open("rb"), name=str(path.resolve()), label=source),
                path.stat().st_size)
    except OSError as exc:
        raise JourneyError(f"cannot read {source}: {exc.strerror or exc}") from exc


#: Rejects read per query when listing them: a reject keeps at most one line of 1 MiB, so
#: a page stays under 100 MiB however large the lines were, and memory does not grow with
#: the number of rejects.
REJECTS_PAGE = 100


@app.command(epilog="Example: journey rejects --reason unknown_entity --limit 20 --format csv")
def rejects(
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    reason: Annotated[list[str] | None, typer.Option(
        "--reason", parser=options.choice("--reason", REASONS),
        help="only rejects of this reason (repeatable): " + ", ".join(REASONS))] = None,
    limit: Annotated[int | None, typer.Option(
        parser=options.count("--limit"), help="at most this many (the first, in arrival "
        "order)")] = None,
) -> None:
    """List stored rejects in arrival order: where each line came from (file:line, or
    kafka:topic/partition@offset), its reason, detail and the raw line."""
    reasons = sorted(set(reason)) if reason else None
    with store(db) as application:
        recorder = application.journey_recorder
        pages = _pages(recorder, reasons, limit)
        if as_json or state.json or fmt is Format.json:
            _stream_json(pages)
            return
        if fmt is Format.csv:
            _stream_csv(pages)
            return
        total = recorder.count_rejects(reasons)
        shown = total if limit is None else min(limit, total)
        title = f"{total} rejects" if shown == total else f"the first {shown} of {total} rejects"
        columns = ("#", "source", "touchpoint_id", "reason", "detail")
        for number, page in enumerate(pages):
            table = Table(*columns, title=None if number else title, show_header=not number)
            for row in page:
                doc = _document(row)
                table.add_row(str(row.seq), row.source or "-", doc["touchpoint_id"] or "-",
                              doc["reason"], doc["detail"])
            stdout.print(table)
        if not shown:
            stdout.print(Table(*columns, title=title))


def _pages(recorder: JourneyRecorderMixin, reasons: list[str] | None = None,
           limit: int | None = None) -> Iterator[list[RejectRow]]:
    """The rejects, ``REJECTS_PAGE`` per query, at most ``limit`` in all."""
    after, left = 0, limit
    while left is None or left > 0:
        page = recorder.rejects(after=after, limit=REJECTS_PAGE if left is None
                                else min(left, REJECTS_PAGE), reasons=reasons)
        if not page:
            return
        yield page
        after = page[-1].seq
        left = None if left is None else left - len(page)


def _document(row: RejectRow) -> dict[str, Any]:
    """A reject as contract 5 gives it, plus its provenance (``source``) and, when the line
    is not UTF-8, its exact bytes (``raw_base64``; ``raw`` then shows them with U+FFFD)."""
    document: dict[str, Any] = {
        "touchpoint_id": row.touchpoint_id,
        "reason": row.reason,
        "detail": row.detail,
        "raw": row.raw.decode("utf-8", errors="replace"),
        "source": row.source,
    }
    try:
        row.raw.decode("utf-8")
    except UnicodeDecodeError:
        document["raw_base64"] = base64.b64encode(row.raw).decode("ascii")
    return document


def _stream_csv(pages: Iterator[list[RejectRow]]) -> None:
    """One CSV row per reject (``raw_base64`` empty when the line is UTF-8), page by page."""
    writer = csv.writer(sys.stdout)
    writer.writerow(("seq", "source", "touchpoint_id", "reason", "detail", "raw", "raw_base64"))
    for page in pages:
        for row in page:
            doc = _document(row)
            writer.writerow((row.seq, row.source or "", doc["touchpoint_id"] or "",
                             doc["reason"], doc["detail"], doc["raw"],
                             doc.get("raw_base64", "")))
    sys.stdout.flush()


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
