"""The published Avro contract: one documented ``.avsc`` per stored event class, pinned bytes,
and a gate that fails when a schema change would break readers of released data.

Independent checks use the official ``avro`` package (Apache): it parses every schema, decodes
the pinned bytes (timestamps as datetimes, ids as UUIDs: the logical types sit inside the
types, where every implementation reads them), computes the fingerprints and decides schema
compatibility. One quirk of it: its parsing canonical form keeps ``{"type": "long"}`` for a
logical-type annotated primitive where the specification (and Java, and fastavro) reduce it to
``"long"`` (the spec strips ``logicalType``). We hand it each schema without ``logicalType`` to
fingerprint, which by the spec has the same canonical form, and check that form is the one
fastavro computes.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import io
import json
import pkgutil
import typing
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import avro.io
import avro.schema
import fastavro
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from eventsourcing.domain import Aggregate
from hypothesis import given
from hypothesis import strategies as st

import journey.domain
from journey.infra.kafka.codec import CONVERTED, EVENT_CLASSES, IDENTITY_FIELDS, schema_name
from journey.schemas import avro_codec
from journey.schemas.avro_codec import AvroDecodeError, AvroEncodeError

NAMES = avro_codec.names()
SHORT = [name.rpartition(".")[2] for name in NAMES]

IDENTITY = {
    "event_id": UUID("0b7e6f4c-3f1a-5d2e-9c4b-8a1d2e3f4a5b"),
    "notification_id": 4242,
    "originator_id": UUID("8ae10f25-a195-5642-8623-dcf5594e923d"),
    "originator_version": 2,
    "recorded_at": datetime(2026, 3, 1, 10, 0, 1, 123456, tzinfo=UTC),
}
ENVELOPE = {
    "touchpoint_id": "tp-000001",
    "occurred_at": datetime(2026, 3, 1, 9, 59, 58, tzinfo=UTC),
    "customer_id": "C1",
    "channel": "web",
    "source": "webshop",
    "error": None,
}
PART = {**ENVELOPE, "customer_id": None, "channel": "system", "source": "wms",
        "error": "scanner_down"}
STOCK = {"part_id": "P-1", "location": "WH1"}


def event(envelope: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**IDENTITY, **envelope, **fields}


#: One record per schema, every field set (optional ones both ways across the table).
RECORDS: dict[str, dict[str, Any]] = {
    "OrderPlaced": event(ENVELOPE, order_id="O1", lines=[
        {"sku": "S1", "qty": 2, "unit_price": "9.99"}, {"sku": "S2", "qty": 1, "unit_price": "100"},
    ], currency="EUR"),
    "OrderDelivered": event(ENVELOPE, order_id="O1"),
    "OrderDeliveryFailed": event(ENVELOPE, order_id="O1", reason="nobody home"),
    "OrderReturned": event(ENVELOPE, order_id="O1", lines=[{"sku": "S1", "qty": 1}],
                           reason="defective"),
    "OrderCancelled": event(ENVELOPE, order_id="O1", reason=""),
    "InvoiceIssued": event(ENVELOPE, invoice_id="I1", amount="19.98", currency="EUR",
                           due_date=date(2026, 3, 31), order_id=None, terms_days=30),
    "InvoicePaid": event(ENVELOPE, invoice_id="I1", amount="19.98"),
    "InvoiceReminderSent": event(ENVELOPE, invoice_id="I1"),
    "InvoiceCorrected": event(ENVELOPE, invoice_id="I1", error_type="wrong_amount",
                              amount_delta="-2.5"),
    "CaseOpened": event(ENVELOPE, case_id="K1", category="billing",
                        subject={"type": "invoice", "id": "I1"}, demand="failure", text=None),
    "CaseContactLogged": event(ENVELOPE, case_id="K1", direction="inbound"),
    "CaseResolved": event(ENVELOPE, case_id="K1", resolution="refunded", satisfaction=4),
    "CaseReopened": event(ENVELOPE, case_id="K1", reason="still wrong"),
    "CaseClosed": event(ENVELOPE, case_id="K1"),
    "RepairRequested": event(ENVELOPE, repair_id="R1", serial="SN1", fault="no power",
                             warranty=True, case_id="K1"),
    "RepairCompleted": event(ENVELOPE, repair_id="R1", outcome="not_fixed"),
    "RepairReturned": event(ENVELOPE, repair_id="R1"),
    "PartStockRegistered": {**IDENTITY, **STOCK},
    "PartStockReceived": event(PART, **STOCK, qty=10, unit_cost="14.94"),
    "PartStockReserved": event(PART, **STOCK, qty=2, repair_id="R1"),
    "PartStockBackordered": event(PART, **STOCK, qty=3, repair_id="R1"),
    "PartStockReleased": event(PART, **STOCK, qty=1, repair_id="R1"),
    "PartStockIssued": event(PART, **STOCK, qty=1, repair_id="R1"),
    "PartStockReturned": event(PART, **STOCK, qty=1, repair_id=None),
    "PartStockAdjusted": event(PART, **STOCK, qty=-2, reason="damaged"),
    "PartStockTransferredOut": event(PART, **STOCK, qty=2, to_location="VAN1"),
    "PartStockTransferredIn": event(PART, **STOCK, qty=2, from_location="WH2"),
}

#: The exact single-object encoding of each record above: marker, fingerprint, body.
PINNED: dict[str, str] = {
    "OrderPlaced": (
        "c30145287fa33eea0e944830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000044f31040453310408392e393904533202063130300006455552"
    ),
    "OrderDelivered": (
        "c3017bad52339dec98ad4830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000044f31"
    ),
    "OrderDeliveryFailed": (
        "c30174735bcbc9a148384830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000044f31166e6f626f647920686f6d65"
    ),
    "OrderReturned": (
        "c30156c8a9a94834ae694830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000044f3102045331020012646566656374697665"
    ),
    "OrderCancelled": (
        "c30139cbafe475f583f74830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000044f3100"
    ),
    "InvoiceIssued": (
        "c301b016b100e24ec13f4830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f70000449310a31392e393806455552fec002003c"
    ),
    "InvoicePaid": (
        "c3012ee477ddbcb379d74830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f70000449310a31392e3938"
    ),
    "InvoiceReminderSent": (
        "c30110c2ccce0699a4734830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000044931"
    ),
    "InvoiceCorrected": (
        "c3012a74599f911d79344830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f70000449311877726f6e675f616d6f756e74082d322e35"
    ),
    "CaseOpened": (
        "c3014d6b9e160745b79f4830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000044b310e62696c6c696e67020e696e766f6963650449310e6661696c75726500"
    ),
    "CaseContactLogged": (
        "c301a33fca3ee1bdd8ba4830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000044b310e696e626f756e64"
    ),
    "CaseResolved": (
        "c3015269f2c6b78dd9474830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000044b3110726566756e6465640208"
    ),
    "CaseReopened": (
        "c3019e2a9f7a949f44734830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000044b31167374696c6c2077726f6e67"
    ),
    "CaseClosed": (
        "c301e7158730bca315104830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000044b31"
    ),
    "RepairRequested": (
        "c301ab1485526b01c5634830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f700004523106534e31106e6f20706f7765720102044b31"
    ),
    "RepairCompleted": (
        "c30176753f2b3a40fad14830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000045231126e6f745f6669786564"
    ),
    "RepairReturned": (
        "c301da17fbc500a19eb64830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca506020443310206776562020e7765"
        "6273686f7000045231"
    ),
    "PartStockRegistered": (
        "c30109fc6d0ba7efc3344830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca50606502d3106574831"
    ),
    "PartStockReceived": (
        "c3010f08cac92ad923004830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca50600020c73797374656d0206776d"
        "7302187363616e6e65725f646f776e06502d310657483114020a31342e3934"
    ),
    "PartStockReserved": (
        "c3015b2ef0049c8263bf4830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca50600020c73797374656d0206776d"
        "7302187363616e6e65725f646f776e06502d310657483104045231"
    ),
    "PartStockBackordered": (
        "c301166e3a192b0561bb4830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca50600020c73797374656d0206776d"
        "7302187363616e6e65725f646f776e06502d310657483106045231"
    ),
    "PartStockReleased": (
        "c301a991dad9464064d04830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca50600020c73797374656d0206776d"
        "7302187363616e6e65725f646f776e06502d310657483102045231"
    ),
    "PartStockIssued": (
        "c301e77cb099e47aa2d64830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca50600020c73797374656d0206776d"
        "7302187363616e6e65725f646f776e06502d310657483102045231"
    ),
    "PartStockReturned": (
        "c3018ef1cf6dbca4e9564830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca50600020c73797374656d0206776d"
        "7302187363616e6e65725f646f776e06502d31065748310200"
    ),
    "PartStockAdjusted": (
        "c301323b593902f8755c4830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca50600020c73797374656d0206776d"
        "7302187363616e6e65725f646f776e06502d3106574831030e64616d61676564"
    ),
    "PartStockTransferredOut": (
        "c301fd371a241dc1a7c14830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca50600020c73797374656d0206776d"
        "7302187363616e6e65725f646f776e06502d3106574831040856414e31"
    ),
    "PartStockTransferredIn": (
        "c30103d959fdb5e3002e4830623765366634632d336631612d356432652d396334622d38613164326533"
        "6634613562a4424838616531306632352d613139352d353634322d383632332d64636635353934653932"
        "33640480b2c789f1fca5061274702d303030303031808eca86f1fca50600020c73797374656d0206776d"
        "7302187363616e6e65725f646f776e06502d31065748310406574832"
    ),
}


# --- helpers -------------------------------------------------------------------------------------


def raw(name: str) -> dict[str, Any]:
    """The current ``.avsc`` as JSON."""
    parsed: dict[str, Any] = json.loads(avro_codec.schema_text(name))
    return parsed


def official(schema_json: Any) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(schema_json))


def official_fingerprint(schema_json: Any) -> bytes:
    """The spec's fingerprint, from the official package: given the schema without
    ``logicalType`` (its own canonical form keeps annotated primitives as objects)."""
    fingerprint: bytes = official(avro_codec.without_logical_types(schema_json)).fingerprint(
        "CRC-64-AVRO")
    return fingerprint


#: Where each published record has a logical type, and which (the same in every schema).
LOGICAL = {"event_id": "uuid", "originator_id": "uuid", "recorded_at": "timestamp-micros",
           "occurred_at": "timestamp-micros", "due_date": "date"}


def official_decode(schema_json: Any, body: bytes) -> Any:
    schema = official(schema_json)
    return avro.io.DatumReader(schema, schema).read(avro.io.BinaryDecoder(io.BytesIO(body)))


def records_and_fields(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every named record and every field in a schema, with where it is."""
    if isinstance(node, list):
        for branch in node:
            yield from records_and_fields(branch, path)
    elif isinstance(node, dict):
        if node.get("type") == "record":
            yield f"{path}{node['name']}", node
            for field in node["fields"]:
                where = f"{path}{node['name']}.{field['name']}"
                yield where, field
                yield from records_and_fields(field["type"], where + "/")
        elif node.get("type") == "array":
            yield from records_and_fields(node["items"], path)


