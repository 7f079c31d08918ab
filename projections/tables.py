"""The view tables' names: each projection's tables, and their names for one generation.

What every view table and column means, for analysts who query them with SQL, is in the
generated reference ``docs/tables.md`` (the words: ``infra/audit/table_docs.py``). Each
view's DDL, loads and writes sit beside its fold (``touchpoints/table.py``,
``stock/table.py``, ``service/table.py``); ``projections.views`` puts them together.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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


def postgres(c: Any) -> bool:
    """Whether ``c`` is a PostgreSQL cursor (psycopg's have ``copy``; sqlite3's do not)."""
    return getattr(c, "copy", None) is not None


def write_rows(db: Dialect, c: Any, statement: str, types: str,
               rows: Sequence[Sequence[Any]]) -> None:
    """``statement`` (an ``INSERT ... VALUES (?,...) [ON CONFLICT ...]``) for each of
    ``rows``: SQLite's ``executemany``; on PostgreSQL one statement over the rows as
    arrays of ``types`` (their SQL types, one a column, space-separated) by ``unnest``,
    where ``executemany`` costs a statement per row (on the client and the server). The
    rows must not repeat a conflict key (PostgreSQL refuses to update a row twice)."""
    if not rows:
        return
    if not postgres(c):
        c.executemany(db.sql(statement), rows)
        return
    values = f"VALUES ({','.join('?' * len(rows[0]))})"
    assert values in statement, statement
    arrays = ", ".join(f"?::{kind}[]" for kind in types.split())
    c.execute(db.sql(statement.replace(values, f"SELECT * FROM unnest({arrays})")),
              [list(column) for column in zip(*rows, strict=True)])


def update_rows(db: Dialect, c: Any, table: str, columns: str, keys: str, types: str,
                rows: Sequence[Sequence[Any]]) -> None:
    """``UPDATE table SET columns WHERE keys`` for each of ``rows`` (the new values, then
    the keys; their SQL ``types`` as in ``write_rows``): one statement on PostgreSQL (the
    rows as arrays), ``executemany`` on SQLite."""
    if not rows:
        return
    names, key_names = columns.split(", "), keys.split(", ")
    if not postgres(c):
        c.executemany(db.sql(
            f"UPDATE {table} SET {', '.join(f'{name} = ?' for name in names)} "
            f"WHERE {' AND '.join(f'{key} = ?' for key in key_names)}"), rows)
        return
    arrays = ", ".join(f"?::{kind}[]" for kind in types.split())
    c.execute(db.sql(
        f"UPDATE {table} AS t SET {', '.join(f'{name} = v.{name}' for name in names)} "
        f"FROM unnest({arrays}) AS v({columns}, {keys}) "
        f"WHERE {' AND '.join(f't.{key} = v.{key}' for key in key_names)}"),
        [list(column) for column in zip(*rows, strict=True)])


#: Keys per ``IN (...)`` list on SQLite (its oldest limit of bound parameters is 999).
IN_CHUNK = 500


def select_in(db: Dialect, c: Any, select: str, keys: Collection[Any], rest: str = "",
              params: Sequence[Any] = ()) -> list[Any]:
    """The rows of ``select`` (ending in a key column: ``... WHERE serial``; ``params``:
    its own parameters) whose key is one of ``keys``, then ``rest`` (``GROUP BY ...``): a
    batch's keys read at once instead of one statement per key. One statement on
    PostgreSQL (``= ANY``, the keys as one array), ``IN (...)`` lists of ``IN_CHUNK`` keys
    on SQLite."""
    if not keys:
        return []
    listed = sorted(keys)
    if postgres(c):
        c.execute(db.sql(f"{select} = ANY(?){rest}"), (*params, listed))
        return list(c.fetchall())
    rows: list[Any] = []
    for start in range(0, len(listed), IN_CHUNK):
        chunk = listed[start:start + IN_CHUNK]
        c.execute(db.sql(f"{select} IN ({','.join('?' * len(chunk))}){rest}"),
                  (*params, *chunk))
        rows.extend(c.fetchall())
    return rows


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

