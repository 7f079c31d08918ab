"""Tamper evidence on every store: the log is changed behind the engine's back, with SQL
straight on the tables, and ``verify_log`` must name the first position and what happened."""

from __future__ import annotations

import io
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from journey.infra.audit.verify import AuditReport, verify_log
from journey.infra.ingest import Ingestor
from journey.infra.store import AuditChainError, JourneyApplication, open_store
from journey.infra.store.chain import (
    DEFAULT_FINGERPRINT,
    SEAL_EVERY,
    ZERO_HASH,
    audit_key,
    key_fingerprint,
    link,
    oid_text,
    seal_mac,
)
from journey.infra.workload import WorkloadOptions, write_workload
from tests.conftest import POSTGRES

SECRET = "s3cret-for-tests"
BATCH = 250  # several batches, so several batch-end seals besides the SEAL_EVERY marks


def workload_lines(customers: int = 60, seed: int = 5) -> list[bytes]:
    out = io.StringIO()
    write_workload(WorkloadOptions(customers=customers, seed=seed), out)
    return [line.encode() for line in out.getvalue().splitlines()]


class Tables:
    """Direct SQL on the store's tables, outside the engine (sqlite3 / psycopg)."""

    def __init__(self, url: str, app: JourneyApplication) -> None:
        r = app.journey_recorder
        self.events, self.chain, self.seals = r.events_sql, r.chain_sql, r.seals_sql
        self.pos = r.position_sql
        self.ph = r.ph
        self.sqlite = url.startswith("sqlite")
        self.conn: Any
        if self.sqlite:
            self.conn = sqlite3.connect(url[len("sqlite:///"):])
        else:
            import psycopg

            assert POSTGRES is not None
            self.conn = psycopg.connect(POSTGRES, autocommit=True)

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(statement.replace("?", self.ph).format(
            E=self.events, C=self.chain, S=self.seals, pos=self.pos), params)
        rows = list(cursor.fetchall()) if cursor.description else []
        if self.sqlite:
            self.conn.commit()
        return rows

    def event(self, position: int) -> tuple[Any, int, str, bytes]:
        (row,) = self.sql("SELECT originator_id, originator_version, topic, state FROM {E} "
                          "WHERE {pos} = ?", position)
        return row[0], row[1], row[2], bytes(row[3])

    def head(self) -> int:
        return int(self.sql("SELECT MAX({pos}) FROM {E}")[0][0])

    def seal_positions(self) -> list[int]:
        return [int(r[0]) for r in self.sql("SELECT position FROM {S} ORDER BY position")]

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def app(store_url: str) -> Iterator[JourneyApplication]:
    application = open_store(store_url, audit_secret=SECRET)
    Ingestor(application, batch_size=BATCH).ingest(workload_lines())
    yield application
    application.close()


@pytest.fixture
def db(store_url: str, app: JourneyApplication) -> Iterator[Tables]:
    tables = Tables(store_url, app)
    yield tables
    tables.close()


def verify(app: JourneyApplication, secret: str = SECRET) -> AuditReport:
    return verify_log(app, secret, chunk_size=97)  # small chunks: positions cross chunk edges


def plain_position(db: Tables, near: int) -> int:
    """A position near ``near`` that has no seal and whose neighbours are events."""
    seals = set(db.seal_positions())
    position = near
    while position in seals or position + 1 in seals:
        position += 1
    return position


def assert_caught(report: AuditReport, position: int, problem: str) -> None:
    assert (report.ok, report.first_bad_position, report.problem) == (False, position, problem), \
        report.as_json()
    assert report.sealed_up_to < position


def flip_byte(data: bytes, index: int = 10) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


# --- an untouched store ---------------------------------------------------------------------------


def test_an_untouched_store_verifies(app: JourneyApplication, db: Tables) -> None:
    report = verify(app)
    head = db.head()
    assert report.ok, report.as_json()
    assert report.events == head > SEAL_EVERY
    assert report.sealed_up_to == head
    assert report.first_bad_position is None and report.problem is None
    assert (report.chain, report.seals, report.reason, report.exit_code) == (
        "intact", "verified", None, 0)
    assert report.recorded_fingerprint == report.configured_fingerprint \
        == key_fingerprint(audit_key(SECRET))
    assert report.warnings == []
    document = report.as_json()
    assert list(document) == ["ok", "chain", "seals", "recorded_fingerprint",
                              "configured_fingerprint", "reason", "events", "events_per_second",
                              "first_bad_position", "problem", "detail", "sealed_up_to",
                              "head_hash", "warnings"]
    assert document["events_per_second"] > 0
    # every batch's last position and each SEAL_EVERY mark are sealed
    seals = db.seal_positions()
    assert SEAL_EVERY in seals and head in seals and len(seals) > 3