def incompatibilities(reader: Any, writer: Any) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer`` (empty: it can), per the
    official Avro implementation."""
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]  # untyped
    result = checker.get_compatibility(official(reader), official(writer))
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    where = ", ".join(sorted(result.locations))
    return [f"{where}: {message}" for message in sorted(result.messages)] or [where]


def domain_event_classes() -> set[type[Any]]:
    """Every event class an aggregate of the domain package can store, found by walking it.

    eventsourcing gives each aggregate class a generic ``Event`` and ``Created``; ours are
    created through their named creation events, so those two are never stored. A nested class
    that others derive from (``PartStock.Movement``) is a shared base, not a stored event.
    """
    found: set[type[Any]] = set()
    for info in pkgutil.iter_modules(journey.domain.__path__):
        module = importlib.import_module(f"journey.domain.{info.name}")
        for aggregate in vars(module).values():
            if not (inspect.isclass(aggregate) and issubclass(aggregate, Aggregate)
                    and aggregate.__module__ == module.__name__):
                continue
            nested = [c for name, c in vars(aggregate).items()
                      if inspect.isclass(c) and issubclass(c, Aggregate.Event)
                      and name not in ("Event", "Created")]
            found |= {c for c in nested
                      if not any(o is not c and issubclass(o, c) for o in nested)}
    return found


# --- every schema: documented, namespaced, valid for both implementations ------------------------


@pytest.mark.parametrize("name", SHORT)
def test_the_schema_is_a_namespaced_record_documented_down_to_every_field(name: str) -> None:
    schema = raw(name)
    assert (schema["type"], schema["name"], schema["namespace"]) == (
        "record", name, avro_codec.NAMESPACE)
    undocumented = [where for where, node in records_and_fields(schema)
                    if not str(node.get("doc", "")).strip()]
    assert undocumented == []
    assert [f["name"] for f in schema["fields"][:5]] == list(IDENTITY_FIELDS)


@pytest.mark.parametrize("name", SHORT)
def test_the_schema_parses_with_fastavro_and_with_the_official_package(name: str) -> None:
    fastavro.parse_schema(raw(name))
    schema = official(raw(name))
    assert isinstance(schema, avro.schema.RecordSchema)
    assert schema.fullname == f"{avro_codec.NAMESPACE}.{name}"


@pytest.mark.parametrize("name", SHORT)
def test_the_fingerprint_is_crc64_of_the_canonical_form_as_the_official_package_computes_it(
        name: str) -> None:
    canonical = official(avro_codec.without_logical_types(raw(name)))
    assert canonical.canonical_form == fastavro.schema.to_parsing_canonical_form(
        avro_codec.schema(name))
    assert canonical.fingerprint("CRC-64-AVRO") == avro_codec.fingerprint(name)
    assert official_fingerprint(raw(name)) == bytes.fromhex(PINNED[name])[2:10]  # unchanged


def annotations(schema: Any) -> dict[str, tuple[str, str]]:
    """Every ``logicalType`` in a schema: where it is -> (on the field or in its type, which)."""
    found = {}
    for where, node in records_and_fields(schema):
        if "fields" in node:
            continue
        if "logicalType" in node:
            found[where] = ("field", node["logicalType"])
        if isinstance(node["type"], dict) and "logicalType" in node["type"]:
            found[where] = ("type", node["type"]["logicalType"])
    return found


@pytest.mark.parametrize(("name", "release"), [(name, None) for name in SHORT] + [
    (name, n) for name in SHORT for n in avro_codec.released(name)])
def test_every_logical_type_sits_inside_the_type_of_its_field(name: str,
                                                              release: int | None) -> None:
    schema = raw(name) if release is None else json.loads(avro_codec.released(name)[release])
    found = annotations(schema)
    assert found == {f"{name}.{field}": ("type", logical) for field, logical in LOGICAL.items()
                     if any(f["name"] == field for f in schema["fields"])}
    # So the official package (as Java's, C#'s, Rust's) sees them, not a plain long or string:
    fields = {f.name: f.type for f in official(schema).fields}
    assert isinstance(fields["recorded_at"], avro.schema.TimestampMicrosSchema)
    assert isinstance(fields["event_id"], avro.schema.UUIDSchema)
    if "occurred_at" in fields:
        assert isinstance(fields["occurred_at"], avro.schema.TimestampMicrosSchema)


def test_every_stored_event_class_has_a_schema_and_every_schema_a_class() -> None:
    classes = domain_event_classes()
    assert set(EVENT_CLASSES) == classes
    assert sorted(schema_name(c) for c in classes) == sorted(NAMES)
    assert sorted(RECORDS) == sorted(SHORT) == sorted(PINNED)


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__qualname__)
def test_the_schema_carries_every_field_the_event_class_stores(cls: type[Any]) -> None:
    stored = [f.name for f in dataclasses.fields(cls)
              if f.name not in ("originator_id", "originator_version", "timestamp",
                                "originator_topic")]
    published = [f["name"] for f in raw(schema_name(cls))["fields"]
                 if f["name"] not in IDENTITY_FIELDS]
    assert stored == published


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__qualname__)
def test_every_money_and_date_field_has_its_conversion(cls: type[Any]) -> None:
    hints = typing.get_type_hints(cls)
    special = {name for name, hint in hints.items()
               if Decimal in (hint, *typing.get_args(hint)) or hint is date}
    lines = {"lines"} if any("unit_price" in json.dumps(f["type"])
                             for f in raw(schema_name(cls))["fields"]) else set()
    assert special | lines == set(CONVERTED.get(cls, {}))


# --- pinned bytes --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHORT)
def test_a_record_encodes_to_its_pinned_bytes_and_decodes_back_equal(name: str) -> None:
    record = RECORDS[name]
    expected = bytes.fromhex(PINNED[name])

    actual = avro_codec.encode(name, record)

    assert expected == actual
    assert (f"{avro_codec.NAMESPACE}.{name}", record) == avro_codec.decode(actual)


@pytest.mark.parametrize("name", SHORT)
def test_base_values_encode_to_the_same_bytes_and_decode_to_base_values(name: str) -> None:
    record = RECORDS[name]
    plain = {k: (str(v) if isinstance(v, UUID) else v) for k, v in record.items()}
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for key, value in record.items():
        if isinstance(value, datetime):
            plain[key] = (value - epoch) // (datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - epoch)
        elif isinstance(value, date):
            plain[key] = (value - date(1970, 1, 1)).days

    encoded = avro_codec.encode(name, plain, logical=False)

    assert bytes.fromhex(PINNED[name]) == encoded
    assert plain == avro_codec.decode(encoded, logical=False)[1]


@pytest.mark.parametrize("name", SHORT)
def test_the_official_package_decodes_the_pinned_bytes_to_the_same_record(name: str) -> None:
    value = bytes.fromhex(PINNED[name])
    assert value[:2] == b"\xc3\x01"
    assert value[2:10] == official_fingerprint(raw(name))

    decoded = official_decode(raw(name), value[10:])

    # Logical types applied, as ours: datetimes (UTC) and dates; uuids are typed as such in the
    # schema (UUIDSchema) and this package hands them over as their canonical text.
    uuids_as_text = {k: (str(v) if isinstance(v, UUID) else v) for k, v in RECORDS[name].items()}
    assert decoded == uuids_as_text
    assert {k: (str(v) if isinstance(v, UUID) else v)
            for k, v in avro_codec.decode(value)[1].items()} == decoded
    assert isinstance(decoded["recorded_at"], datetime)
    assert decoded["recorded_at"].utcoffset() == timedelta(0)


# --- the codec's errors --------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "message"), [
    (b"", "not Avro single-object encoding"),
    (b"\x00\x01" + bytes(8), "not Avro single-object encoding"),
    (b"\xc3\x01\x01\x02", "truncated header"),
    (b"\xc3\x01" + bytes(8), "unknown schema fingerprint 0000000000000000"),
    (bytes.fromhex(PINNED["OrderPlaced"])[:-3], "truncated or corrupt"),
    (bytes.fromhex(PINNED["CaseClosed"])[:10], "truncated or corrupt"),
    (bytes.fromhex(PINNED["CaseClosed"]) + b"\x00", "1 bytes after the record"),
])
def test_a_value_that_is_not_a_whole_published_record_is_refused_clearly(
        value: bytes, message: str) -> None:
    with pytest.raises(AvroDecodeError, match=message):
        avro_codec.decode(value)
    with pytest.raises(AvroDecodeError, match=message):
        avro_codec.decode(value, logical=False)


@given(name=st.sampled_from(SHORT), body=st.binary(max_size=300))
def test_any_bytes_after_a_known_header_decode_or_are_refused_never_crash(
        name: str, body: bytes) -> None:
    value = b"\xc3\x01" + avro_codec.fingerprint(name) + body
    for logical in (True, False):
        try:
            full_name, record = avro_codec.decode(value, logical=logical)
        except AvroDecodeError:
            continue
        assert full_name == f"{avro_codec.NAMESPACE}.{name}"
        assert list(record) == [f["name"] for f in raw(name)["fields"]]


def test_a_record_that_does_not_fit_its_schema_is_refused_clearly() -> None:
    with pytest.raises(AvroEncodeError, match="no schema named 'OrderShipped'"):
        avro_codec.encode("OrderShipped", RECORDS["OrderDelivered"])
    with pytest.raises(AvroEncodeError, match="OrderDelivered: record does not fit"):
        avro_codec.encode("OrderDelivered", {**RECORDS["OrderDelivered"], "order_id": None})
    with pytest.raises(AvroEncodeError, match="PartStockAdjusted: record does not fit"):
        avro_codec.encode("PartStockAdjusted", {**RECORDS["PartStockAdjusted"], "qty": 1 << 63})


def test_full_and_short_names_name_the_same_schema() -> None:
    for name in SHORT:
        full = f"{avro_codec.NAMESPACE}.{name}"
        assert avro_codec.fingerprint(full) == avro_codec.fingerprint(name)
        assert avro_codec.schema(full) is avro_codec.schema(name)
    assert len(set(map(avro_codec.fingerprint, NAMES))) == len(NAMES)


# --- released schemas and the backward-compatibility gate ----------------------------------------


def test_every_schema_has_release_1_kept_beside_it() -> None:
    for name in SHORT:
        releases = avro_codec.released(name)
        assert 1 in releases
        assert list(releases) == sorted(releases)
        assert json.loads(releases[1])["name"] == name


def released_pairs() -> list[tuple[str, int]]:
    return [(name, n) for name in SHORT for n in avro_codec.released(name)]


@pytest.mark.parametrize(("name", "release"), released_pairs())
def test_the_current_schema_reads_data_written_with_every_release(name: str,
                                                                  release: int) -> None:
    writer = json.loads(avro_codec.released(name)[release])
    current = raw(name)
    assert incompatibilities(reader=current, writer=writer) == []

    # Confirmed by reading: a record written with the release, read with the current schema.
    sample = {f["name"]: RECORDS[name].get(f["name"], f.get("default")) for f in writer["fields"]}
    body = io.BytesIO()
    typed_writer = fastavro.parse_schema(avro_codec.with_logical_types(writer))
    fastavro.schemaless_writer(body, typed_writer, sample)
    body.seek(0)
    read: Any = fastavro.schemaless_reader(
        body, typed_writer, fastavro.parse_schema(avro_codec.with_logical_types(current)))
    assert {k: v for k, v in sample.items() if k in read} == {
        k: v for k, v in read.items() if k in sample}
    # And the codec decodes a message written with the release (its fingerprint).
    released_print = official_fingerprint(writer)
    if release == 1:  # moving logicalType into the types did not change it
        assert released_print == bytes.fromhex(PINNED[name])[2:10]
    full_name, decoded = avro_codec.decode(b"\xc3\x01" + released_print + body.getvalue())
    assert (full_name, decoded) == (f"{avro_codec.NAMESPACE}.{name}", read)


def with_field(schema: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(schema)
    changed["fields"].append(field)
    return changed


def test_the_gate_passes_a_field_added_with_a_default() -> None:
    released = raw("OrderPlaced")
    added = with_field(released, {"name": "coupon", "type": ["null", "string"],
                                  "default": None, "doc": "A coupon code, if any."})
    assert incompatibilities(reader=added, writer=released) == []


def test_the_gate_catches_a_field_added_without_a_default() -> None:
    released = raw("OrderPlaced")
    added = with_field(released, {"name": "coupon", "type": "string", "doc": "A coupon code."})
    problems = incompatibilities(reader=added, writer=released)
    assert problems and "coupon" in " ".join(problems)


def test_the_gate_catches_a_changed_type() -> None:
    released = raw("PartStockAdjusted")
    changed = copy.deepcopy(released)
    qty = next(f for f in changed["fields"] if f["name"] == "qty")
    qty["type"] = "int"  # long -> int narrows: old data may not fit
    assert incompatibilities(reader=changed, writer=released) != []
    as_text = copy.deepcopy(released)
    next(f for f in as_text["fields"] if f["name"] == "reason")["type"] = "int"
    assert incompatibilities(reader=as_text, writer=released) != []


def test_the_gate_catches_a_removed_enum_symbol() -> None:
    def with_channel(symbols: list[str]) -> dict[str, Any]:
        schema = raw("OrderDelivered")
        field = next(f for f in schema["fields"] if f["name"] == "channel")
        field["type"] = {"type": "enum", "name": "Channel", "symbols": symbols,
                         "doc": "The contact channel."}
        return schema

    released = with_channel(["web", "phone", "email"])
    assert incompatibilities(reader=with_channel(["web", "phone", "email", "chat"]),
                             writer=released) == []
    assert incompatibilities(reader=with_channel(["web", "phone"]), writer=released) != []
