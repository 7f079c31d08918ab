"""A rebuild's swap: the rebuilt tables take the live ones' place, in one transaction.

Analysts may build their own SQL on the ``view_*`` tables, and a swap must not break it:

- A table is swapped by renaming the rebuilt one over it (no copy, whatever its size).
- PostgreSQL binds a view (or another table's foreign key) to the table itself, not its
  name, and refuses to drop a table something depends on. Such a table keeps its place:
  its rows are replaced (DELETE, then INSERT ... SELECT from the rebuilt table, which is
  then dropped), so the analyst's view answers with the new rows. Readers of that table
  are not blocked meanwhile (DELETE takes no exclusive lock); the copy costs time in
  proportion to the table's rows, only for the tables something depends on.
- SQLite binds a view to a table's *name* each time the view is queried, so a view follows
  the rename. SQLite (3.26+) would refuse the rename itself ("error in view v: no such
  table") because the view names a table dropped a statement earlier;
  ``legacy_alter_table`` turns that check (and the rewriting of views that name the
  rebuilt table) off for the swap. Triggers an analyst put on a view table go with it.

Everything happens in the caller's transaction, tracking positions included: a failure
anywhere leaves the live tables, their rows and positions as they were.
"""

from __future__ import annotations

from typing import Any

from journey.infra.failpoints import failpoint
from journey.infra.views.database import ViewDb
from journey.projections.tables import PROJECTIONS, quote_identifier

TRACKING_PREFIX = "view:"


def swap_tables(db: ViewDb, c: Any, names: list[str], suffix: str) -> list[str]:
    """Put the ``suffix`` tables of the projections ``names`` in place of the live ones,
    with their tracking positions, in the transaction of ``c``; returns the tables whose
    rows were replaced (rather than renamed over) because something depends on them."""
    live, rebuilt = db.tables(), db.tables(suffix)
    replaced: list[str] = []
    if not db.postgres:
        c.execute("PRAGMA legacy_alter_table = ON")
    try:
        for name in names:
            for table in PROJECTIONS[name]:
                old, new = getattr(live, table), getattr(rebuilt, table)
                if db.postgres and has_dependents(c, old):
                    replace_rows(c, old, new, db.columns(c, table + suffix))
                    replaced.append(table)
                    continue
                c.execute(f"DROP TABLE IF EXISTS {old}")
                c.execute(f"ALTER TABLE {new} RENAME TO {quote_identifier(table)}")
            c.execute(db.sql(f"DELETE FROM {db.tracking_table} WHERE application_name = ?"),
                      (TRACKING_PREFIX + name,))
            c.execute(db.sql(f"UPDATE {db.tracking_table} SET application_name = ? "
                             "WHERE application_name = ?"),
                      (TRACKING_PREFIX + name, TRACKING_PREFIX + name + suffix))
            failpoint("views.swap")
    finally:
        if not db.postgres:
            c.execute("PRAGMA legacy_alter_table = OFF")
    return replaced


def has_dependents(c: Any, table: str) -> bool:
    """PostgreSQL: whether anything outside the table (a view's rule, another table's
    foreign key, a function) depends on ``table`` (qualified), so DROP TABLE is refused."""
    c.execute("SELECT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refobjid = to_regclass(%s) "
              "AND d.deptype = 'n' AND NOT (d.classid = 'pg_constraint'::regclass AND "
              "EXISTS (SELECT 1 FROM pg_constraint k WHERE k.oid = d.objid "
              "AND k.conrelid = d.refobjid)))", (table,))
    row = c.fetchone()
    return bool(row and row[0])


def replace_rows(c: Any, live: str, rebuilt: str, columns: set[str]) -> None:
    """The live table's rows become the rebuilt table's; the rebuilt table is dropped.
    The live table, its indexes and whatever depends on it stay."""
    listed = ", ".join(quote_identifier(column) for column in sorted(columns))
    c.execute(f"DELETE FROM {live}")
    c.execute(f"INSERT INTO {live} ({listed}) SELECT {listed} FROM {rebuilt}")
    c.execute(f"DROP TABLE {rebuilt}")
