"""What the overview shows: the API's queries, read in one snapshot of the views, and the
few figures a person looks at first.

One ``answer`` (``journey.infra.audit.answers``) asks the same questions ``GET /v1/errors``,
``/v1/kpis``, ``/v1/invoices?status=overdue``, ``/v1/stock?needs_reorder=true`` and
``/v1/customers`` ask, in one read of the views, so every figure on the page comes from the
same log position (its ``freshness``). The tiles are sums over those documents' rows
(a rate over a period is the sum of its numerators over the sum of its denominators);
the pages and ``journey report`` render the result alike.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from journey.infra.audit.answers import answer
from journey.infra.http.dashboard import charts
from journey.infra.http.dashboard.rendering import render
from journey.infra.store import JourneyApplication
from journey.projections.stock import Planning

#: How many rows the overview's lists show (the stock page and the API have them all).
TOP = 10


@dataclass(frozen=True)
class OverviewFilter:
    """The overview's choices: the months of the error and KPI figures (inclusive; None:
    open) and the cost of one contact (contract 4.7; None: no cost shown)."""

    first_month: str | None = None
    last_month: str | None = None
    contact_cost: Decimal | None = None


#: How the server recalls an answer kept for the same state of the views
#: (``Answers.ask(key, question)``): the overview's questions take seconds on a large store.
Recall = Callable[[Hashable, Callable[[Any], dict[str, Any]]], dict[str, Any]]


def read_overview(application: JourneyApplication, chosen: OverviewFilter, *,
                  ready: bool = False, recall: Recall | None = None) -> dict[str, Any]:
    """The documents of the overview, its tiles and its short lists, and their freshness
    (``ready``: the view tables are known to be there, as in the server; ``recall``: ask
    through the server's kept answers, whose documents are shared and never changed)."""
    first, last, cost = chosen.first_month, chosen.last_month, chosen.contact_cost

    def ask(views: Any) -> dict[str, Any]:
        return {"errors": views.errors(None, first, last, contact_cost=cost),
                "kpis": views.kpis(first, last),
                "invoices": views.invoices(None, "overdue"),
                "stock": views.stock(None, None, True, Planning()),
                "customers": views.customers(TOP)}

    documents = (answer(application, ask, ready=ready) if recall is None
                 else recall(("overview", first, last, cost), ask))
    return {**documents, "tiles": tiles(documents, cost),
            "overdue": _most_overdue(documents["invoices"]),
            "owed": _owed(documents["invoices"]["invoices"]),
            "reorder": _most_urgent(documents["stock"]["items"]),
            "worst_served": [c for c in documents["customers"]["customers"] if c["errors"]]}


def overview_html(application: JourneyApplication, chosen: OverviewFilter, *,
                  ready: bool = False, recall: Recall | None = None, **page: Any) -> str:
    """The overview page (``page``: what the base template takes: ``report``, ``version``,
    ``signed_in`` ...)."""
    o = read_overview(application, chosen, ready=ready, recall=recall)
    kpis = o["kpis"]
    drawn = {"error_rates": charts.error_rates(o["errors"]["by_kind_month"]),
             "errors_by_code": charts.errors_by_code(o["errors"]["by_code"]),
             "failure_demand": charts.failure_demand(o["errors"]["failure_demand"]),
             "satisfaction": charts.satisfaction(kpis["satisfaction"]),
             "service_rates": charts.service_rates(kpis),
             "resolve_hours": charts.resolve_hours(kpis["cases"])}
    first, last = chosen.first_month, chosen.last_month
    period = (f"{first} to {last}" if first and last else f"{first} onwards" if first
              else f"up to {last}" if last else "")
    form = {"first": first or "", "last": last or "",
            "cost": "" if chosen.contact_cost is None else str(chosen.contact_cost)}
    return render("overview.html", o=o, charts=drawn, months=months_table(kpis),
                  cost=chosen.contact_cost, period=period, chosen=form,
                  freshness=o["freshness"], active="overview", **page)


def months_table(kpis: dict[str, Any]) -> list[dict[str, Any]]:
    """The repairs, parts and cases rows of each month side by side (None where absent)."""
    empty = {"completed": None, "first_time_fix_rate": None, "reservations": None,
             "fill_rate": None, "resolved": None, "reopen_rate": None}
    rows: dict[str, dict[str, Any]] = {}
    for section, keys in (("repairs", ("completed", "first_time_fix_rate")),
                          ("parts", ("reservations", "fill_rate")),
                          ("cases", ("resolved", "reopen_rate"))):
        for row in kpis[section]:
            merged = rows.setdefault(row["month"], {"month": row["month"], **empty})
            merged.update({key: row[key] for key in keys})
    return [rows[month] for month in sorted(rows)]


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _sum(rows: list[dict[str, Any]], key: str) -> int:
    return sum(row[key] for row in rows)


def tiles(documents: dict[str, Any], cost: Decimal | None) -> list[dict[str, Any]]:
    """The headline figures: ``label``, ``value`` (a number, a rate or text), ``kind`` of
    value (``rate``, ``count``, ``hours``, ``score``, ``text``), a ``note``, and ``alert``."""
    rates, demand = documents["errors"]["by_kind_month"], documents["errors"]["failure_demand"]
    kpis = documents["kpis"]
    failure, contacts = _sum(demand, "failure"), _sum(demand, "contacts")
    cases = [row for row in kpis["cases"] if row["hours_to_resolve_p50"] is not None]
    satisfied = kpis["satisfaction"]
    overdue = documents["invoices"]["invoices"]
    shown = [
        {"label": "Error rate", "kind": "rate",
         "value": _ratio(_sum(rates, "errors"), _sum(rates, "touchpoints")),
         "note": f"{_sum(rates, 'errors'):,} of {_sum(rates, 'touchpoints'):,} touchpoints"},
        {"label": "Failure demand", "kind": "rate", "value": _ratio(failure, contacts),
         "note": f"{failure:,} of {contacts:,} contacts"},
        {"label": "Time to resolve", "kind": "hours",
         "value": cases[-1]["hours_to_resolve_p50"] if cases else None,
         "note": f"median, cases opened {cases[-1]['month']}" if cases else "no case resolved"},
        {"label": "First-time fixes", "kind": "rate",
         "value": _ratio(_sum(kpis["repairs"], "first_time_fixed"),
                         _sum(kpis["repairs"], "completed")),
         "note": f"of {_sum(kpis['repairs'], 'completed'):,} repairs completed"},
        {"label": "Fill rate", "kind": "rate",
         "value": _ratio(_sum(kpis["parts"], "filled"), _sum(kpis["parts"], "reservations")),
         "note": f"of {_sum(kpis['parts'], 'reservations'):,} part reservations"},
        {"label": "Satisfaction", "kind": "score", "value": satisfied["after_error"]["mean"],
         "note": _satisfaction_note(satisfied), "alert": _worse_after_error(satisfied)},
        {"label": "Overdue invoices", "kind": "count", "value": len(overdue),
         "note": f"due before {documents['invoices']['as_of_day']}", "alert": bool(overdue)},
    ]
    if cost is not None:
        total = sum((Decimal(row["cost"]) for row in demand), Decimal(0))
        shown.insert(2, {"label": "Failure demand cost", "kind": "text",
                         "value": f"{total:,.2f}", "note": f"at {cost:,.2f} per contact"})
    return shown


def _satisfaction_note(satisfied: dict[str, Any]) -> str:
    clean = satisfied["no_error"]
    if clean["mean"] is None:
        return "mean score (1-5) after a service error"
    return f"mean score after a service error; {clean['mean']:.2f} without one"


def _worse_after_error(satisfied: dict[str, Any]) -> bool:
    after, clean = satisfied["after_error"]["mean"], satisfied["no_error"]["mean"]
    return after is not None and clean is not None and after < clean


def _owed(overdue: list[dict[str, Any]]) -> list[tuple[str, Decimal]]:
    """The balance of the overdue invoices per currency (exact)."""
    owed: dict[str, Decimal] = {}
    for invoice in overdue:
        owed[invoice["currency"]] = owed.get(invoice["currency"], Decimal(0)) + Decimal(
            invoice["balance"])
    return sorted(owed.items())


def _most_overdue(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The overdue invoices due longest ago (then by id), with their days overdue at the
    report's reference day."""
    day = date.fromisoformat(report["as_of_day"])
    oldest = sorted(report["invoices"], key=lambda row: (row["due_date"], row["invoice_id"]))
    return [{**row, "days_overdue": (day - date.fromisoformat(row["due_date"])).days}
            for row in oldest[:TOP]]


def _most_urgent(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parts to reorder with the fewest days of supply (none known: last)."""
    return sorted(items, key=lambda row: (row.get("days_of_supply") is None,
                                          row.get("days_of_supply") or 0.0,
                                          row["part_id"], row["location"]))[:TOP]
