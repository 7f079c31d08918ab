"""Audit export on every store: what an auditor receives, what it selects, what it catches."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import fastavro
import pytest

from journey.infra.audit.export import (
    FILE_METADATA,
    FORMAT,
    ExportError,
    Selection,
    export_events,
)
from journey.infra.audit.verify_export import verify_export
from journey.infra.bounds import BoundError, lower, upper
from journey.infra.ingest import Ingestor
from journey.infra.store import JourneyApplication, open_store, store_url
from tests.support import (
    behind_the_engines_back,
    case,
    invoice,
    line,
    order,
    part,
    repair,
    tp,
)

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

#: A small journey of two customers, their repairs' parts and warehouse moves, in log order;
#: each touchpoint with the customer whose export holds it (None: nobody's).
JOURNEY_STEPS: list[tuple[dict[str, Any], str | None]] = [
    (order("O1", touchpoint_id="c1-order", at="2026-03-01T10:00:00Z"), "C1"),
    (order("O2", touchpoint_id="c2-order", at="2026-03-01T11:00:00Z", customer_id="C2"), "C2"),
    (invoice("I1", order_id="O1", touchpoint_id="c1-invoice", at="2026-03-02T09:00:00Z"), "C1"),
    (part("received", 10, touchpoint_id="p1-received", at="2026-03-04T08:00:00Z"), None),
    (case("K1", touchpoint_id="c1-case", at="2026-03-05T12:00:00Z"), "C1"),
    (repair("R1", case_id="K1", touchpoint_id="c1-repair", at="2026-03-06T09:30:00Z"), "C1"),
    (repair("R2", serial="SN2", customer_id="C2", touchpoint_id="c2-repair",
            at="2026-03-07T10:00:00Z"), "C2"),
    (part("reserved", 2, repair_id="R1", touchpoint_id="c1-reserve",
          at="2026-03-08T08:00:00Z"), "C1"),
    # A new (part, location): registration + backorder, for C2's and C1's repairs.
    (part("reserved", 1, part_id="P2", location="WH2", repair_id="R2",
          touchpoint_id="c2-backorder", at="2026-03-08T09:00:00Z"), "C2"),
    (part("reserved", 1, part_id="P3", repair_id="R1", touchpoint_id="c1-backorder",
          at="2026-03-09T23:59:59.999999Z"), "C1"),
    (part("issued", 2, repair_id="R1", touchpoint_id="c1-issue", at="2026-03-10T08:00:00Z"),
     "C1"),
    (part("transferred", 3, to_location="WH3", touchpoint_id="p1-transfer",
          at="2026-03-11T08:00:00Z"), None),
    (tp("repair.completed", repair_id="R1", outcome="fixed", touchpoint_id="c1-fixed",
        at="2026-03-12T15:00:00Z"), "C1"),
]
#: Touchpoints that opened a stock record (a registration rides with them).
OPENING = {"p1-received", "c2-backorder", "c1-backorder", "p1-transfer"}


@pytest.fixture
def app(store_url: str) -> Iterator[JourneyApplication]:
    application = open_store(store_url)
    summary = Ingestor(application).ingest_batch([line(obj) for obj, _ in JOURNEY_STEPS])
    assert summary.accepted == len(JOURNEY_STEPS), summary
    yield application
    application.close()


def read(path: Path) -> tuple[dict[str, Any], dict[str, str], list[dict[str, Any]]]:
    """What an auditor does: fastavro alone, no engine code."""
    with path.open("rb") as stream:
        reader = fastavro.reader(stream)
        records = list(reader)
        schema = reader.writer_schema
        assert isinstance(schema, dict)
        return schema, dict(reader.metadata), records


def log(app: JourneyApplication) -> list[Any]:
    return list(app.recorder.select_notifications(1, 10_000))


def touchpoints_in(records: list[dict[str, Any]]) -> list[str]:
    return [r["touchpoint_id"] for r in records if r["touchpoint_id"] is not None]


def registrations_in(records: list[dict[str, Any]]) -> int:
    return sum(r["event_type"] == "PartStock.Registered" for r in records)


def expected(owner: str) -> list[str]:
    return [obj["touchpoint_id"] for obj, who in JOURNEY_STEPS if who == owner]


# --- the round trip --------------------------------------------------------------------------


def test_export_holds_every_stored_event_byte_for_byte(app: JourneyApplication,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "all.avro"
    summary = export_events(app, out)
    stored = log(app)
    assert len(stored) == summary.records == summary.scanned == summary.head_position

    schema, metadata, records = read(out)
    assert len(stored) == len(records)
    for n, record in zip(stored, records, strict=True):
        event: Any = app.mapper.to_domain_event(n)
        assert n.id == record["position"]
        assert n.originator_id == record["originator_id"]  # a UUID: the uuid logical type
        assert n.originator_version == record["originator_version"]
        assert n.topic == record["topic"]
        assert bytes(n.state) == record["state"]
        assert hashlib.sha256(bytes(n.state)).hexdigest() == record["state_sha256"]
        assert type(event).__qualname__ == record["event_type"]
        assert RFC3339_UTC.match(record["recorded_at"])
        assert event.timestamp == datetime.fromisoformat(record["recorded_at"])
        assert getattr(event, "touchpoint_id", None) == record["touchpoint_id"]
        assert getattr(event, "customer_id", None) == record["customer_id"]
        occurred = getattr(event, "occurred_at", None)
        assert occurred == (record["occurred_at"] and datetime.fromisoformat(record["occurred_at"]))

    placed = next(r for r in records if r["touchpoint_id"] == "c1-order")
    assert (placed["event_type"], placed["customer_id"], placed["occurred_at"]) == (
        "Order.Placed", "C1", "2026-03-01T10:00:00.000000Z")
    registered = [r for r in records if r["event_type"] == "PartStock.Registered"]
    assert len(OPENING) == len(registered)
    assert all(r["touchpoint_id"] is r["customer_id"] is r["occurred_at"] is None
               for r in registered)

    assert schema["name"] == "journey.audit.StoredEvent"  # the namespace, in the full name
    assert schema["doc"]
    assert all(f.get("doc") for f in schema["fields"])
    assert metadata["avro.codec"] == "deflate"
    assert set(FILE_METADATA) == {key for key in metadata if key.startswith("journey.")}
    assert metadata["journey.format"] == FORMAT
    assert str(len(stored)) == metadata["journey.head_position"]
    assert store_url(app.env) == metadata["journey.store"]
    assert RFC3339_UTC.match(metadata["journey.exported_at"])
    assert json.loads(
        metadata["journey.selection"]) == {"customer": None, "start": None, "end": None}
    assert not list(tmp_path.glob("*.partial"))

    report = verify_export(app, out)
    assert report.ok, report.first_mismatch
    assert len(stored) == report.records


def test_an_export_stops_at_its_head_and_still_verifies_after_more_appends(
        app: JourneyApplication, tmp_path: Path) -> None:
    out = tmp_path / "all.avro"
    head = export_events(app, out).head_position
    Ingestor(app).ingest_batch([line(order("O9", customer_id="C1"))])
    assert head < app.journey_recorder.position()
    report = verify_export(app, out)
    assert report.ok, report.first_mismatch
    assert head == report.head_position == report.records


# --- selection ---------------------------------------------------------------------------------


def test_customer_export_holds_their_events_and_their_repairs_part_movements(
        app: JourneyApplication, tmp_path: Path) -> None:
    out = tmp_path / "c1.avro"
    summary = export_events(app, out, customer="C1")
    _, metadata, records = read(out)
    assert expected("C1") == touchpoints_in(records)
    # The registration opened by C1's backorder rides along; C2's and the warehouse's do not.
    assert registrations_in(records) == 1
    reg = next(i for i, r in enumerate(records) if r["event_type"] == "PartStock.Registered")
    assert records[reg + 1]["touchpoint_id"] == "c1-backorder"
    assert records[reg]["originator_id"] == records[reg + 1]["originator_id"]
    positions = [r["position"] for r in records]
    assert sorted(positions) == positions
    assert len(records) == summary.records
    assert json.loads(
        metadata["journey.selection"]) == {"customer": "C1", "start": None, "end": None}
    report = verify_export(app, out)
    assert report.ok, report.first_mismatch


def test_time_window_is_inclusive_and_registrations_follow_their_touchpoint(
        app: JourneyApplication, tmp_path: Path) -> None:
    out = tmp_path / "window.avro"
    start, end = "2026-03-06T09:30:00Z", "2026-03-09T23:59:59.999999Z"  # both hit exactly
    export_events(app, out, start=lower(start), end=lower(end))
    _, metadata, records = read(out)
    assert touchpoints_in(records) == [
        "c1-repair", "c2-repair", "c1-reserve", "c2-backorder", "c1-backorder"]
    assert registrations_in(records) == 2  # P2@WH2 and P3@WH1 opened in the window
    assert json.loads(metadata["journey.selection"]) == {
        "customer": None, "start": "2026-03-06T09:30:00.000000Z",
        "end": "2026-03-09T23:59:59.999999Z"}
    assert verify_export(app, out).ok


def test_customer_and_window_combine_and_repairs_count_from_before_the_window(
        app: JourneyApplication, tmp_path: Path) -> None:
    out = tmp_path / "c1-later.avro"
    # R1 was requested on March 6th, before the window: its movements still belong to C1.
    export_events(app, out, customer="C1", start=lower("2026-03-07"),
                  end=upper("2026-03-10"))
    _, _, records = read(out)
    assert touchpoints_in(records) == ["c1-reserve", "c1-backorder", "c1-issue"]
    assert registrations_in(records) == 1
    assert verify_export(app, out).ok


@pytest.mark.parametrize("page", [1, 2, 3])
def test_reading_the_log_in_any_page_size_selects_the_same(
        app: JourneyApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        page: int) -> None:
    export_events(app, tmp_path / "big.avro", customer="C2")
    monkeypatch.setattr("journey.infra.audit.export.PAGE", page)
    export_events(app, tmp_path / "small.avro", customer="C2")
    assert read(tmp_path / "big.avro")[2] == read(tmp_path / "small.avro")[2]
    assert expected("C2") == touchpoints_in(read(tmp_path / "small.avro")[2])


def test_an_unknown_customer_gives_an_empty_file_that_verifies(
        app: JourneyApplication, tmp_path: Path) -> None:
    out = tmp_path / "nobody.avro"
    assert export_events(app, out, customer="nobody").records == 0
    assert read(out)[2] == []
    assert verify_export(app, out).ok


def test_bad_bounds_are_refused(app: JourneyApplication, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="time zone"):
        export_events(app, tmp_path / "x.avro", start=datetime(2026, 3, 1))
    with pytest.raises(ExportError, match="after end"):
        export_events(app, tmp_path / "x.avro", start=lower("2026-03-02"),
                      end=lower("2026-03-01"))
    assert not list(tmp_path.glob("x.avro*"))


# --- tampering ---------------------------------------------------------------------------------


def rewrite_store_row(app: JourneyApplication, position: int,
                      change: Callable[[bytes], bytes] | None) -> None:
    """Change (or, with None, delete) one stored event behind the engine's back."""
    recorder = app.journey_recorder
    column = "rowid" if recorder.ph == "?" else "notification_id"
    with behind_the_engines_back(app) as c:
        if change is None:
            c.execute(f"DELETE FROM {recorder.events_sql} WHERE {column} = {recorder.ph}",
                      (position,))
            return
        c.execute(f"SELECT state FROM {recorder.events_sql} WHERE {column} = {recorder.ph}",
                  (position,))
        (state,) = c.fetchone()
        c.execute(f"UPDATE {recorder.events_sql} SET state = {recorder.ph} "
                  f"WHERE {column} = {recorder.ph}", (change(bytes(state)), position))


