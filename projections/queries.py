"""Typed queries over the view tables; the CLI's --json output is exactly these shapes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NotRequired, Protocol, TypedDict

from journey.projections.service import queries as service
from journey.projections.service.figures import cost_per_contact, money_text, times
from journey.projections.service.queries import (
    CaseMonth,
    InvoiceMonth,
    InvoiceReport,
    InvoiceRow,
    KpiReport,
    PartsMonth,
    RepairMonth,
    Satisfaction,
    SatisfactionGroup,
)
from journey.projections.stock import STORED_WINDOW_DAYS, Planning
from journey.projections.tables import Tables

__all__ = [
    "CaseMonth",
    "CodeCount",
    "CustomerErrors",
    "CustomerReport",
    "ErrorRate",
    "ErrorReport",
    "FailureDemand",
    "Freshness",
    "InvoiceMonth",
    "InvoiceReport",
    "InvoiceRow",
    "KpiReport",
    "PartsMonth",
    "Reader",
    "RepairMonth",
    "Satisfaction",
    "SatisfactionGroup",
    "StockItem",
    "StockReport",
    "Timeline",
    "TimelineEntry",
    "ViewQueries",
]


class TimelineEntry(TypedDict):
    touchpoint_id: str
    type: str
    occurred_at: str  # RFC 3339, UTC, "...Z"
    entity: str  # "order:O1", "part:P1@WH1", ...
    error: str | None


class Timeline(TypedDict):
    customer_id: str
    entries: list[TimelineEntry]


class ErrorRate(TypedDict):
    kind: str
    month: str
    touchpoints: int
    errors: int
    error_rate: float


class CodeCount(TypedDict):
    code: str
    count: int


class FailureDemand(TypedDict):
    month: str
    contacts: int
    failure: int
    ratio: float
    cost: NotRequired[str]  # failure x the cost per contact, 2 decimals (when one is given)


class ErrorReport(TypedDict):
    by_kind_month: list[ErrorRate]
    by_code: list[CodeCount]
    failure_demand: list[FailureDemand]


class StockItem(TypedDict):
    part_id: str
    location: str
    on_hand: int
    reserved: int
    available: int
    backordered: int
    issued_90d: NotRequired[int]  # planning figures (window of 90 days by default)
    days_of_supply: NotRequired[float | None]
    reorder_point: NotRequired[float]
    needs_reorder: NotRequired[bool]


class StockReport(TypedDict):
    items: list[StockItem]


class CustomerErrors(TypedDict):
    customer_id: str
    touchpoints: int
    errors: int


class CustomerReport(TypedDict):
    customers: list[CustomerErrors]


class Freshness(TypedDict):
    """Which log position an answer reflects (the ``freshness`` of every ``--json`` query).

    ``view_position``: every event of the log up to this position is in the answer (the
    lowest tracking position of the views it read); ``log_head``: the log's last position
    when it was asked. They differ after ``ingest --no-views`` until ``journey project``.
    ``source`` is ``"views"`` for the live views; ``"log"`` for an answer replayed from the
    log itself (``--as-of``/``--known-at``, which then follow here), always complete.
    """

    view_position: int
    log_head: int
    source: str
    as_of: NotRequired[str | None]
    known_at: NotRequired[str | None]


class Reader(Protocol):
    """A DB-API cursor with positional rows, and the dialect's placeholder rewrite."""

    def execute(self, statement: str, params: Any = ...) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