def test_every_event_has_its_chain_row_in_the_same_transaction(app: JourneyApplication,
                                                                db: Tables) -> None:
    events = [int(r[0]) for r in db.sql("SELECT {pos} FROM {E} ORDER BY {pos}")]
    chained = [int(r[0]) for r in db.sql("SELECT position FROM {C} ORDER BY position")]
    assert events == chained


def test_a_store_sealed_with_the_public_default_key_never_verifies_ok(
        store_url: str) -> None:
    application = open_store(store_url, audit_secret="")  # the public default key
    try:
        Ingestor(application).ingest(workload_lines(customers=5))
        report = verify_log(application)
        assert (report.ok, report.chain, report.seals, report.problem) == (
            False, "intact", "default-key", None), report.as_json()
        assert report.recorded_fingerprint == DEFAULT_FINGERPRINT
        assert report.configured_fingerprint is None
        assert report.reason is not None and "public default key" in report.reason
        assert (report.sealed_up_to, report.head_hash, report.exit_code) == (0, None, 3)
        mismatch = verify_log(application, SECRET)  # a secret the store was not sealed with
        assert (mismatch.ok, mismatch.seals, mismatch.problem) == (False, "key-mismatch", None)
    finally:
        application.close()


def test_a_different_secret_is_told_apart_from_tampering(app: JourneyApplication,
                                                          db: Tables) -> None:
    report = verify(app, "not-the-secret")
    assert (report.ok, report.chain, report.seals, report.problem) == (
        False, "intact", "key-mismatch", None), report.as_json()
    assert report.recorded_fingerprint == key_fingerprint(audit_key(SECRET))
    assert report.configured_fingerprint == key_fingerprint(audit_key("not-the-secret"))
    assert report.events == db.head() and report.exit_code == 3


def test_without_a_recorded_fingerprint_a_different_secret_fails_at_the_first_seal(
        app: JourneyApplication, db: Tables) -> None:
    """A store sealed before fingerprints were recorded: the seals themselves tell."""
    db.sql("DELETE FROM " + app.journey_recorder.audit_key_sql)
    report = verify(app, "not-the-secret")
    assert_caught(report, db.seal_positions()[0], "seal_invalid")
    assert (report.seals, report.recorded_fingerprint) == ("invalid", None)
    assert "JOURNEY_AUDIT_SECRET" in report.detail
    right = verify(app)
    assert right.ok and right.warnings, right.as_json()  # checked with the secret: proven


# --- the events table -----------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["state", "topic", "originator_version", "originator_id"])
def test_an_altered_event_is_caught_at_its_position(app: JourneyApplication, db: Tables,
                                                     column: str) -> None:
    position = plain_position(db, 500)
    _, version, topic, state = db.event(position)
    value: Any = {
        "state": flip_byte(state),
        "topic": topic + "x",
        "originator_version": version + 1000,
        "originator_id": uuid.uuid4().hex if db.sqlite else uuid.uuid4(),
    }[column]
    db.sql(f"UPDATE {{E}} SET {column} = ? WHERE {{pos}} = ?", value, position)
    report = verify(app)
    assert_caught(report, position, "altered")
    assert report.events == position - 1


def test_a_deleted_event_is_caught_at_its_position(app: JourneyApplication, db: Tables) -> None:
    position = plain_position(db, 700)
    db.sql("DELETE FROM {E} WHERE {pos} = ?", position)
    assert_caught(verify(app), position, "deleted")


def test_an_event_deleted_with_its_chain_row_is_caught(app: JourneyApplication,
                                                        db: Tables) -> None:
    position = plain_position(db, 300)
    db.sql("DELETE FROM {E} WHERE {pos} = ?", position)
    db.sql("DELETE FROM {C} WHERE position = ?", position)
    assert_caught(verify(app), position, "deleted")


def test_events_deleted_at_a_seal_are_caught(app: JourneyApplication, db: Tables) -> None:
    sealed = db.seal_positions()[1]
    db.sql("DELETE FROM {E} WHERE {pos} = ?", sealed)
    db.sql("DELETE FROM {C} WHERE position = ?", sealed)
    assert_caught(verify(app), sealed, "deleted")


def test_a_deleted_last_event_is_caught_and_the_chain_is_not_extended_past_it(
        app: JourneyApplication, db: Tables) -> None:
    head = db.head()
    db.sql("DELETE FROM {E} WHERE {pos} = ?", head)
    assert_caught(verify(app), head, "deleted")
    more = workload_lines(customers=3, seed=99)
    if db.sqlite:  # SQLite hands the deleted rowid out again: the chain refuses it
        with pytest.raises(AuditChainError, match="deleted"):
            Ingestor(app).ingest(more)
    else:
        Ingestor(app).ingest(more)
    assert_caught(verify(app), head, "deleted")


