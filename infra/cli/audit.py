"""The auditors' commands: history, export, verify-export, audit verify, audit replay.

They answer from the log itself, not from the live views; ``audit replay`` rebuilds the
views from the log and compares them with the live ones. Each command imports its auditor's
module when it runs (the export's Avro codec, the replay's folds), so other commands start
without them.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from journey.domain.errors import UsageError
from journey.infra.audit.files import ExportError, open_regular, seekable_stdin
from journey.infra.bounds import check_range, lower, upper
from journey.infra.cli import options
from journey.infra.cli.app import (
    AsOfOption,
    DbOption,
    Format,
    FormatOption,
    JsonOption,
    KnownAtOption,
    app,
    emit_json,
    log,
    show,
    state,
    stderr,
    stdout,
    store,
    time_window,
)

if TYPE_CHECKING:  # the auditors' modules are imported by the commands that run them
    from journey.infra.audit.verify import AuditReport


@app.command(epilog="Example: journey history order:O1 --known-at 2026-03-15")
def history(
    entity: Annotated[str, typer.Argument(
        parser=options.entity,
        help="customer:C1, order:O1, invoice:I1, case:K1, repair:R1 or part:P1@WH1")],
    db: DbOption = None, as_json: JsonOption = False, fmt: FormatOption = Format.table,
    as_of: AsOfOption = None, known_at: KnownAtOption = None,
) -> None:
    """Every stored event of an entity: log position, record and business time, state after."""
    from journey.infra.audit.history import history as entity_history

    window = time_window(as_of, known_at)
    with store(db) as application:
        document = entity_history(application, entity, window)
    if as_json or state.json or fmt is Format.json:
        emit_json(document)
        return
    rows = [{k: v for k, v in e.items() if k != "state"} | {"state": json.dumps(e["state"])}
            for e in document["events"]]
    show({"events": rows}, False, fmt, {"events": f"history of {entity}"})


@app.command(epilog="Example: journey export -o march.avro --from 2026-03 --to 2026-03")
def export(
    output: Annotated[str, typer.Option(
        "-o", "--output", help="the .avro file to write (created 0600), or - for stdout")],
    db: DbOption = None, as_json: JsonOption = False,
    customer: Annotated[str | None, typer.Option(
        parser=options.text("--customer"), help="only this customer's events")] = None,
    first: Annotated[str | None, typer.Option(
        "--from", parser=options.bound("--from"),
        help="occurred at or after the start of this month, day or instant (YYYY-MM, "
        "YYYY-MM-DD or RFC 3339 with an offset)")] = None,
    last: Annotated[str | None, typer.Option(
        "--to", parser=options.bound("--to"),
        help="occurred at or before the end of this month, day or instant")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="replace the file if it exists (a regular file only)")] = False,
) -> None:
    """Write selected stored events with their metadata to an Avro container file."""
    from journey.infra.audit.export import export_events

    check_range(first, last)
    start = None if first is None else lower(first, "--from")
    end = None if last is None else upper(last, "--to")
    to_stdout = output == "-"
    if to_stdout and (as_json or state.json):
        raise ExportError("--json prints the summary on standard output, which -o - uses "
                          "for the export: drop --json (the summary goes to stderr)")
    if to_stdout and sys.stdout.isatty():
        raise ExportError("standard output is a terminal: redirect or pipe -o - (an Avro "
                          "container is binary)")
    with store(db) as application:
        target: str | BinaryIO = sys.stdout.buffer if to_stdout else output
        summary = export_events(application, target, customer=customer, start=start,
                                end=end, force=force)
    log.info("export.done", records=summary.records, path=str(summary.path))
    if as_json or state.json:
        emit_json(summary.as_json())
    elif to_stdout:  # stdout holds the container and nothing else
        stderr.print(f"exported {summary.records} events to standard output", markup=False)
    else:
        stdout.print(f"exported {summary.records} events to {summary.path}", markup=False)


@app.command("verify-export", epilog="Example: journey verify-export march.avro")
def verify_export_command(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(
        help="an .avro file written by journey export, or - for stdin")],
    db: DbOption = None, as_json: JsonOption = False,
) -> None:
    """Check an export against the store (--db, JOURNEY_DB, or the default store when it
    exists), record by record; without a store, check the file against itself (its hashes
    and chain links, and its head seal when JOURNEY_AUDIT_SECRET is set). Exit 1 on a
    mismatch."""
    from journey.infra.audit.verify_export import verify_export
    from journey.infra.store.chain import audit_key

    key = audit_key(state.settings.audit_secret) if state.settings.audit_secret else None
    with (seekable_stdin() if path == "-" else open_regular(path)) as stream:
        if not _store_given(ctx, db):
            report = verify_export(None, path, stream=stream, secret_key=key)
        else:
            with store(db) as app_:
                report = verify_export(app_, path, stream=stream, secret_key=key)
    if as_json or state.json:
        emit_json(report.as_json())
    else:
        for text in report.lines():
            stdout.print(text, markup=False)
    if not report.ok:
        raise SystemExit(1)


def _store_given(ctx: typer.Context, db: str | None) -> bool:
    """Whether to check against a store: one was named (this command's --db, the top-level
    one, JOURNEY_DB), or the default store exists; else the file is checked on its own."""
    from journey.infra.store.urls import store_env

    if db or ctx.find_root().params.get("db") or os.environ.get("JOURNEY_DB"):
        return True
    path = store_env(state.settings.db).get("SQLITE_DBNAME")  # the URL as every store reads it
    return path is None or os.path.exists(path)


audit_app = typer.Typer(help="Auditors: verify the log, replay the views.",
                        no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _expect_head(value: str) -> str:
    """``--expect-head``: ``verify.expect_head_hash``, imported when the option is given."""
    from journey.infra.audit.verify import expect_head_hash

    try:
        return expect_head_hash(value)
    except ValueError as exc:  # its own words: click would keep only the value
        raise UsageError(f"--expect-head: {exc}") from None


@audit_app.command("verify", epilog="Example: JOURNEY_AUDIT_SECRET_FILE=/run/secrets/audit "
                   "journey audit verify --json")
def audit_verify_command(
    db: DbOption = None, as_json: JsonOption = False,
    expect_head: Annotated[str | None, typer.Option(
        "--expect-head", parser=options.shown(_expect_head, "str"),
        help="a head_hash kept from an earlier report (64 hex digits): exit 1 unless the "
        "verified chain still passes through it")] = None,
) -> None:
    """Recompute the hash chain over the log, check the HMAC seals with JOURNEY_AUDIT_SECRET.

    Exit 0 only when both hold; 1 when something was altered, 3 when the seals prove
    nothing (no secret, another secret, or a store sealed with the public default key).
    """
    from journey.infra.audit.verify import verify_log

    with store(db) as application:
        report = verify_log(application, expect_head=expect_head)
    for warning in report.warnings:
        log.warning("audit.warning", detail=warning)
    log.info("audit.verify", ok=report.ok, chain=report.chain, seals=report.seals,
             events=report.events, events_per_second=report.events_per_second)
    if as_json or state.json:
        emit_json(report.as_json())
    else:
        _print_verify(report)
    if not report.ok:
        raise SystemExit(report.exit_code)


def _print_verify(report: AuditReport) -> None:
    """``audit verify``'s verdict in words (the anchor first, when one was given)."""
    if report.expected_head_at is not None:
        stdout.print(f"expected head: found at position {report.expected_head_at} ("
                     f"{report.events - report.events_at_expected} events appended since): "
                     "nothing up to it was cut off or rewritten", markup=False)
    if report.problem == "head_not_found":
        stdout.print(f"HEAD NOT FOUND: {report.detail}", markup=False)
    elif report.ok:
        stdout.print(f"ok: {report.events} events verified, sealed up to position "
                     f"{report.sealed_up_to} ({report.events_per_second:.0f} events/s)",
                     markup=False)
    elif report.problem is not None:
        stdout.print(f"TAMPERED at position {report.first_bad_position}: {report.problem}: "
                     f"{report.detail}", markup=False)
    else:
        stdout.print(f"NOT VERIFIED ({report.seals}): {report.reason}; the hash chain of "
                     f"{report.events} events is intact, which alone proves nothing",
                     markup=False)


@audit_app.command("replay", epilog="Example: journey audit replay --json")
def audit_replay_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Rebuild every view from the log into scratch tables and compare with the live ones."""
    from journey.infra.audit.history import audit_replay

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
