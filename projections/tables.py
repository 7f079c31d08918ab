"""The view tables' names: each projection's tables, and their names for one generation.

What every view table and column means, for analysts who query them with SQL, is in the
generated reference ``docs/tables.md`` (the words: ``infra/audit/table_docs.py``). Each
view's DDL, loads and writes sit beside its fold (``touchpoints/table.py``,
``stock/table.py``, ``service/table.py``); ``projections.views`` puts them together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: Each projection: its tracking name and its tables.
PROJECTIONS: dict[str, tuple[str, ...]] = {
    "touchpoints": ("view_touchpoints", "view_repairs", "view_fixed", "view_error_rates",
                    "view_error_codes", "view_failure_demand"),
    "stock": ("view_stock", "view_stock_issues", "view_stock_meta"),
    "service": ("view_service_cases", "view_service_repairs", "view_service_case_months",
                "view_service_repair_months", "view_service_part_months",
                "view_service_ratings", "view_service_satisfaction", "view_service_customers",
                "view_service_invoices", "view_service_invoice_months", "view_service_meta"),
}
#: Columns a view table gained after its first release (table -> columns): a store made
#: before has the table without them until the projector adds them. How each is added is
#: the projection's ``Upgrade`` (``projections.views.UPGRADES``, which names these); here so
#: that a query can tell whether the tables are current without importing the folds.
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "view_stock": ("window_qty", "window_squares"),  # the planning window's sums
}
#: What `journey rebuild VIEW` rebuilds: timeline and errors share one projection, kpis and
#: invoices another.
VIEW_PROJECTIONS = {"timeline": "touchpoints", "errors": "touchpoints", "stock": "stock",
                    "kpis": "service", "invoices": "service"}


class Dialect(Protocol):
    """What the tables' code needs of a database: its placeholder style."""

    def sql(self, statement: str) -> str:
        """``statement`` (written with ``?`` placeholders) in the database's own style."""
        ...


def insert_rows(db: Dialect, c: Any, table: str, rows: Sequence[Sequence[Any]]) -> None:
    """Plain INSERTs of a batch's new rows into every column of ``table``, in order. On
    PostgreSQL (a cursor with ``copy``) by COPY: one stream, where ``executemany`` costs a
    statement per row (4x the client's CPU, 2-3x the server's, measured on view_touchpoints).
    COPY reads values as their text: a row's values must have the column's own types."""
    if not rows:
        return
    copy = getattr(c, "copy", None)
    if copy is not None:
        with copy(f"COPY {table} FROM STDIN") as stream:
            for row in rows:
                stream.write_row(row)
        return
    c.executemany(db.sql(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})"),
                  rows)


@dataclass(frozen=True)
class Tables:
    """Qualified table names for one generation (live, or ``_next`` during a rebuild)."""

    prefix: str = ""  # a quoted schema and a dot, e.g. '"s".' (quoted by the store)
    suffix: str = ""

    def __getattr__(self, name: str) -> str:
        if name.startswith("view_"):
            return f"{self.prefix}{quote_identifier(name + self.suffix)}"
        raise AttributeError(name)


def quote_identifier(name: str) -> str:
    """``name`` as one quoted SQL identifier (the same on SQLite and PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'

