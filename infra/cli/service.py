"""How the service reports print: ``journey kpis`` (contract 4.6) and ``journey invoices``
(4.8) as tables a person reads, or CSV sections.

``--json`` (and ``--format json``) prints the query's document as it is (5.1). The CSV is
exact too: one ``# title`` line per section, then its header and rows with the document's
values unchanged (rates as fractions, hours and money as in the JSON; satisfaction as one row
per group with a column per score). Only the tables are for the eye: rates as percentages,
hours and money right-aligned with 2 decimals, an empty figure (null) as an en dash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from journey.infra.cli.app import Format, _freshness_note, show, state, stdout

NONE = "\N{EN DASH}"  # a figure of an empty set (null in the JSON)


def _plain(value: Any) -> str:
    return NONE if value is None else str(value)


def _percent(value: Any) -> str:
    return NONE if value is None else f"{value * 100:.2f} %"


def _hours(value: Any) -> str:
    return NONE if value is None else f"{value:.2f}"


@dataclass(frozen=True)
class Column:
    """One column of a table: the row's key, its header, how a value prints, where."""

    key: str
    header: str
    shown: Callable[[Any], str] = _plain
    right: bool = True


def _table(title: str, columns: Sequence[Column], rows: Sequence[Mapping[str, Any]],
           caption: str | None) -> None:
    if not rows:  # as every other view command prints an empty list
        stdout.print(Table("(none)", title=title, caption=caption))
        return
    table = Table(title=title, caption=caption)
    for column in columns:
        table.add_column(column.header, justify="right" if column.right else "left")
    for row in rows:  # Text: an id holding "[...]" is not read as rich markup
        table.add_row(*(Text(column.shown(row[column.key])) for column in columns))
    stdout.print(table)


def _month(key: str = "month") -> Column:
    return Column(key, key, right=False)


CASES = (_month(), Column("opened", "opened"), Column("resolved", "resolved"),
         Column("hours_to_resolve_p50", "hours to resolve p50", _hours),
         Column("hours_to_resolve_p90", "p90", _hours),
         Column("reopened", "reopened"), Column("reopen_rate", "reopen rate", _percent))
REPAIRS = (_month(), Column("requested", "requested"), Column("completed", "completed"),
           Column("first_time_fixed", "fixed first time"),
           Column("first_time_fix_rate", "first-time fix rate", _percent),
           Column("hours_to_fix_p50", "hours to fix p50", _hours),
           Column("hours_to_fix_p90", "p90", _hours))
PARTS = (_month(), Column("reservations", "reservations"),
         Column("filled", "filled from stock"), Column("fill_rate", "fill rate", _percent))
SCORES = ("1", "2", "3", "4", "5")
SATISFACTION = (Column("group", "group", right=False), Column("ratings", "count"),
                Column("mean", "mean score", lambda v: NONE if v is None else f"{v:.2f}"),
                *(Column(f"score_{s}", f"score {s}") for s in SCORES))
#: The satisfaction groups, in the order they print, and their words in the table.
GROUPS = {"after_error": "after a service error", "no_error": "no error before", "all": "all"}

KPI_TITLES = {"cases": "cases by month opened", "repairs": "repairs by month requested",
              "parts": "part reservations by month",
              "satisfaction": "satisfaction by group"}


def _satisfaction_rows(satisfaction: Mapping[str, Any], words: bool) -> list[dict[str, Any]]:
    """One row per group: ``group, ratings, mean, score_1 ... score_5``."""
    return [{"group": GROUPS[group] if words else group, "ratings": figures["ratings"],
             "mean": figures["mean"],
             **{f"score_{s}": figures["by_score"][s] for s in SCORES}}
            for group, figures in ((g, satisfaction[g]) for g in GROUPS)]


def print_kpis(document: dict[str, Any], as_json: bool, fmt: Format) -> None:
    """The KPI report (5.1): the document, CSV sections, or four tables."""
    if as_json or state.json or fmt is Format.json:
        show(document, as_json, fmt, KPI_TITLES)
        return
    if fmt is Format.csv:
        show({**document, "satisfaction": _satisfaction_rows(document["satisfaction"], False)},
             False, fmt, KPI_TITLES)
        return
    caption = _freshness_note(document.get("freshness"))
    _table(KPI_TITLES["cases"], CASES, document["cases"], caption)
    _table(KPI_TITLES["repairs"], REPAIRS, document["repairs"], caption)
    _table(KPI_TITLES["parts"], PARTS, document["parts"], caption)
    _table("satisfaction: ratings after a service error and without one", SATISFACTION,
           _satisfaction_rows(document["satisfaction"], True), caption)


BY_MONTH = (_month(), Column("currency", "currency", right=False), Column("issued", "issued"),
            Column("amount", "amount"), Column("paid", "paid"),
            Column("outstanding", "outstanding"), Column("overdue", "overdue"),
            Column("overdue_amount", "overdue amount"))
INVOICES = (Column("invoice_id", "invoice", right=False),
            Column("customer_id", "customer", right=False),
            Column("currency", "currency", right=False), Column("amount", "amount"),
            Column("paid", "paid"), Column("balance", "balance"),
            Column("due_date", "due", right=False), Column("reminders", "reminders"),
            Column("status", "status", right=False))


def invoice_titles(document: Mapping[str, Any], status: str | None) -> dict[str, str]:
    """The sections' titles, which carry the reference day (no commas: CSV title lines)."""
    day = document["as_of_day"]
    which = f"{status} invoices" if status else "invoices"
    return {"by_month": f"invoices by month of issue and currency as of {day}",
            "invoices": f"{which} as of {day} by invoice_id"}


def print_invoices(document: dict[str, Any], as_json: bool, fmt: Format, status: str | None,
                   limit: int | None) -> None:
    """The invoice report (5.1): the document, CSV sections, or the summary by month then
    the invoices (the first ``limit`` of them, the title says so)."""
    titles = invoice_titles(document, status)
    if as_json or state.json or fmt is not Format.table:
        show(document, as_json, fmt, titles)
        return
    caption = _freshness_note(document.get("freshness"))
    _table(titles["by_month"], BY_MONTH, document["by_month"], caption)
    rows = document["invoices"]
    title = titles["invoices"]
    if limit is not None and limit < len(rows):
        title = f"the first {limit} of {len(rows)} {title}"
        rows = rows[:limit]
    _table(title, INVOICES, rows, caption)
