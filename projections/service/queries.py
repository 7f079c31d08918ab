"""The service view's answers: ``journey kpis`` (contract 4.6) and ``journey invoices`` (4.8),
in the shapes of 5.1. ``ViewQueries.kpis`` and ``ViewQueries.invoices`` call these.

``kpis`` reads only the precomputed month rows and the satisfaction counters (a few rows per
month, whatever the log's size). ``invoices`` reads the sums kept per (month, currency), the
unpaid invoices due before the reference day (an index covers them) and the invoice list.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict

from journey.projections.moments import EPOCH
from journey.projections.service.figures import (
    ZERO,
    add,
    hours,
    mean,
    money_text,
    rate,
)
from journey.projections.tables import Tables

#: ``rows(statement, *params)``: the rows of a query (``?`` placeholders).
Rows = Callable[..., list[Any]]

STATUSES = ("paid", "open", "overdue")
SCORES = (1, 2, 3, 4, 5)


class CaseMonth(TypedDict):
    month: str
    opened: int
    resolved: int
    hours_to_resolve_p50: float | None
    hours_to_resolve_p90: float | None
    reopened: int
    reopen_rate: float | None


class RepairMonth(TypedDict):
    month: str
    requested: int
    completed: int
    first_time_fixed: int
    first_time_fix_rate: float | None
    hours_to_fix_p50: float | None
    hours_to_fix_p90: float | None


class PartsMonth(TypedDict):
    month: str
    reservations: int
    filled: int
    fill_rate: float | None


class SatisfactionGroup(TypedDict):
    ratings: int
    mean: float | None
    by_score: dict[str, int]  # "1" ... "5", all five present


class Satisfaction(TypedDict):
    after_error: SatisfactionGroup
    no_error: SatisfactionGroup
    all: SatisfactionGroup


class KpiReport(TypedDict):
    cases: list[CaseMonth]
    repairs: list[RepairMonth]
    parts: list[PartsMonth]
    satisfaction: Satisfaction


class InvoiceMonth(TypedDict):
    month: str
    currency: str
    issued: int
    amount: str  # money: a decimal string with exactly 2 decimals
    paid: str
    outstanding: str
    overdue: int
    overdue_amount: str


class InvoiceRow(TypedDict):
    invoice_id: str
    customer_id: str
    currency: str
    amount: str
    paid: str
    balance: str
    due_date: str  # YYYY-MM-DD
    reminders: int
    status: str  # paid, open or overdue


class InvoiceReport(TypedDict):
    as_of_day: str  # YYYY-MM-DD
    by_month: list[InvoiceMonth]
    invoices: list[InvoiceRow]


def kpis(rows: Rows, t: Tables, where: str, params: list[str]) -> KpiReport:
    """Contract 4.6 per month (``where``: a filter on ``month``)."""
    cases: list[CaseMonth] = [
        {"month": m, "opened": n, "resolved": resolved, "hours_to_resolve_p50": hours(p50),
         "hours_to_resolve_p90": hours(p90), "reopened": reopened,
         "reopen_rate": rate(reopened, resolved)}
        for m, n, resolved, reopened, p50, p90 in rows(
            "SELECT month, opened, resolved, reopened, resolve_p50_us, resolve_p90_us "
            f"FROM {t.view_service_case_months} WHERE {where} ORDER BY month", *params)]
    repairs: list[RepairMonth] = [
        {"month": m, "requested": n, "completed": completed, "first_time_fixed": first,
         "first_time_fix_rate": rate(first, completed), "hours_to_fix_p50": hours(p50),
         "hours_to_fix_p90": hours(p90)}
        for m, n, completed, first, p50, p90 in rows(
            "SELECT month, requested, completed, first_time_fixed, fix_p50_us, fix_p90_us "
            f"FROM {t.view_service_repair_months} WHERE {where} ORDER BY month", *params)]
    parts: list[PartsMonth] = [
        {"month": m, "reservations": n, "filled": filled, "fill_rate": rate(filled, n)}
        for m, n, filled in rows(
            f"SELECT month, reservations, filled FROM {t.view_service_part_months} "
            f"WHERE {where} ORDER BY month", *params)]
    counts = {(after, score): 0 for after in (0, 1) for score in SCORES}
    for after, score, n in rows(
            "SELECT after_error, score, SUM(ratings) AS ratings FROM "
            f"{t.view_service_satisfaction} WHERE {where} GROUP BY after_error, score",
            *params):
        counts[(int(after), int(score))] = int(n)  # PostgreSQL's SUM is a numeric
    groups = {"after_error": (1,), "no_error": (0,), "all": (0, 1)}
    satisfaction: Any = {name: _group({s: sum(counts[(a, s)] for a in which) for s in SCORES})
                         for name, which in groups.items()}
    return {"cases": cases, "repairs": repairs, "parts": parts, "satisfaction": satisfaction}


def _group(by_score: dict[int, int]) -> SatisfactionGroup:
    n = sum(by_score.values())
    return {"ratings": n, "mean": mean(sum(s * k for s, k in by_score.items()), n),
            "by_score": {str(s): by_score[s] for s in SCORES}}


def reference_day(rows: Rows, t: Tables) -> date:
    """The default reference day D: the UTC date of the latest occurred_at among all
    accepted touchpoints; today's UTC date when there is none."""
    found = rows(f"SELECT value FROM {t.view_service_meta} WHERE key = 'latest_occurred_us'")
    if not found:
        return datetime.now(UTC).date()
    return (EPOCH + timedelta(microseconds=int(found[0][0]))).date()


