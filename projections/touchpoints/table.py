"""The touchpoint view's tables: their DDL, the fold's state read from them, the writes.

``view_touchpoints`` holds one row per accepted touchpoint (timeline entries with their
error code); ``view_error_rates``, ``view_error_codes`` and ``view_failure_demand`` are
counters the fold increments; ``view_repairs`` and ``view_fixed`` are its bookkeeping.
Every function takes a DB-API cursor in the caller's transaction and a ``Dialect`` for
placeholders: the caller owns the transaction and the tracking position.
"""

from __future__ import annotations

from typing import Any

from journey.projections.tables import Dialect, Tables, insert_rows
from journey.projections.touchpoints.fold import (
    MemoryTouchpointState,
    Pending,
    TouchpointWrites,
)


def statements(t: Tables, uid: str) -> list[str]:
    """DDL of the tables and their indexes (``uid``: see ``projections.views``)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {t.view_touchpoints} ("
        "touchpoint_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, customer_id TEXT, "
        "kind TEXT NOT NULL, type TEXT NOT NULL, occurred_at TEXT NOT NULL, "
        "occurred_us BIGINT NOT NULL, month TEXT NOT NULL, entity TEXT NOT NULL, "
        "subject TEXT, upstream_error TEXT, code TEXT, serial TEXT, repair_id TEXT, "
        "demand TEXT, contact_subject TEXT, failure INTEGER)",
        f"CREATE INDEX IF NOT EXISTS ix_{uid}_timeline ON {t.view_touchpoints} "
        "(customer_id, occurred_us, seq, touchpoint_id, type, occurred_at, entity, code)",
        f"CREATE INDEX IF NOT EXISTS ix_{uid}_errors ON {t.view_touchpoints} "
        "(subject, occurred_us) WHERE code IS NOT NULL",
        f"CREATE INDEX IF NOT EXISTS ix_{uid}_requests ON {t.view_touchpoints} "
        "(serial) WHERE code IS NULL AND serial IS NOT NULL",
        f"CREATE INDEX IF NOT EXISTS ix_{uid}_contacts ON {t.view_touchpoints} "
        "(contact_subject) WHERE failure = 0",
        f"CREATE TABLE IF NOT EXISTS {t.view_repairs} ("
        "repair_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, serial TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {t.view_fixed} ("
        "serial TEXT NOT NULL, repair_id TEXT NOT NULL, occurred_us BIGINT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS ix_{uid}_fixed ON {t.view_fixed} (serial)",
        f"CREATE TABLE IF NOT EXISTS {t.view_error_rates} (kind TEXT NOT NULL, "
        "month TEXT NOT NULL, touchpoints BIGINT NOT NULL, errors BIGINT NOT NULL, "
        "PRIMARY KEY (kind, month))",
        f"CREATE TABLE IF NOT EXISTS {t.view_error_codes} ("
        "code TEXT PRIMARY KEY, count BIGINT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {t.view_failure_demand} (month TEXT PRIMARY KEY, "
        "contacts BIGINT NOT NULL, failure BIGINT NOT NULL)",
    ]


class SqlTouchpointState(MemoryTouchpointState):
    """The fold's state for one batch: what it asks is read from the tables, then cached."""

    def __init__(self, db: Dialect, c: Any, t: Tables) -> None:
        super().__init__()
        self.db, self.c, self.t = db, c, t

    def _all(self, statement: str, *params: Any) -> list[Any]:
        self.c.execute(self.db.sql(statement), params)
        return list(self.c.fetchall())

    def repair(self, repair_id: str) -> tuple[str, str] | None:
        if repair_id not in self.repairs:
            rows = self._all(f"SELECT customer_id, serial FROM {self.t.view_repairs} "
                             "WHERE repair_id = ?", repair_id)
            if not rows:
                return None
            self.repairs[repair_id] = (rows[0][0], rows[0][1])
        return self.repairs[repair_id]

    def fixed_completions(self, serial: str) -> list[tuple[str, int]]:
        if serial not in self.fixed:
            self.fixed[serial] = [(r[0], int(r[1])) for r in self._all(
                f"SELECT repair_id, occurred_us FROM {self.t.view_fixed} WHERE serial = ?",
                serial)]
        return self.fixed[serial]

    def open_requests(self, serial: str) -> list[Pending]:
        if serial not in self.requests:
            rows = self._all(
                "SELECT touchpoint_id, repair_id, occurred_us, kind, month, subject "
                f"FROM {self.t.view_touchpoints} WHERE serial = ? AND code IS NULL", serial)
            self.requests[serial] = [Pending(r[0], r[1], int(r[2]), r[3], r[4], r[5])
                                     for r in rows]
        return self.requests[serial]

    def earliest_error(self, subject: str) -> int | None:
        if subject not in self.errors:
            rows = self._all(f"SELECT MIN(occurred_us) FROM {self.t.view_touchpoints} "
                             "WHERE subject = ? AND code IS NOT NULL", subject)
            if rows[0][0] is None:
                return None
            self.errors[subject] = int(rows[0][0])
        return self.errors[subject]

    def open_contacts(self, subject: str) -> list[Pending]:
        if subject not in self.contacts:
            self.contacts[subject] = [Pending(r[0], None, int(r[1]), r[2], r[3], subject)
                                      for r in self._all(
                "SELECT touchpoint_id, occurred_us, kind, month FROM "
                f"{self.t.view_touchpoints} WHERE contact_subject = ? AND failure = 0 "
                "AND demand = 'unknown'",
                subject)]
        return self.contacts[subject]

    def learn_error(self, subject: str, occurred_us: int) -> None:
        self.earliest_error(subject)  # load first: the table may know an earlier one
        super().learn_error(subject, occurred_us)


