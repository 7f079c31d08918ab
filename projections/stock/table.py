"""The stock view's tables: their DDL, a pair's state loaded from them, the writes, and
the planning window's sums kept current.

``view_stock`` holds per (part_id, location) the state of contract 2.3 (``available =
on_hand - reserved``) and the stored planning window's sums; ``view_stock_issues`` the
issued quantity per day; ``view_stock_meta`` the window's last day (``as_of_day``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from journey.domain.stock import PartStock
from journey.projections.stock.fold import Pair, StockWrites, blank_stock
from journey.projections.stock.planning import Planning
from journey.projections.tables import (
    ADDED_COLUMNS,
    Dialect,
    Tables,
    select_in,
    update_rows,
    write_rows,
)


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


def load_stock(db: Dialect, c: Any, t: Tables, events: Sequence[tuple[int, Any]] = ()
               ) -> Callable[[Pair], PartStock | None]:
    """A pair's state as the table holds it: the pairs the batch's ``events`` move are read
    at once (all locations of their parts), any other pair when asked."""
    pairs = {(e.part_id, e.location) for _, e in events if isinstance(e, PartStock.Movement)}
    found: dict[Pair, PartStock | None] = dict.fromkeys(pairs)
    head = f"SELECT part_id, location, on_hand, reservations, backorders FROM {t.view_stock} "
    for part_id, location, on_hand, reservations, backorders in select_in(
            db, c, head + "WHERE part_id", {part_id for part_id, _ in pairs}):
        if (part_id, location) in found:
            found[part_id, location] = _stock(part_id, location, on_hand, reservations,
                                              backorders)

    def load(pair: Pair) -> PartStock | None:
        if pair in found:
            return found[pair]
        c.execute(db.sql(head + "WHERE part_id = ? AND location = ?"), pair)
        row = c.fetchone()
        return None if row is None else _stock(*row)
    return load


def _stock(part_id: str, location: str, on_hand: Any, reservations: str, backorders: str
           ) -> PartStock:
    stock = blank_stock(part_id, location)
    stock.on_hand = int(on_hand)
    stock.reservations = json.loads(reservations)
    stock.backorders = json.loads(backorders)
    return stock


def write_stock(db: Dialect, c: Any, t: Tables, w: StockWrites) -> None:
    write_rows(db, c, f"INSERT INTO {t.view_stock} AS s (part_id, location, on_hand, reserved, "
               "backordered, reservations, backorders) VALUES (?,?,?,?,?,?,?) "
               "ON CONFLICT (part_id, location) DO UPDATE SET on_hand = excluded.on_hand, "
               "reserved = excluded.reserved, backordered = excluded.backordered, "
               "reservations = excluded.reservations, backorders = excluded.backorders",
               "text text bigint bigint bigint text text", w.stocks)
    write_rows(db, c, f"INSERT INTO {t.view_stock_issues} AS i VALUES (?,?,?,?) "
               "ON CONFLICT (part_id, location, day) DO UPDATE SET qty = i.qty + excluded.qty",
               "text text text bigint", w.issues)
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
    held = "SELECT part_id, location, window_qty, window_squares FROM " + t.view_stock
    if w is None or as_of != before:
        c.execute(q(f"{sums} GROUP BY part_id, location"), (first, as_of))
        new = {(p, loc): (int(qty), int(squares)) for p, loc, qty, squares in c.fetchall()}
        c.execute(f"{held} WHERE window_qty <> 0 OR window_squares <> 0")
        now = c.fetchall()
        new.update({(p, loc): (0, 0) for p, loc, _, _ in now if (p, loc) not in new})
    else:
        pairs = {(p, loc) for p, loc, day, _ in w.issues if first <= day <= as_of}
        parts = {p for p, _ in pairs}
        new = {(p, loc): (int(qty), int(squares)) for p, loc, qty, squares in select_in(
            db, c, f"{sums} AND part_id", parts, " GROUP BY part_id, location",
            params=(first, as_of)) if (p, loc) in pairs}
        now = select_in(db, c, f"{held} WHERE part_id", parts)
    # Only the sums that change are written (a row not read above holds zeros).
    now_by_pair = {(p, loc): (int(qty), int(squares)) for p, loc, qty, squares in now}
    update_rows(db, c, t.view_stock, "window_qty, window_squares", "part_id, location",
                "bigint bigint text text",
                [(qty, squares, p, loc) for (p, loc), (qty, squares) in sorted(new.items())
                 if now_by_pair.get((p, loc), (0, 0)) != (qty, squares)])


#: Columns ``view_stock`` gained after its first release, and how to add them.
WINDOW_SUM_COLUMNS = ADDED_COLUMNS["view_stock"]


def add_window_sums(db: Dialect, c: Any, t: Tables) -> None:
    """Bring a stock table made before the view kept window sums up to date: add the
    columns, then compute them from the issues."""
    for column in WINDOW_SUM_COLUMNS:
        c.execute(f"ALTER TABLE {t.view_stock} ADD COLUMN {column} BIGINT NOT NULL DEFAULT 0")
    refresh_window(db, c, t)