def invoices(rows: Rows, t: Tables, as_of_day: date | None = None,
             status: str | None = None) -> InvoiceReport:
    """Contract 4.8: every invoice with its status at ``as_of_day`` (D), and the sums per
    month and currency; ``status`` filters the invoices only."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown invoice status {status!r}: use paid, open or overdue")
    day = (as_of_day or reference_day(rows, t)).isoformat()
    overdue: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for month, currency, balance in rows(
            f"SELECT month, currency, balance FROM {t.view_service_invoices} "
            "WHERE unpaid = 1 AND due_date < ?", day):
        n, total = overdue.get((month, currency), (0, ZERO))
        overdue[(month, currency)] = (n + 1, add(total, Decimal(balance)))
    by_month: list[InvoiceMonth] = []
    for month, currency, issued, amount, paid, outstanding in rows(
            f"SELECT month, currency, issued, amount, paid, outstanding FROM "
            f"{t.view_service_invoice_months} ORDER BY month, currency"):
        n, total = overdue.get((month, currency), (0, ZERO))
        by_month.append({"month": month, "currency": currency, "issued": int(issued),
                         "amount": amount, "paid": paid, "outstanding": outstanding,
                         "overdue": n, "overdue_amount": money_text(total)})
    where, params = {None: ("1=1", []), "paid": ("unpaid = 0", []),
                     "overdue": ("unpaid = 1 AND due_date < ?", [day]),
                     "open": ("unpaid = 1 AND due_date >= ?", [day])}[status]
    listed: list[InvoiceRow] = [
        {"invoice_id": i, "customer_id": c, "currency": cur, "amount": amount, "paid": paid,
         "balance": balance, "due_date": due, "reminders": int(reminders),
         "status": "paid" if not unpaid else "overdue" if due < day else "open"}
        for i, c, cur, amount, paid, balance, due, reminders, unpaid in rows(
            "SELECT invoice_id, customer_id, currency, amount, paid, balance, due_date, "
            f"reminders, unpaid FROM {t.view_service_invoices} WHERE {where} "
            "ORDER BY invoice_id", *params)]
    return {"as_of_day": day, "by_month": by_month, "invoices": listed}


