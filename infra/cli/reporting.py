"""``journey report``: the dashboard's overview as one self-contained HTML file.

The page is rendered by the dashboard's own code (``journey.infra.http.dashboard.report``),
whose libraries (jinja2, pygal) are imported when the command runs, so the other commands
start without them. The file is written atomically: to a new file beside the target, flushed,
then renamed over it, so the name always holds a whole report. Only a regular file is
replaced; a directory, a link, a FIFO or a device at the target is refused, untouched. Like
an export it holds customer ids, so it is created readable by its owner alone (``0600``).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from journey.domain.errors import JourneyError
from journey.infra.audit.files import atomic_output, check_target
from journey.infra.cli import options
from journey.infra.cli.app import DbOption, JsonOption, app, emit_json, log, state, store
from journey.infra.cli.views import FromOption, ToOption, months

#: Who writes the report, and what else to do, in the messages of a refused -o.
REPORT = ("journey report", "give another -o, e.g. -o report.html")


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
    if not target.name:  # refused before the store is read
        raise JourneyError(f"{str(target)!r} names no file: {REPORT[1]}")
    check_target(target, force=True, writer=REPORT)
    from journey.infra.http.dashboard.report import render_report

    with store(db) as application:
        html = render_report(application, state.settings, first_month, last_month,
                             contact_cost)
    data = html.encode("utf-8")
    with atomic_output(target, force=True, writer=REPORT) as out:
        out.write(data)
    log.info("report.written", bytes=len(data))
    if as_json or state.json:
        emit_json({"output": str(target), "bytes": len(data)})
    else:
        typer.echo(f"wrote {target} ({len(data) / 1024:,.0f} KiB): one page, charts included, "
                   "opens in any browser without a network")