def position_of(app: JourneyApplication, touchpoint_id: str) -> int:
    for n in log(app):
        if getattr(app.mapper.to_domain_event(n), "touchpoint_id", None) == touchpoint_id:
            return int(n.id)
    raise AssertionError(touchpoint_id)


def flip_one_byte(state: bytes) -> bytes:
    return state.replace(b'"EUR"', b'"EUX"', 1)  # still valid JSON, one byte differs


@pytest.mark.parametrize("customer", [None, "C1"])
def test_a_byte_changed_in_the_store_is_reported_at_its_position(
        app: JourneyApplication, tmp_path: Path, customer: str | None) -> None:
    out = tmp_path / "export.avro"
    export_events(app, out, customer=customer)
    position = position_of(app, "c1-invoice")
    rewrite_store_row(app, position, flip_one_byte)
    report = verify_export(app, out)
    assert not report.ok
    assert report.first_mismatch is not None
    assert (position, "state") == (report.first_mismatch.position, report.first_mismatch.field)
    assert report.first_mismatch.in_file != report.first_mismatch.in_store


def test_a_change_that_moves_an_event_out_of_the_selection_is_reported(
        app: JourneyApplication, tmp_path: Path) -> None:
    out = tmp_path / "c1.avro"
    export_events(app, out, customer="C1")
    position = position_of(app, "c1-case")
    rewrite_store_row(app, position, lambda s: s.replace(b'"C1"', b'"C2"', 1))
    mismatch = verify_export(app, out).first_mismatch
    assert mismatch is not None
    assert (position, "state") == (mismatch.position, mismatch.field)