def test_a_forged_event_is_caught_as_inserted(app: JourneyApplication, db: Tables) -> None:
    head = db.head()
    _, _, topic, state = db.event(head)
    oid = uuid.uuid4()
    db.sql("INSERT INTO {E} (originator_id, originator_version, topic, state) "
           "VALUES (?, ?, ?, ?)", oid.hex if db.sqlite else oid, 1, topic, state)
    forged = db.head()
    assert forged > head
    assert_caught(verify(app), forged, "inserted")
    # the engine goes on appending after it; the forged row stays unaccounted for
    summary = Ingestor(app).ingest(workload_lines(customers=3, seed=98))
    assert summary.accepted
    assert db.head() > forged
    assert_caught(verify(app), forged, "inserted")


def test_a_forged_event_in_the_place_of_a_deleted_one_is_caught(app: JourneyApplication,
                                                                 db: Tables) -> None:
    position = plain_position(db, 800)
    oid, version, topic, state = db.event(position)
    db.sql("DELETE FROM {E} WHERE {pos} = ?", position)
    columns = f"{db.pos}, originator_id, originator_version, topic, state"
    db.sql(f"INSERT INTO {{E}} ({columns}) VALUES (?, ?, ?, ?, ?)",
           position, oid, version, topic, state.replace(b'"', b"'", 1))
    assert_caught(verify(app), position, "altered")


@pytest.mark.parametrize("distance", [1, 317])
def test_swapped_states_are_caught_as_reordered_at_the_first(app: JourneyApplication,
                                                              db: Tables, distance: int) -> None:
    first = plain_position(db, 400)
    second = first + distance
    state_1, state_2 = db.event(first)[3], db.event(second)[3]
    assert state_1 != state_2
    db.sql("UPDATE {E} SET state = ? WHERE {pos} = ?", state_2, first)
    db.sql("UPDATE {E} SET state = ? WHERE {pos} = ?", state_1, second)
    report = verify(app)
    assert_caught(report, first, "reordered")
    assert f"row {second}" in report.detail and "state" in report.detail


def test_swapped_rows_are_caught_as_reordered(app: JourneyApplication, db: Tables) -> None:
    first = plain_position(db, 600)
    second = first + 40
    row_1, row_2 = db.event(first), db.event(second)
    assert row_1[0] != row_2[0]
    for position in (first, second):
        # keep the (originator_id, originator_version) key unique while swapping
        db.sql("UPDATE {E} SET originator_version = ? WHERE {pos} = ?", -position, position)
    for position, (oid, version, topic, state) in ((first, row_2), (second, row_1)):
        db.sql("UPDATE {E} SET originator_id = ?, originator_version = ?, topic = ?, "
               "state = ? WHERE {pos} = ?", oid, version, topic, state, position)
    report = verify(app)
    assert_caught(report, first, "reordered")
    assert f"row {second}" in report.detail


# --- the chain and the seals ----------------------------------------------------------------------


def rewrite_chain_from(db: Tables, position: int) -> None:
    """What someone who knows the algorithm but not the secret can do: recompute the chain."""
    before = db.sql("SELECT hash FROM {C} WHERE position < ? ORDER BY position DESC LIMIT 1",
                    position)
    prev = bytes(before[0][0]) if before else ZERO_HASH
    rows = db.sql("SELECT {pos}, originator_id, originator_version, topic, state FROM {E} "
                  "WHERE {pos} >= ? ORDER BY {pos}", position)
    for pos, oid, version, topic, state in rows:
        prev = link(prev, pos, oid_text(oid), version, topic, bytes(state))
        db.sql("UPDATE {C} SET hash = ? WHERE position = ?", prev, pos)


def test_events_and_chain_rewritten_consistently_break_the_next_seal(
        app: JourneyApplication, db: Tables) -> None:
    position = plain_position(db, 500)
    db.sql("UPDATE {E} SET state = ? WHERE {pos} = ?", flip_byte(db.event(position)[3]),
           position)
    rewrite_chain_from(db, position)
    seals = db.seal_positions()
    next_seal = min(s for s in seals if s >= position)
    report = verify(app)
    assert_caught(report, next_seal, "seal_invalid")
    assert report.sealed_up_to == max(s for s in seals if s < position)
    assert f"{report.sealed_up_to + 1}..{next_seal}" in report.detail


