"""``journey ingest`` and ``journey rejects``: touchpoints in, what was refused, and the
refused lines decided again (``journey rejects retry``, contract 4.9)."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from journey.domain.errors import REASONS, JourneyError, UsageError
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

if TYPE_CHECKING:  # the ingestor (and its models) are imported by the commands that run it
    from rich.progress import Progress

    from journey.infra.ingest import LineSource
    from journey.infra.store import JourneyApplication, RejectRow
    from journey.infra.views.projector import Projector, ViewFailed

BatchSizeOption = Annotated[int | None, typer.Option(
    parser=options.count("--batch-size"),
    help="Touchpoints per transaction, a positive integer (env JOURNEY_BATCH_SIZE; "
    "default 2000)")]
ViewsOption = Annotated[bool, typer.Option(help="Bring the views up to date before returning "
                                           "(--no-views: later, with journey project)")]


class _Settler:
    """An ingest's ``settle``: the views caught up (unless --no-views); a view that fails
    is kept for ``raise_failure``, after the summary is printed (the lines are stored)."""

    def __init__(self, application: JourneyApplication, progress: Progress, views: bool
                 ) -> None:
        self.application, self.progress, self.views = application, progress, views
        self.settling = False
        self.failed: ViewFailed | None = None
        self.projector: Projector | None = None

    def prepare(self) -> Projector:
        """The views' projector, its tables made (before a ``ViewsBeside`` starts)."""
        if self.projector is None:
            self.projector = make_projector(self.application)
        return self.projector

    def __call__(self) -> bool:
        """The run is complete once the views have caught up (or were not asked for)."""
        from journey.infra.views.projector import ViewFailed

        self.settling = True
        if not self.views:
            return True
        try:
            catch_up(self.prepare(), self.progress, "views")
        except ViewFailed as exc:
            self.failed = exc
            return False
        return True

    def raise_failure(self) -> None:
        if self.failed is not None:  # stored, and said so; the views wait for journey project
            log.error("views.failed", position=self.failed.position,
                      error=str(self.failed.cause))
            raise self.failed


@app.command(epilog="Example: journey ingest touchpoints.jsonl --batch-size 5000; "
             "journey generate | journey ingest -")
def ingest(
    source: Annotated[str, typer.Argument(help="JSON Lines file of touchpoints, or - for stdin")],
    db: DbOption = None,
    as_json: JsonOption = False,
    batch_size: BatchSizeOption = None,
    views: ViewsOption = True,
) -> None:
    """Decide every touchpoint of a JSON Lines file: accepted, duplicate or rejected."""
    from journey.infra.views.beside import START_AFTER_LINES, START_FROM_BYTES, ViewsBeside

    settings = state.settings.with_(batch_size=batch_size)
    lines, total = _open_input(source)
    with (store(db, create=True) as application, progress_bar() as progress,
          # A long ingest folds the views beside its decisions, on the other core.
          ViewsBeside(dict(application.env), settings.view_batch_size) as beside):
        task = progress.add_task("ingest", total=total)
        settler = _Settler(application, progress, views)

        def fold_beside() -> None:
            if views and not beside.started:
                settler.prepare()  # the view tables exist before the follower starts
                beside.start()

        def decided(_n: int) -> None:
            progress.update(task, completed=lines.offset)
            if lines.lines >= START_AFTER_LINES:
                fold_beside()

        def settle() -> bool:
            beside.stop()  # its last batch commits; the catch-up folds the rest
            return settler()

        if total is not None and total >= START_FROM_BYTES:
            fold_beside()  # first: the follower's start overlaps the ingest's imports
        from journey.infra.ingest import Ingestor

        ingestor = Ingestor(application, settings.batch_size, settings.cache_size)
        with on_interrupt(lambda: _kept(lines, ingestor.lines_stored, settler.settling)):
            summary = ingestor.ingest(lines, progress=decided, settle=settle)
    log.info("ingest.done", **summary.as_json())
    if as_json or state.json:
        emit_json(summary.as_json())
    else:
        print_summary(summary)
    settler.raise_failure()


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
    from journey.infra.ingest import LineSource

    if source == "-":
        return LineSource(sys.stdin.buffer), None
    path = Path(source)
    try:
        return (LineSource(path.open("rb"), name=str(path.resolve()), label=source),
                path.stat().st_size)
    except OSError as exc:
        raise JourneyError(f"cannot read {source}: {exc.strerror or exc}") from exc


ReasonsOption = Annotated[list[str] | None, typer.Option(
    "--reason", parser=options.choice("--reason", REASONS),
    help="only rejects of this reason (repeatable): " + ", ".join(REASONS))]