@dataclass(frozen=True)
class ViewQueries:
    cursor: Reader
    sql: Callable[[str], str]
    t: Tables
    #: Per projection, the last log position it has folded in, and the log's head, when
    #: known (read before the answers: they reflect at least that much); see ``freshness``.
    positions: Mapping[str, int] | None = None
    log_head: int | None = None
    #: The projections the answers so far came from.
    read: set[str] = field(default_factory=set, compare=False)

    def freshness(self) -> Freshness | None:
        """Which log position the answers so far reflect (``None``: positions not known)."""
        if self.positions is None or self.log_head is None:
            return None
        names = self.read or set(self.positions)
        return {"view_position": min(self.positions[name] for name in names),
                "log_head": self.log_head, "source": "views"}

    def _rows(self, statement: str, *params: Any) -> list[Any]:
        self.cursor.execute(self.sql(statement), params)
        return list(self.cursor.fetchall())

    def timeline(self, customer_id: str) -> Timeline:
        """Every touchpoint of a customer, their repairs' part movements included."""
        self.read.add("touchpoints")
        rows = self._rows(
            f"SELECT touchpoint_id, type, occurred_at, entity, code FROM {self.t.view_touchpoints} "
            "WHERE customer_id = ? ORDER BY occurred_us, seq", customer_id)
        return {
            "customer_id": customer_id,
            "entries": [{"touchpoint_id": r[0], "type": r[1], "occurred_at": r[2],
                         "entity": r[3], "error": r[4]} for r in rows],
        }

    def customers(self, top: int = 10) -> CustomerReport:
        """The customers with the most touchpoints carrying an error code."""
        self.read.add("touchpoints")
        rows = self._rows(
            f"SELECT customer_id, COUNT(*) AS touchpoints, COUNT(code) AS errors "
            f"FROM {self.t.view_touchpoints} "
            "WHERE customer_id IS NOT NULL GROUP BY customer_id "
            "ORDER BY COUNT(code) DESC, customer_id LIMIT ?", top)
        return {"customers": [{"customer_id": c, "touchpoints": n, "errors": e}
                              for c, n, e in rows]}

    def errors(self, kind: str | None = None, first_month: str | None = None,
               last_month: str | None = None, contact_cost: Decimal | None = None
               ) -> ErrorReport:
        """Error rates per kind and month, counts per code, failure demand per month; with
        a cost per contact, each failure-demand row gets its ``cost`` (contract 4.7)."""
        if contact_cost is not None:
            contact_cost = cost_per_contact(contact_cost)
        self.read.add("touchpoints")
        where, params = _month_filter(first_month, last_month)
        kind_where = where + (" AND kind = ?" if kind else "")
        kind_params = [*params, kind] if kind else params
        rates = self._rows(
            f"SELECT kind, month, touchpoints, errors FROM {self.t.view_error_rates} "
            f"WHERE {kind_where} ORDER BY kind, month", *kind_params)
        if kind or where != "1=1":  # the per-code counters are all-time: count the rows
            codes = self._rows(
                f"SELECT code, COUNT(*) FROM {self.t.view_touchpoints} "
                f"WHERE code IS NOT NULL AND {kind_where} GROUP BY code ORDER BY code",
                *kind_params)
        else:
            codes = self._rows(f"SELECT code, count FROM {self.t.view_error_codes} "
                               "WHERE count > 0 ORDER BY code")
        demand = self._rows(
            f"SELECT month, contacts, failure FROM {self.t.view_failure_demand} "
            f"WHERE {where} ORDER BY month", *params)
        failure_demand: list[FailureDemand] = [
            {"month": m, "contacts": n, "failure": f, "ratio": round(f / n, 4) if n else 0.0}
            for m, n, f in demand]
        if contact_cost is not None:
            for row in failure_demand:
                row["cost"] = money_text(times(row["failure"], contact_cost))
        return {
            "by_kind_month": [{"kind": k, "month": m, "touchpoints": n, "errors": e,
                               "error_rate": round(e / n, 4) if n else 0.0}
                              for k, m, n, e in rates],
            "by_code": [{"code": c, "count": n} for c, n in codes],
            "failure_demand": failure_demand,
        }

    def kpis(self, first_month: str | None = None, last_month: str | None = None
             ) -> KpiReport:
        """Service KPIs per month (contract 4.6): cases, repairs, parts; satisfaction split
        by whether the customer met an error before rating (of the ratings in the months)."""
        self.read.add("service")
        where, params = _month_filter(first_month, last_month)
        return service.kpis(self._rows, self.t, where, params)

    def invoices(self, as_of_day: date | None = None, status: str | None = None
                 ) -> InvoiceReport:
        """Invoices with their status at the reference day ``as_of_day`` (by default the
        UTC date of the latest accepted touchpoint), and the sums per month and currency
        (contract 4.8); ``status`` (paid, open, overdue) filters the invoices only."""
        self.read.add("service")
        return service.invoices(self._rows, self.t, as_of_day, status)

    def stock(self, part_id: str | None = None, location: str | None = None,
              needs_reorder: bool = False, planning: Planning | None = None) -> StockReport:
        """Stock levels per (part, location) with demand-based planning figures."""
        self.read.add("stock")
        planning = planning or Planning()
        filters = {"part_id": part_id, "location": location}
        params = [value for value in filters.values() if value is not None]
        where = " AND ".join(["1=1", *(f"{column} = ?" for column in filters
                                       if filters[column] is not None)])
        rows = self._rows(
            "SELECT part_id, location, on_hand, reserved, backordered, window_qty, "
            f"window_squares FROM {self.t.view_stock} WHERE {where} "
            "ORDER BY part_id, location", *params)
        if planning.window_days != STORED_WINDOW_DAYS:  # the view keeps sums for its own
            sums = self._window_sums(planning, where, params)
            rows = [(*row[:5], *sums.get((row[0], row[1]), (0, 0))) for row in rows]
        from_sums, issued = planning.from_sums, planning.issued_key
        items: list[StockItem] = []
        for p, loc, on_hand, reserved, backordered, total, squares in rows:
            available = on_hand - reserved
            days_of_supply, reorder_point, reorder = from_sums(total, squares, available,
                                                               backordered)
            if needs_reorder and not reorder:
                continue
            items.append({  # issued_<window>d: the window is a setting
                "part_id": p, "location": loc, "on_hand": on_hand, "reserved": reserved,
                "available": available, "backordered": backordered,
                issued: total,  # type: ignore[misc]
                "days_of_supply": days_of_supply, "reorder_point": reorder_point,
                "needs_reorder": reorder})
        return {"items": items}

    def _window_sums(self, planning: Planning, where: str, params: list[str]
                     ) -> dict[tuple[str, str], tuple[int, int]]:
        """(issued total, sum of squared daily issues) per pair over ``planning``'s window."""
        as_of = self._rows(f"SELECT value FROM {self.t.view_stock_meta} WHERE key = 'as_of_day'")
        if not as_of:
            return {}  # no movement yet
        last = as_of[0][0]
        first = planning.window_start(date.fromisoformat(last)).isoformat()
        return {(p, loc): (int(total), int(squares)) for p, loc, total, squares in self._rows(
            "SELECT part_id, location, SUM(qty) AS total, SUM(qty * qty) AS squares "
            f"FROM {self.t.view_stock_issues} WHERE day >= ? AND day <= ? AND {where} "
            "GROUP BY part_id, location",
            first, last, *params)}


def _month_filter(first: str | None, last: str | None) -> tuple[str, list[str]]:
    conditions, params = ["1=1"], []
    if first:
        conditions.append("month >= ?")
        params.append(first[:7])
    if last:
        conditions.append("month <= ?")
        params.append(last[:7])
    return " AND ".join(conditions), params
