"""The stock view's tables: their DDL, a pair's state loaded from them, the writes, and
the planning window's sums kept current.

``view_stock`` holds per (part_id, location) the state of contract 2.3 (``available =
on_hand - reserved``) and the stored planning window's sums; ``view_stock_issues`` the
issued quantity per day; ``view_stock_meta`` the window's last day (``as_of_day``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from journey.domain.stock import PartStock
from journey.projections.stock.fold import Pair, StockWrites, blank_stock
from journey.projections.stock.planning import Planning
from journey.projections.tables import ADDED_COLUMNS, Dialect, Tables


def statements(t: Tables, uid: str) -> list[str]:
    """DDL of the tables and their indexes (``uid``: see ``projections.views``)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {t.view_stock} (part_id TEXT NOT NULL, "
        "location TEXT NOT NULL, on_hand BIGINT NOT NULL, reserved BIGINT NOT NULL, "
        "backordered BIGINT NOT NULL, reservations TEXT NOT NULL, backorders TEXT NOT NULL, "
        "window_qty BIGINT NOT NULL DEFAULT 0, window_squares BIGINT NOT NULL DEFAULT 0, "
        "PRIMARY KEY (part_id, location))",
        f"CREATE TABLE IF NOT EXISTS {t.view_stock_issues} (part_id TEXT NOT NULL, "
        "location TEXT NOT NULL, day TEXT NOT NULL, qty BIGINT NOT NULL, "
        "PRIMARY KEY (part_id, location, day))",
        f"CREATE INDEX IF NOT EXISTS ix_{uid}_issues_day ON {t.view_stock_issues} "
        "(day, part_id, location, qty)",  # covers the planning window's sums
        f"CREATE TABLE IF NOT EXISTS {t.view_stock_meta} ("
        "key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ]


def load_stock(db: Dialect, c: Any, t: Tables) -> Callable[[Pair], PartStock | None]:
    def load(pair: Pair) -> PartStock | None:
        c.execute(db.sql(f"SELECT on_hand, reservations, backorders FROM {t.view_stock} "
                         "WHERE part_id = ? AND location = ?"), pair)
        row = c.fetchone()
        if row is None:
            return None
        stock = blank_stock(*pair)
        stock.on_hand = int(row[0])
        stock.reservations = json.loads(row[1])
        stock.backorders = json.loads(row[2])
        return stock
    return load


def write_stock(db: Dialect, c: Any, t: Tables, w: StockWrites) -> None:
    q = db.sql
    if w.stocks:
        c.executemany(q(
            f"INSERT INTO {t.view_stock} AS s (part_id, location, on_hand, reserved, "
            "backordered, reservations, backorders) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT (part_id, location) DO UPDATE SET on_hand = excluded.on_hand, "
            "reserved = excluded.reserved, backordered = excluded.backordered, "
            "reservations = excluded.reservations, backorders = excluded.backorders"),
            w.stocks)
    if w.issues:
        c.executemany(q(
            f"INSERT INTO {t.view_stock_issues} AS i VALUES (?,?,?,?) "
            "ON CONFLICT (part_id, location, day) DO UPDATE SET qty = i.qty + excluded.qty"),
            w.issues)
    if w.latest_day is not None:
        refresh_window(db, c, t, w)


def refresh_window(db: Dialect, c: Any, t: Tables, w: StockWrites | None = None) -> None:
    """Keep ``view_stock``'s window sums equal to the issues of the stored planning window
    (the ``STORED_WINDOW_DAYS`` days up to the latest movement day, ``as_of_day``).

    When a batch moves ``as_of_day`` the window slides for every pair: all sums are
    computed again (one grouped scan of the window). Otherwise only the pairs with new
    issues inside the window change. ``w=None``: everything, from the tables alone.
    """
    q = db.sql
    c.execute(f"SELECT value FROM {t.view_stock_meta} WHERE key = 'as_of_day'")
    row = c.fetchone()
    before: str | None = row[0] if row else None
    days = [day for day in (before, w.latest_day if w else None) if day is not None]
    if not days:
        return  # no movement yet
    as_of = max(days)
    if as_of != before:
        c.execute(q(f"INSERT INTO {t.view_stock_meta} AS m VALUES ('as_of_day', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"), (as_of,))
    first = Planning().window_start(date.fromisoformat(as_of)).isoformat()  # stored window
    # Named columns: PostgreSQL's dict rows would fold two unnamed SUMs into one.
    sums = ("SELECT part_id, location, SUM(qty) AS total, SUM(qty * qty) AS squares "
            f"FROM {t.view_stock_issues} WHERE day >= ? AND day <= ?")
    if w is None or as_of != before:
        c.execute(f"UPDATE {t.view_stock} SET window_qty = 0, window_squares = 0 "
                  "WHERE window_qty <> 0 OR window_squares <> 0")
        c.execute(q(f"{sums} GROUP BY part_id, location"), (first, as_of))
        rows = c.fetchall()
    else:
        rows = []
        for pair in sorted({(p, loc) for p, loc, day, _ in w.issues if first <= day <= as_of}):
            c.execute(q(f"{sums} AND part_id = ? AND location = ? GROUP BY part_id, location"),
                      (first, as_of, *pair))
            rows.extend(c.fetchall())
    c.executemany(q(f"UPDATE {t.view_stock} SET window_qty = ?, window_squares = ? "
                    "WHERE part_id = ? AND location = ?"),
                  [(int(qty), int(squares), p, loc) for p, loc, qty, squares in rows])


#: Columns ``view_stock`` gained after its first release, and how to add them.
WINDOW_SUM_COLUMNS = ADDED_COLUMNS["view_stock"]


def add_window_sums(db: Dialect, c: Any, t: Tables) -> None:
    """Bring a stock table made before the view kept window sums up to date: add the
    columns, then compute them from the issues."""
    for column in WINDOW_SUM_COLUMNS:
        c.execute(f"ALTER TABLE {t.view_stock} ADD COLUMN {column} BIGINT NOT NULL DEFAULT 0")
    refresh_window(db, c, t)