def write_touchpoints(db: Dialect, c: Any, t: Tables, w: TouchpointWrites) -> None:
    q = db.sql
    insert_rows(db, c, t.view_touchpoints, w.rows)
    if w.codes:
        c.executemany(q(f"UPDATE {t.view_touchpoints} SET code = ? WHERE touchpoint_id = ?"),
                      w.codes)
    if w.failures:
        c.executemany(q(f"UPDATE {t.view_touchpoints} SET failure = 1 WHERE touchpoint_id = ?"),
                      w.failures)
    insert_rows(db, c, t.view_repairs, w.repairs)
    insert_rows(db, c, t.view_fixed, w.fixed)
    if w.rates:
        c.executemany(q(
            f"INSERT INTO {t.view_error_rates} AS r VALUES (?,?,?,?) ON CONFLICT (kind, month) "
            "DO UPDATE SET touchpoints = r.touchpoints + excluded.touchpoints, "
            "errors = r.errors + excluded.errors"), w.rates)
    if w.by_code:
        c.executemany(q(
            f"INSERT INTO {t.view_error_codes} AS r VALUES (?,?) ON CONFLICT (code) "
            "DO UPDATE SET count = r.count + excluded.count"), w.by_code)
    if w.demand:
        c.executemany(q(
            f"INSERT INTO {t.view_failure_demand} AS r VALUES (?,?,?) ON CONFLICT (month) "
            "DO UPDATE SET contacts = r.contacts + excluded.contacts, "
            "failure = r.failure + excluded.failure"), w.demand)


def orphans_index(t: Tables) -> str:
    """An index on part movements whose repair is not known yet: the Kafka view worker's
    topics may bring a movement before the request it names (the log never does)."""
    return (f"CREATE INDEX IF NOT EXISTS ix_view_touchpoints_orphans ON {t.view_touchpoints} "
            "(repair_id) WHERE customer_id IS NULL AND repair_id IS NOT NULL")


def adopt_orphans(db: Dialect, c: Any, t: Tables, repairs: list[tuple[str, str, str]]) -> None:
    """Give part movements that arrived before their repair's request that repair's
    customer (``repairs``: the (repair_id, customer_id, serial) a batch learned)."""
    if repairs:
        c.executemany(db.sql(f"UPDATE {t.view_touchpoints} SET customer_id = ? "
                             "WHERE repair_id = ? AND customer_id IS NULL"),
                      [(customer, repair_id) for repair_id, customer, _ in repairs])
