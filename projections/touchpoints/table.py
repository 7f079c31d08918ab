"""The touchpoint view's tables: their DDL, the fold's state read from them, the writes.

``view_touchpoints`` holds one row per accepted touchpoint (timeline entries with their
error code); ``view_error_rates``, ``view_error_codes`` and ``view_failure_demand`` are
counters the fold increments; ``view_repairs`` and ``view_fixed`` are its bookkeeping.
Every function takes a DB-API cursor in the caller's transaction and a ``Dialect`` for
placeholders: the caller owns the transaction and the tracking position.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from journey.domain.cases import Case
from journey.domain.repairs import Repair
from journey.projections.classify import TOUCHPOINT_CLASSES
from journey.projections.tables import (
    Dialect,
    Tables,
    insert_rows,
    select_in,
    update_rows,
    write_rows,
)
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
    """The fold's state for one batch: ``prepare`` loads what the batch's events name in
    a few bulk reads; anything else asked is read from the tables when asked, then cached
    (the tables do not change while a batch is folded: its writes come after)."""

    def __init__(self, db: Dialect, c: Any, t: Tables) -> None:
        super().__init__()
        self.db, self.c, self.t = db, c, t
        self.absent_repairs: set[str] = set()  # looked for in the tables, not found there

    def prepare(self, events: Sequence[tuple[int, Any]]) -> None:
        repairs: set[str] = set()
        serials: set[str] = set()
        subjects: set[str] = set()
        requested: dict[str, str] = {}  # repair_id: serial, of the batch's requests
        fixed: list[str] = []  # repairs with a fixed completion in the batch
        for _, event in events:
            cls = type(event)
            touchpoint = TOUCHPOINT_CLASSES.get(cls)
            if touchpoint is None:
                continue
            repair_id: str | None = None
            if touchpoint.kind == "part":
                repair_id = getattr(event, "repair_id", None)
                if repair_id is not None:
                    repairs.add(repair_id)
            if cls is Repair.Requested:
                serials.add(event.serial)
                requested[event.repair_id] = event.serial
                subjects.add(f"repair:{event.repair_id}")  # it may be a repeat_repair
            elif cls is Repair.Completed and event.outcome == "fixed":
                repairs.add(event.repair_id)
                fixed.append(event.repair_id)
            elif (cls is Case.Opened and event.demand == "unknown"
                  and event.subject is not None):
                subjects.add(f"{event.subject['type']}:{event.subject['id']}")
            if ((event.error is not None or touchpoint.code_rule is not None)
                    and touchpoint.code(event) is not None):  # its subject has an error
                if touchpoint.kind != "part":
                    subjects.add(touchpoint.entity(event))
                elif repair_id is not None:
                    subjects.add(f"repair:{repair_id}")
        self.load_repairs(repairs)
        completed = set()  # serials whose open requests a fixed completion may classify
        for repair_id in fixed:
            known = self.repairs.get(repair_id)
            serial = known[1] if known is not None else requested.get(repair_id)
            if serial is not None:
                completed.add(serial)
        self.load_serials(serials | completed)
        subjects.update(pending.subject for serial in completed
                        for pending in self.requests[serial] if pending.subject is not None)
        self.load_subjects(subjects)

    # --- bulk loads ---------------------------------------------------------------------------

    def load_repairs(self, keys: Collection[str]) -> None:
        keys = [k for k in keys if k not in self.repairs and k not in self.absent_repairs]
        for repair_id, customer_id, serial in select_in(
                self.db, self.c,
                f"SELECT repair_id, customer_id, serial FROM {self.t.view_repairs} "
                "WHERE repair_id", keys):
            self.repairs[repair_id] = (customer_id, serial)
        self.absent_repairs.update(k for k in keys if k not in self.repairs)

    def load_serials(self, keys: Collection[str]) -> None:
        """Each serial's fixed completions and open requests."""
        keys = [k for k in keys if k not in self.fixed]
        for key in keys:
            self.fixed[key], self.requests[key] = [], []
        for serial, repair_id, occurred_us in select_in(
                self.db, self.c,
                f"SELECT serial, repair_id, occurred_us FROM {self.t.view_fixed} WHERE serial",
                keys):
            self.fixed[serial].append((repair_id, int(occurred_us)))
        for r in select_in(
                self.db, self.c,
                "SELECT serial, touchpoint_id, repair_id, occurred_us, kind, month, subject "
                f"FROM {self.t.view_touchpoints} WHERE code IS NULL AND serial", keys):
            self.requests[r[0]].append(Pending(r[1], r[2], int(r[3]), r[4], r[5], r[6]))

    def load_subjects(self, keys: Collection[str]) -> None:
        """Each subject's earliest error and open contacts."""
        keys = [k for k in keys if k not in self.contacts]
        for key in keys:
            self.contacts[key] = []
        for subject, earliest in select_in(
                self.db, self.c,
                f"SELECT subject, MIN(occurred_us) FROM {self.t.view_touchpoints} "
                "WHERE code IS NOT NULL AND subject", keys, " GROUP BY subject"):
            self.errors[subject] = int(earliest)
        for r in select_in(
                self.db, self.c,
                "SELECT contact_subject, touchpoint_id, occurred_us, kind, month FROM "
                f"{self.t.view_touchpoints} WHERE failure = 0 AND demand = 'unknown' "
                "AND contact_subject", keys):
            self.contacts[r[0]].append(Pending(r[1], None, int(r[2]), r[3], r[4], r[0]))

    # --- what the fold asks: loaded by ``prepare``, or now ------------------------------------

    def repair(self, repair_id: str) -> tuple[str, str] | None:
        if repair_id not in self.repairs and repair_id not in self.absent_repairs:
            self.load_repairs([repair_id])
        return self.repairs.get(repair_id)

    def fixed_completions(self, serial: str) -> list[tuple[str, int]]:
        if serial not in self.fixed:
            self.load_serials([serial])
        return self.fixed[serial]

    def open_requests(self, serial: str) -> list[Pending]:
        if serial not in self.requests:
            self.load_serials([serial])
        return self.requests[serial]

    def earliest_error(self, subject: str) -> int | None:
        if subject not in self.contacts:
            self.load_subjects([subject])
        return self.errors.get(subject)

    def open_contacts(self, subject: str) -> list[Pending]:
        if subject not in self.contacts:
            self.load_subjects([subject])
        return self.contacts[subject]

    def learn_error(self, subject: str, occurred_us: int) -> None:
        self.earliest_error(subject)  # load first: the table may know an earlier one
        super().learn_error(subject, occurred_us)


