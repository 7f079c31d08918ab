"""Stored events as published messages, on every store: each decodes with the official Avro
package from the ``.avsc`` files alone, and back into the very event the store holds.

The store is filled by ingesting a generated workload (every event type occurs in it) plus one
``Invoice.Issued`` row written at class version 1, which must go out in the current v2 shape.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import avro.io
import avro.schema
import pytest
from eventsourcing.utils import resolve_topic

from journey.domain.base import JOURNEY_NAMESPACE
from journey.domain.invoices import Invoice
from journey.domain.stock import PartStock
from journey.infra.ingest import Ingestor, LineSource
from journey.infra.kafka.codec import (
    EVENT_CLASSES,
    EventDecodeError,
    EventDecoder,
    EventEncodeError,
    EventEncoder,
    Outgoing,
)
from journey.infra.kafka.relay import Relay
from journey.infra.kafka.topics import KINDS, Topics
from journey.infra.store import JourneyApplication, LogEntry, open_store, store_env
from journey.infra.workload import WorkloadOptions, write_workload
from journey.schemas import avro_codec
from tests.kafka_support import consume_all, log_entries
from tests.support import V1_TOPIC, v1_row

SCHEMA_DIR = Path(__file__).parents[2] / "schemas" / "avro"
KIND_OF = {"Order": "purchase", "Invoice": "invoice", "Case": "complaint", "Repair": "repair",
           "PartStock": "part"}


def fill(app: JourneyApplication, tmp_path: Path, customers: int = 60, seed: int = 5) -> None:
    workload = tmp_path / "workload.jsonl"
    with workload.open("w") as out:
        write_workload(WorkloadOptions(customers=customers, seed=seed), out)
    with workload.open("rb") as stream:
        Ingestor(app).ingest(LineSource(stream))


@pytest.fixture
def app(store_url: str, tmp_path: Path) -> Iterator[JourneyApplication]:
    application = open_store(store_url)
    fill(application, tmp_path)
    application.recorder.insert_events([v1_row()])  # written by the v1 engine
    yield application
    application.close()


@pytest.fixture
def published(app: JourneyApplication) -> list[tuple[LogEntry, Outgoing]]:
    encoder = EventEncoder(app)
    return [(entry, encoder.encode(entry)) for entry in log_entries(app)]


# --- an independent reader: the official avro package and the .avsc files, nothing of ours ------


def official_schemas() -> dict[bytes, avro.schema.Schema]:
    """Every current and released schema, by the fingerprint a message carries.

    The package's own canonical form keeps a logical-type annotated primitive as an object
    (``{"type": "long"}``), against the spec; so it fingerprints each file without its
    ``logicalType`` keys (the spec's canonical form drops them), and reads with the file
    as it is (logical types applied)."""
    found = {}
    for path in [*SCHEMA_DIR.glob("*.avsc"), *SCHEMA_DIR.glob("released/*/*.avsc")]:
        text = path.read_text()
        plain = json.dumps(strip_logical_types(json.loads(text)))
        found[avro.schema.parse(plain).fingerprint("CRC-64-AVRO")] = avro.schema.parse(text)
    return found


def strip_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical_types(v) for v in node]
    return node


def official_decode(schemas: dict[bytes, avro.schema.Schema], value: bytes) -> tuple[str, Any]:
    assert value[:2] == b"\xc3\x01", "Avro single-object marker"
    schema = schemas[value[2:10]]
    assert isinstance(schema, avro.schema.RecordSchema)
    body = io.BytesIO(value[10:])
    record = avro.io.DatumReader(schema, schema).read(avro.io.BinaryDecoder(body))
    assert body.read() == b"", "nothing after the record"
    return schema.fullname, record


def uuids_as_text(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, UUID) else v) for k, v in record.items()}


# --- the tests -----------------------------------------------------------------------------------


def test_the_store_holds_every_event_type_and_a_v1_invoice(
        published: list[tuple[LogEntry, Outgoing]]) -> None:
    topics = {entry.topic for entry, _ in published}
    # The v1 row was written before the journey namespace: its topic names the old module.
    assert V1_TOPIC in topics
    assert {f"{c.__module__}:{c.__qualname__}" for c in EVENT_CLASSES} == topics - {V1_TOPIC}
    assert any(b'"class_version"' not in bytes(e.state) and e.topic.endswith("Invoice.Issued")
               for e, _ in published)


def test_every_message_decodes_with_the_official_package_from_the_avsc_files_alone(
        published: list[tuple[LogEntry, Outgoing]]) -> None:
    schemas = official_schemas()
    decoder = EventDecoder()
    for entry, out in published:
        full_name, record = official_decode(schemas, out.value)
        incoming = decoder.decode(out.value)
        # Logical types applied, as ours (the package hands uuids over as their text).
        assert (full_name, record) == (incoming.schema, uuids_as_text(incoming.record)), entry.id
        assert (incoming.schema, incoming.record) == avro_codec.decode(out.value)
        assert (record["notification_id"], record["originator_version"]) == (
            entry.id, entry.originator_version)


def test_every_message_decodes_back_into_the_event_the_store_holds(
        app: JourneyApplication, published: list[tuple[LogEntry, Outgoing]]) -> None:
    decoder = EventDecoder()
    for entry, out in published:
        expected = app.mapper.to_domain_event(entry.notification())

        incoming = decoder.decode(out.value)

        assert type(expected) is type(incoming.event)
        stored, decoded = dict(vars(expected)), dict(vars(incoming.event))
        if "originator_topic" in stored:  # a v1 row names the pre-namespace module: same class
            assert (resolve_topic(stored.pop("originator_topic"))
                    is resolve_topic(decoded.pop("originator_topic"))), entry.id
        assert stored == decoded, entry.id
        assert entry.id == incoming.notification_id


def test_the_folds_get_the_decoded_event_without_its_identity_fields(
        published: list[tuple[LogEntry, Outgoing]]) -> None:
    """``for_folds`` (the view worker's) gives ``decode``'s event minus what the log's stored
    state lacks too (the identity fields) and the timestamp: the same class, every other
    attribute equal."""
    decoder = EventDecoder()
    left_out = {"originator_id", "originator_version", "timestamp"}
    for entry, out in published:
        full = decoder.decode(out.value)
        notification_id, event = decoder.for_folds(out.value)
        assert notification_id == full.notification_id == entry.id
        assert type(event) is type(full.event)
        assert vars(event) == {k: v for k, v in vars(full.event).items() if k not in left_out}


def test_a_v1_invoice_goes_out_in_the_v2_shape(
        published: list[tuple[LogEntry, Outgoing]]) -> None:
    legacy = Invoice.id_for("I-OLD")
    (out,) = [out for entry, out in published if dict(out.headers)["originator_id"]
              == str(legacy).encode()]

    incoming = EventDecoder().decode(out.value)

    assert incoming.schema == "journey.events.InvoiceIssued"
    assert (incoming.record["terms_days"], incoming.record["amount"]) == (30, "120.00")
    assert incoming.event.terms_days == 30
    assert (out.kind, out.key) == ("invoice", b"C1")


def test_keys_headers_and_event_ids_follow_the_contract(
        published: list[tuple[LogEntry, Outgoing]]) -> None:
    decoder = EventDecoder()
    for entry, out in published:
        incoming = decoder.decode(out.value)
        record = incoming.record
        headers = {name: value.decode() for name, value in out.headers}
        oid = str(record["originator_id"])
        assert uuid5(JOURNEY_NAMESPACE, f"event:{oid}:{entry.originator_version}") == record[
            "event_id"]
        expected = {
            "event_id": str(record["event_id"]),
            "event_type": incoming.schema,
            "originator_id": oid,
            "originator_version": str(entry.originator_version),
            "notification_id": str(entry.id),
        }
        if "touchpoint_id" in record:
            expected["touchpoint_id"] = record["touchpoint_id"]
            expected["occurred_at"] = record["occurred_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert expected == headers
        assert [name for name, _ in out.headers] == [
            n for n in ("event_id", "event_type", "touchpoint_id", "originator_id",
                        "originator_version", "notification_id", "occurred_at") if n in expected]
        aggregate_name = entry.topic.partition(":")[2].partition(".")[0]
        assert out.kind == KIND_OF[aggregate_name] and out.kind in KINDS
        if out.kind == "part":
            assert out.key == f"{record['part_id']}@{record['location']}".encode()
        else:
            assert out.key == record["customer_id"].encode()
        assert out.notification_id == entry.id


def test_per_key_each_entity_comes_in_version_order_without_gaps(
        published: list[tuple[LogEntry, Outgoing]]) -> None:
    versions: dict[tuple[str, bytes], dict[str, list[int]]] = defaultdict(
        lambda: defaultdict(list))
    for _, out in published:  # in log order, as the relay sends them
        headers = dict(out.headers)
        versions[(out.kind, out.key)][headers["originator_id"].decode()].append(
            int(headers["originator_version"]))
    for per_entity in versions.values():
        for seen in per_entity.values():
            assert seen == list(range(1, len(seen) + 1))


def test_a_part_registration_and_its_first_movement_share_a_key(
        published: list[tuple[LogEntry, Outgoing]]) -> None:
    registered = [out for entry, out in published if entry.topic.endswith("Registered")]
    assert registered
    for out in registered:
        assert "touchpoint_id" not in dict(out.headers)
    keys = {out.key for out in registered}
    moved = {out.key for entry, out in published
             if entry.topic.startswith("journey.domain.stock:")
             and not entry.topic.endswith("Registered")}
    assert keys == moved


def test_publishing_again_gives_the_same_bytes(
        app: JourneyApplication, published: list[tuple[LogEntry, Outgoing]]) -> None:
    again = EventEncoder(app)
    assert [out for _, out in published] == [again.encode(entry) for entry, _ in published]


def test_a_compressed_store_is_published_through_the_mapper_alike(tmp_path: Path) -> None:
    env = {**store_env(f"sqlite:///{tmp_path / 'zipped.db'}"),
           "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}
    app = JourneyApplication(env=env)
    try:
        fill(app, tmp_path, customers=15)
        encoder, decoder = EventEncoder(app), EventDecoder()
        assert not encoder.shortcut
        for entry in log_entries(app):
            incoming = decoder.decode(encoder.encode(entry).value)
            assert vars(app.mapper.to_domain_event(entry.notification())) == vars(incoming.event)
    finally:
        app.close()


def test_an_unknown_topic_or_a_foreign_value_is_our_error(app: JourneyApplication) -> None:
    entry = log_entries(app)[0]
    with pytest.raises(EventEncodeError, match="no Avro schema"):
        EventEncoder(app).encode(entry._replace(topic="journey.domain.orders:Order.Shipped"))
    with pytest.raises(EventEncodeError, match="cannot be published"):
        EventEncoder(app).encode(entry._replace(state=b"{not json"))
    registered = next(e for e in log_entries(app) if e.topic.endswith("Registered"))
    elsewhere = bytes(registered.state).replace(b'"journey.domain.stock:PartStock"',
                                                b'"journey.domain.orders:Order"')
    with pytest.raises(EventEncodeError, match=r"names aggregate 'journey\.domain\.orders:Order'"):
        EventEncoder(app).encode(registered._replace(state=elsewhere))
    with pytest.raises(EventDecodeError, match="not Avro single-object encoding"):
        EventDecoder().decode(b'{"order_id": "O1"}')


def test_registration_events_keep_their_aggregate_topic(
        published: list[tuple[LogEntry, Outgoing]]) -> None:
    (out,) = [out for entry, out in published if entry.topic.endswith("Registered")][:1]
    event = EventDecoder().decode(out.value).event
    assert isinstance(event, PartStock.Registered)
    assert event.originator_topic == "journey.domain.stock:PartStock"


def test_the_official_package_reads_a_published_event_with_its_logical_types(
        tmp_path: Path, kafka_bootstrap: str) -> None:
    """A subscriber with the ``.avsc`` files and the official package, on a real broker: the
    times come out as UTC datetimes and the ids are uuid-typed, not plain longs and strings."""
    application = open_store(f"sqlite:///{tmp_path / 'interop.db'}")
    try:
        fill(application, tmp_path, customers=8, seed=11)
        topics = Topics(f"t{uuid5(JOURNEY_NAMESPACE, str(tmp_path)).hex[:10]}", 2)
        summary = Relay(application, kafka_bootstrap, topics, batch_size=500).run()
    finally:
        application.close()
    messages = consume_all(kafka_bootstrap, sorted(topics.published),
                           expected=summary.published, timeout=60)
    assert len(messages) == summary.published > 0
    schemas = official_schemas()
    for message in messages:
        full_name, record = official_decode(schemas, message.value)
        headers = {k: v.decode() for k, v in message.headers}
        schema = schemas[message.value[2:10]]
        assert isinstance(schema, avro.schema.RecordSchema)
        types = {f.name: f.type for f in schema.fields}
        assert full_name == headers["event_type"]
        assert isinstance(types["recorded_at"], avro.schema.TimestampMicrosSchema)
        assert isinstance(record["recorded_at"], datetime)
        assert record["recorded_at"].utcoffset() == timedelta(0)
        for name in ("event_id", "originator_id"):
            assert isinstance(types[name], avro.schema.UUIDSchema)
            assert str(UUID(record[name])) == record[name] == headers[name]
        if "occurred_at" in headers:  # every event but a part's registration
            assert isinstance(types["occurred_at"], avro.schema.TimestampMicrosSchema)
            assert isinstance(record["occurred_at"], datetime)
            assert record["occurred_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ") == headers[
                "occurred_at"]
        if full_name == "journey.events.InvoiceIssued":
            assert isinstance(types["due_date"], avro.schema.DateSchema)
