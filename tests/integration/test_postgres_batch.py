"""The PostgreSQL recorder's batch path: rows by binary COPY, read back exactly as written, and
each event's notification id (the chain's position) the one PostgreSQL gave that event."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import ProgrammingError, StoredEvent

from journey.infra.audit.verify import verify_log
from journey.infra.store import AcceptedRow, JourneyApplication, RejectRow, open_store, pg_batch
from journey.infra.store.postgres import TupleCursor, copy_in
from tests.conftest import POSTGRES, _drop_schema, _postgres_url

pytestmark = pytest.mark.postgres
SECRET = "s3cret-for-tests"


@pytest.fixture
def app() -> Iterator[JourneyApplication]:
    if not POSTGRES:
        pytest.skip("JOURNEY_TEST_POSTGRES is not set (CI sets it; no PostgreSQL here)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    application = open_store(_postgres_url(schema), audit_secret=SECRET)
    yield application
    application.close()
    _drop_schema(schema)


def events(count: int, topic: str = "tests:Thing.Happened") -> list[StoredEvent]:
    return [StoredEvent(uuid.uuid4(), 1, topic, f'{{"n":{n}}}'.encode()) for n in range(count)]


def rows(app: JourneyApplication, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with app.journey_recorder.read_rows() as c:
        c.execute(sql, params)
        return list(c.fetchall())


def test_touchpoints_and_rejects_read_back_as_written(app: JourneyApplication) -> None:
    recorder: Any = app.journey_recorder
    accepted = [AcceptedRow("tp-1", bytes(range(32)), "purchase.placed", "f.jsonl:1"),
                AcceptedRow("tp-\u00e9\t\\2", b"\x00short", "repair.requested", None)]
    rejects = [RejectRow(None, "invalid_json", "bad\x00line\n", b"\x00\xff{\\", source=None),
               RejectRow("tp-1", "conflicting_duplicate", "d\u00e9j\u00e0", b"{}",
                         source="k:t/0@5", accepted_before=True)]

    with recorder._write() as c:
        recorder._insert_accepted(c, accepted, "2026-01-01T00:00:00+00:00")
        recorder._insert_rejects(c, rejects, "2026-01-01T00:00:01+00:00")

    assert rows(app, f"SELECT touchpoint_id, content_hash, type, recorded_at, source FROM "
                     f"{recorder.touchpoints_sql} ORDER BY touchpoint_id") == [
        ("tp-1", bytes(range(32)), "purchase.placed", "2026-01-01T00:00:00+00:00", "f.jsonl:1"),
        ("tp-\u00e9\t\\2", b"\x00short", "repair.requested", "2026-01-01T00:00:00+00:00", None),
    ]
    assert [(r.seq, r.touchpoint_id, r.reason, r.detail, r.raw, r.source, r.accepted_before)
            for r in recorder.rejects()] == [
        (1, None, "invalid_json", "bad\ufffdline\n", b"\x00\xff{\\", None, False),
        (2, "tp-1", "conflicting_duplicate", "d\u00e9j\u00e0", b"{}", "k:t/0@5", True),
    ]


def test_events_of_text_originator_ids_copy_as_written(app: JourneyApplication) -> None:
    recorder: Any = app.journey_recorder
    table = recorder.qualified("scratch_text_ids")
    with recorder._write() as c:
        c.execute(f"CREATE TABLE {table} (originator_id text, originator_version bigint, "
                  "topic text, state bytea)")
        copy_in(c, table, "(originator_id, originator_version, topic, state)",
                pg_batch.event_data([("order-\u00e9", 7, "t:E", b"\x00{}")], uuid_ids=False))

    assert rows(app, f"SELECT * FROM {table}") == [("order-\u00e9", 7, "t:E", b"\x00{}")]


def test_each_event_gets_the_id_it_was_given_across_gaps_in_the_sequence(
        app: JourneyApplication) -> None:
    recorder: Any = app.journey_recorder
    first, second = events(5), events(7)
    ids = list(recorder.insert_events(first))
    with recorder._write() as c:  # a rolled-back insert or a stray nextval leaves a gap
        c.execute(f"SELECT nextval(pg_get_serial_sequence('{recorder.events_sql}', "
                  "'notification_id'))")
    ids += recorder.insert_events(second)

    assert ids == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13]
    stored = {entry.id: (entry.originator_id, bytes(entry.state))
              for batch in recorder.read_log_batches(0, 100) for entry in batch}
    assert stored == {i: (e.originator_id, e.state)
                      for i, e in zip(ids, first + second, strict=True)}
    report = verify_log(app, SECRET)
    assert (report.ok, report.chain, report.events) == (True, "intact", 12), report.as_json()


def test_ids_that_are_not_consecutive_are_read_one_by_one(app: JourneyApplication) -> None:
    recorder: Any = app.journey_recorder
    with recorder.datastore.transaction(commit=False) as curs:  # rolled back
        c = TupleCursor(curs)
        for position in (3, 9):
            c.execute(f"INSERT INTO {recorder.events_sql} (originator_id, originator_version, "
                      "topic, state, notification_id) VALUES (%s, 1, 't', '', %s)",
                      (uuid.uuid4(), position))
        assert recorder._new_ids(c, 0, 2) == [3, 9]
        with pytest.raises(ProgrammingError, match="copied 3 events but found 2 new ids"):
            recorder._new_ids(c, 0, 3)