def test_with_the_public_default_secret_a_full_rewrite_is_never_ok(
        store_url: str) -> None:
    """Anyone can re-seal with the public default key, so such a store never verifies ok."""
    application = open_store(store_url, audit_secret="")
    db = Tables(store_url, application)
    try:
        Ingestor(application, batch_size=BATCH).ingest(workload_lines(customers=20))
        db.sql("UPDATE {E} SET state = ? WHERE {pos} = ?", flip_byte(db.event(5)[3]), 5)
        rewrite_chain_from(db, 5)
        for position in db.seal_positions():
            (chain_hash,) = db.sql("SELECT hash FROM {C} WHERE position = ?", position)[0]
            db.sql("UPDATE {S} SET mac = ? WHERE position = ?",
                   seal_mac(audit_key(None), position, bytes(chain_hash)), position)
        report = verify_log(application)
        assert not report.ok, report.as_json()
        assert (report.chain, report.seals, report.problem) == ("intact", "default-key", None)
    finally:
        db.close()
        application.close()


def test_an_altered_chain_row_is_caught(app: JourneyApplication, db: Tables) -> None:
    position = plain_position(db, 650)
    db.sql("UPDATE {C} SET hash = ? WHERE position = ?", bytes(32), position)
    assert_caught(verify(app), position, "chain_altered")


def test_a_deleted_chain_row_is_caught(app: JourneyApplication, db: Tables) -> None:
    position = plain_position(db, 660)
    db.sql("DELETE FROM {C} WHERE position = ?", position)
    assert_caught(verify(app), position, "chain_altered")


def test_the_last_chain_row_altered_is_told_by_its_seal(app: JourneyApplication,
                                                         db: Tables) -> None:
    head = db.head()
    db.sql("UPDATE {C} SET hash = ? WHERE position = ?", bytes(32), head)
    assert_caught(verify(app), head, "chain_altered")


def test_a_forged_seal_is_caught(app: JourneyApplication, db: Tables) -> None:
    sealed = db.seal_positions()[2]
    db.sql("UPDATE {S} SET mac = ? WHERE position = ?", bytes(32), sealed)
    assert_caught(verify(app), sealed, "seal_invalid")


def test_deleted_seals_are_caught(app: JourneyApplication, db: Tables) -> None:
    head = db.head()
    db.sql("DELETE FROM {S} WHERE position IN (?, ?)", SEAL_EVERY, head)
    assert_caught(verify(app), SEAL_EVERY, "seal_missing")
    db.sql("INSERT INTO {S} (position, mac, sealed_at) VALUES (?, ?, ?)", SEAL_EVERY,
           seal_mac(audit_key(SECRET), SEAL_EVERY,
                    bytes(db.sql("SELECT hash FROM {C} WHERE position = ?", SEAL_EVERY)[0][0])),
           "")
    assert_caught(verify(app), head, "seal_missing")


# --- what is not tampering ------------------------------------------------------------------------


def test_a_failed_append_leaves_no_trace_in_the_chain(app: JourneyApplication,
                                                      db: Tables) -> None:
    """A rolled-back insert leaves no chain row (PostgreSQL even skips its ids): still ok."""
    oid, version, topic, state = db.event(db.head())
    taken = StoredEvent(oid if isinstance(oid, uuid.UUID) else uuid.UUID(oid), version, topic,
                        state)
    fresh = StoredEvent(uuid.uuid4(), 1, topic, state)
    head = db.head()
    with pytest.raises(IntegrityError):
        app.recorder.insert_events([fresh, taken])
    Ingestor(app).ingest(workload_lines(customers=3, seed=97))
    (after,) = db.sql("SELECT MIN({pos}) FROM {E} WHERE {pos} > ?", head)[0]
    assert after == (head + 1 if db.sqlite else head + 3)  # PostgreSQL: ids 2 and 3 are gone
    report = verify(app)
    assert report.ok, report.as_json()
    assert report.sealed_up_to == db.head()


def test_concurrent_writers_keep_one_valid_chain_and_verify_runs_beside_them(
        store_url: str) -> None:
    apps = [open_store(store_url, audit_secret=SECRET) for _ in range(3)]
    errors: list[BaseException] = []

    def ingest(application: JourneyApplication, seed: int) -> None:
        try:
            Ingestor(application, batch_size=50).ingest(workload_lines(customers=15, seed=seed))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=ingest, args=(a, 10 + i))
                   for i, a in enumerate(apps[1:])]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            during = verify(apps[0])  # sees a consistent prefix of the log
            assert during.ok, during.as_json()
        for thread in threads:
            thread.join()
        assert not errors
        report = verify(apps[0])
        assert report.ok, report.as_json()
        assert report.events == apps[0].journey_recorder.counts()["events"]
    finally:
        for application in apps:
            application.close()