def test_an_event_deleted_from_the_store_is_reported(app: JourneyApplication,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "all.avro"
    export_events(app, out)
    position = position_of(app, "c2-order")
    rewrite_store_row(app, position, None)
    mismatch = verify_export(app, out).first_mismatch
    assert mismatch is not None
    assert (position, "unexpected") == (mismatch.position, mismatch.field)


def test_an_undecodable_store_event_is_reported_not_raised(app: JourneyApplication,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "c1.avro"
    export_events(app, out, customer="C1")
    position = position_of(app, "c2-order")  # not in C1's file: it must be decoded to know
    rewrite_store_row(app, position, lambda s: s[:-1])
    mismatch = verify_export(app, out).first_mismatch
    assert mismatch is not None
    assert (position, "store") == (mismatch.position, mismatch.field)
    with pytest.raises(ExportError, match=f"position {position}"):
        export_events(app, tmp_path / "again.avro", customer="C1")
    assert not list(tmp_path.glob("again.avro*"))


def rewrite_file(path: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    """Forge an export: same schema and metadata, records changed by ``change``."""
    with path.open("rb") as stream:
        reader = fastavro.reader(stream)
        schema, records = reader.writer_schema, list(reader)
        metadata = {k: v for k, v in reader.metadata.items() if not k.startswith("avro.")}
    change(records)
    with path.open("wb") as stream:
        fastavro.writer(stream, fastavro.parse_schema(schema), records, codec="deflate",
                        metadata=metadata)


def record_at(records: list[dict[str, Any]], touchpoint_id: str) -> dict[str, Any]:
    return next(r for r in records if r["touchpoint_id"] == touchpoint_id)


def forge_state_and_hash(records: list[dict[str, Any]]) -> None:
    record = record_at(records, "c1-invoice")
    record["state"] = flip_one_byte(record["state"])
    record["state_sha256"] = hashlib.sha256(record["state"]).hexdigest()


def forge_state_only(records: list[dict[str, Any]]) -> None:
    record = record_at(records, "c1-invoice")
    record["state"] = flip_one_byte(record["state"])


def forge_customer(records: list[dict[str, Any]]) -> None:
    record_at(records, "c1-invoice")["customer_id"] = "C7"


def drop_record(records: list[dict[str, Any]]) -> None:
    records.remove(record_at(records, "c1-invoice"))


def add_record(records: list[dict[str, Any]]) -> None:
    extra = dict(record_at(records, "c1-invoice"), position=records[-1]["position"] + 1)
    records.append(extra)


@pytest.mark.parametrize(("forge", "field"), [
    (forge_state_and_hash, "state"),
    (forge_state_only, "state_sha256"),
    (forge_customer, "customer_id"),
    (drop_record, "missing"),
    (add_record, "position"),
])
def test_a_modified_file_is_reported_at_the_modified_record(
        app: JourneyApplication, tmp_path: Path, forge: Callable[[list[dict[str, Any]]], None],
        field: str) -> None:
    out = tmp_path / "all.avro"
    export_events(app, out)
    rewrite_file(out, forge)
    mismatch = verify_export(app, out).first_mismatch
    assert mismatch is not None
    expected_position = position_of(app, "c1-invoice")
    if forge is add_record:
        expected_position = app.journey_recorder.position() + 1
    assert (expected_position, field) == (mismatch.position, mismatch.field)


def test_damaged_bytes_in_the_file_fail_the_verification(app: JourneyApplication,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "all.avro"
    export_events(app, out)
    original = out.read_bytes()
    for where in (len(original) // 3, len(original) // 2, len(original) - 40):
        damaged = bytearray(original)
        damaged[where] ^= 0xFF
        out.write_bytes(bytes(damaged))
        report = verify_export(app, out)
        assert not report.ok, where
        assert report.first_mismatch is not None
    out.write_bytes(original[: len(original) // 2])
    assert not verify_export(app, out).ok
    out.write_bytes(b"not avro at all")
    report = verify_export(app, out)
    assert report.first_mismatch is not None
    assert report.first_mismatch.field == "file"


# --- small pieces -------------------------------------------------------------------------------


def test_bounds_parse_dates_as_whole_days_and_times_with_offsets() -> None:
    assert datetime(2026, 3, 1, tzinfo=UTC) == lower("2026-03-01")
    assert datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC) == upper("2026-03-01")
    assert datetime(2026, 3, 1, 9, tzinfo=UTC) == lower("2026-03-01T10:00:00+01:00")
    for bad in ("2026-03-01T10:00:00", "March", "2026-02-30"):
        with pytest.raises(BoundError):
            lower(bad)
    selection = Selection("C1", lower("2026-03-01"), upper("2026-03-02"))
    assert selection == Selection.from_json(selection.as_json())


def test_the_store_url_in_the_file_never_carries_a_password() -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_USER": "audit",
           "POSTGRES_PASSWORD": "s3cret", "POSTGRES_HOST": "db", "POSTGRES_PORT": "5433",
           "POSTGRES_DBNAME": "journey", "POSTGRES_SCHEMA": "prod"}

    url = store_url(env)
    assert url == "postgresql://audit@db:5433/journey?schema=prod"
    assert "s3cret" not in url


def test_originator_ids_are_uuids_for_any_avro_reader(app: JourneyApplication,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "all.avro"
    export_events(app, out)
    schema, _, records = read(out)
    field = next(f for f in schema["fields"] if f["name"] == "originator_id")
    assert field["type"] == {"type": "string", "logicalType": "uuid"}
    assert all(isinstance(r["originator_id"], UUID) for r in records)
