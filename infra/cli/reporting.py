"""``journey report``: the dashboard's overview as one self-contained HTML file.

The page is rendered by the dashboard's own code (``journey.infra.http.dashboard.report``),
whose libraries (jinja2, pygal) are imported when the command runs, so the other commands
start without them. The file is written atomically: to a new file beside the target, flushed,
then renamed over it, so the name always holds a whole report. Only a regular file is
replaced; a directory, a link, a FIFO or a device at the target is refused, untouched. Like
an export it holds customer ids, so it is created readable by its owner alone (``0600``).
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import suppress
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from journey.domain.errors import JourneyError
from journey.infra.audit.files import kind_of
from journey.infra.cli import options
from journey.infra.cli.app import DbOption, JsonOption, app, emit_json, log, state, store
from journey.infra.cli.views import FromOption, ToOption, months


@app.command(epilog="Example: journey report -o report.html --contact-cost 12.50")
def report(
    output: Annotated[str, typer.Option(
        "-o", "--output", help="the HTML file to write (a regular file there is replaced)")
    ] = "report.html",
    db: DbOption = None, as_json: JsonOption = False,
    first: FromOption = None, last: ToOption = None,
    contact_cost: Annotated[Decimal | None, typer.Option(
        "--contact-cost", parser=options.contact_cost,
        help="what one contact costs (a decimal >= 0, at most 2 decimals): the report shows "
        "what failure demand cost (env JOURNEY_CONTACT_COST)")] = None,
) -> None:
    """The overview (error rates, failure demand, KPIs, overdue invoices, parts to reorder,
    worst-served customers) as one HTML file with its charts: it opens offline, anywhere."""
    target = Path(output)
    first_month, last_month = months(first, last)
    _check_target(target)  # before reading the store: a wrong -o fails at once
    from journey.infra.http.dashboard.report import render_report

    with store(db) as application:
        html = render_report(application, state.settings, first_month, last_month,
                             contact_cost)
    data = html.encode("utf-8")
    _write(target, data)
    log.info("report.written", bytes=len(data))
    if as_json or state.json:
        emit_json({"output": str(target), "bytes": len(data)})
    else:
        typer.echo(f"wrote {target} ({len(data) / 1024:,.0f} KiB): one page, charts included, "
                   "opens in any browser without a network")


def _check_target(target: Path) -> None:
    """Refuse a target that names no file, or is anything but a regular file."""
    if not target.name or str(target).endswith(os.sep):
        raise JourneyError(f"{str(target)!r} names no file: give a file name, e.g. "
                           "-o report.html")
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise JourneyError(f"cannot write {target}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(mode):
        raise JourneyError(f"{target} is {kind_of(mode)}: journey report replaces only a "
                           "regular file (give another -o)")


def _write(target: Path, data: bytes) -> None:
    """``data`` into ``target`` atomically (see the module)."""
    try:
        fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                       dir=target.parent)
    except OSError as exc:
        raise JourneyError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        _check_target(target)  # still nothing, or a regular file, at the last moment
        os.replace(partial, target)
    except OSError as exc:
        raise JourneyError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        with suppress(FileNotFoundError):
            os.unlink(partial)