class _RejectsCommand(TyperGroup):
    """``journey rejects`` lists, ``journey rejects retry`` re-decides: a command with one
    subcommand, so ``journey --help`` lists it in its place (Typer lists sub-apps last)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, commands={"retry": typer.main.get_command(_retry_app)},
                         invoke_without_command=True, **kwargs)


_retry_app = typer.Typer(add_completion=False)


# Typer builds it with a command's arguments, which a TyperGroup takes too.
@app.command(cls=cast("type[TyperCommand]", _RejectsCommand),
             epilog="Example: journey rejects --reason unknown_entity --limit 20 --format csv; "
             "journey rejects --all --json; journey rejects retry")
def rejects(
    ctx: typer.Context,
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    reason: ReasonsOption = None,
    limit: Annotated[int | None, typer.Option(
        parser=options.count("--limit"), help="at most this many (the first, in decision "
        "order)")] = None,
    all_: Annotated[bool, typer.Option(
        "--all", help="every reject decision ever made, open or not (a reject is open until "
        "its touchpoint is accepted or a later reject of its touchpoint_id supersedes "
        "it)")] = False,
) -> None:
    """List the open rejects, or every reject (--all); retry decides them again.

    Open rejects are listed in decision order (--all: every reject decision ever made): where
    each line came from (file:line, kafka:topic/partition@offset, or the reject it retried),
    its reason, detail and the raw line. A reject is open until its touchpoint is accepted or
    a later reject of its touchpoint_id supersedes it."""
    if ctx.invoked_subcommand is not None:
        listing = [name for name, given in (("--reason", reason), ("--limit", limit),
                                            ("--all", all_), ("--format", fmt != Format.table))
                   if given]
        if listing:
            raise UsageError(f"{listing[0]}: an option of the list (journey rejects); give "
                             "retry's options after it (journey rejects retry --reason R)")
        ctx.obj = {"db": db, "as_json": as_json}
        return
    from journey.infra.ingest.rejects import reject_document, reject_pages

    reasons = sorted(set(reason)) if reason else None
    with store(db) as application:
        recorder = application.journey_recorder
        pages = reject_pages(recorder, reasons, limit, open_only=not all_)
        if as_json or state.json or fmt is Format.json:
            _stream_json(pages)
            return
        if fmt is Format.csv:
            _stream_csv(pages)
            return
        opened, total = recorder.reject_counts(reasons)
        listed = total if all_ else opened
        shown = listed if limit is None else min(limit, listed)
        what = f"{total} rejects, {opened} open" if all_ else f"{opened} open rejects of {total}"
        title = what if shown == listed else f"the first {shown} of {what}"
        columns = ("#", "source", "touchpoint_id", "reason", "detail", *(("open",) if all_
                                                                         else ()))
        for number, page in enumerate(pages):
            table = Table(*columns, title=None if number else title, show_header=not number)
            for row in page:
                doc = reject_document(row)
                table.add_row(str(row.seq), row.source or "-", doc["touchpoint_id"] or "-",
                              doc["reason"], doc["detail"],
                              *(("yes" if row.open else "no",) if all_ else ()))
            stdout.print(table)
        if not shown:
            stdout.print(Table(*columns, title=title))


@_retry_app.command("retry", epilog="Example: journey rejects retry --reason unknown_entity "
                    "(after the missing purchase.placed arrived)")
def retry(
    ctx: typer.Context,
    db: DbOption = None, as_json: JsonOption = False,
    reason: ReasonsOption = None,
    batch_size: BatchSizeOption = None,
    views: ViewsOption = True,
) -> None:
    """Decide the open rejects again, as if their lines arrived now.

    The open rejects with a string touchpoint_id (--reason: of those reasons) are decided in
    decision order: each is accepted, a duplicate, or rejected anew (the new reject
    supersedes the old). Prints the summary of journey ingest for the lines re-decided."""
    from journey.infra.ingest import Ingestor
    from journey.infra.ingest.retry import retry_candidates

    given = ctx.parent.obj if ctx.parent is not None and isinstance(ctx.parent.obj, dict) \
        else {}
    settings = state.settings.with_(batch_size=batch_size)
    reasons = sorted(set(reason)) if reason else None
    with (store(db or given.get("db")) as application,
          progress_bar() as progress):
        ingestor = Ingestor(application, settings.batch_size, settings.cache_size)
        task = progress.add_task("retry", total=retry_candidates(ingestor, reasons))
        settler = _Settler(application, progress, views)
        with on_interrupt(lambda: _retry_kept(settler.settling)):
            summary = ingestor.retry_rejects(
                reasons, progress=lambda n: progress.update(task, advance=n),
                settle=settler)
    if as_json or given.get("as_json") or state.json:
        emit_json(summary.as_json())
    else:
        print_summary(summary)
        if summary.not_retried:
            one = summary.not_retried == 1
            stdout.print(f"{summary.not_retried:,} open reject{'' if one else 's'} not retried "
                         f"(still open): {'it has' if one else 'they have'} no string "
                         "touchpoint_id (not JSON, not an object, or a line over 1 MiB whose "
                         "reject keeps only its first bytes)")
    settler.raise_failure()


def _retry_kept(settling: bool) -> str:
    if settling:
        return ("every re-decided line is stored, but the views are not caught up; run "
                "journey project to bring them up to date")
    return ("the batches re-decided so far are stored (their rejects are closed or superseded "
            "by new ones); run the same command to re-decide the rejects still open")


def _stream_csv(pages: Iterator[list[RejectRow]]) -> None:
    """One CSV row per reject (``raw_base64`` empty when the line is UTF-8), page by page."""
    from journey.infra.ingest.rejects import reject_document

    writer = csv.writer(sys.stdout)
    writer.writerow(("seq", "source", "touchpoint_id", "reason", "detail", "raw", "raw_base64"))
    for page in pages:
        for row in page:
            doc = reject_document(row)
            writer.writerow((row.seq, row.source or "", doc["touchpoint_id"] or "",
                             doc["reason"], doc["detail"], doc["raw"],
                             doc.get("raw_base64", "")))
    sys.stdout.flush()


def _stream_json(pages: Iterator[list[RejectRow]]) -> None:
    """``{"rejects": [...]}`` exactly as ``emit_json`` would print it, one page at a time."""
    from journey.infra.ingest.rejects import rejects_json

    for piece in rejects_json(pages):
        sys.stdout.write(piece)
    sys.stdout.flush()