def write_touchpoints(db: Dialect, c: Any, t: Tables, w: TouchpointWrites) -> None:
    q = db.sql
    insert_rows(db, c, t.view_touchpoints, w.rows)
    update_rows(db, c, t.view_touchpoints, "code", "touchpoint_id", "text text", w.codes)
    if w.failures:
        c.executemany(q(f"UPDATE {t.view_touchpoints} SET failure = 1 WHERE touchpoint_id = ?"),
                      w.failures)
    insert_rows(db, c, t.view_repairs, w.repairs)
    insert_rows(db, c, t.view_fixed, w.fixed)
    write_rows(db, c, f"INSERT INTO {t.view_error_rates} AS r VALUES (?,?,?,?) "
               "ON CONFLICT (kind, month) DO UPDATE SET "
               "touchpoints = r.touchpoints + excluded.touchpoints, "
               "errors = r.errors + excluded.errors", "text text bigint bigint", w.rates)
    write_rows(db, c, f"INSERT INTO {t.view_error_codes} AS r VALUES (?,?) ON CONFLICT (code) "
               "DO UPDATE SET count = r.count + excluded.count", "text bigint", w.by_code)
    write_rows(db, c, f"INSERT INTO {t.view_failure_demand} AS r VALUES (?,?,?) "
               "ON CONFLICT (month) DO UPDATE SET contacts = r.contacts + excluded.contacts, "
               "failure = r.failure + excluded.failure", "text bigint bigint", w.demand)


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
