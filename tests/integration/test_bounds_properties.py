"""Extreme values, end to end: ingest -> views -> relay encoding -> export, on both stores.

Random lines carry values at and around every bound the engine keeps (quantities near 10^8,
2^31, 2^53, 2^63 and beyond; money near 10^26; control characters in identifiers and NUL in
free text; years around 1900, 9000 and at 1 and 9999). Whatever the mix, every line gets
exactly one outcome, the views take everything that was accepted, every stored event encodes
to Avro as the relay would publish it, the export writes, and the next ingest still works.
One store per backend serves all examples (unique touchpoint ids keep them apart).
"""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey.infra.audit.export import export_events
from journey.infra.ingest import Ingestor
from journey.infra.kafka.codec import EventEncoder
from journey.infra.store import open_store
from journey.infra.views.projector import Projector, view_queries
from tests.kafka_support import log_entries

_ids = itertools.count()

#: Integers at and around every bound that matters to some store or column.
EDGE_INTS = [0, 1, -1, 2, 10**8 - 1, 10**8, 10**8 + 1, -(10**8), -(10**8) - 1, 2**31 - 1, 2**31,
             2**53, 2**62, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 2**70, 10**15, 10**26]
quantities = st.integers(1, 9) | st.sampled_from(EDGE_INTS) | st.integers()
money = st.sampled_from([
    "99999999999999999999999999.99", "-99999999999999999999999999.99", "0.01", "0", "-0.00",
    10**26, 10**26 - 1, -(10**26) + 1, "100000000000000000000000000.00", "1E+25",
]).map(lambda m: Decimal(m) if isinstance(m, str) and "E" in m else m)
CONTROL = [chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]]
# Mostly plain ids, so that the other extreme values reach the store and the views.
PLAIN = st.sampled_from(["P1", "L1", "C1"]) | st.sampled_from(["P2", "L2", "O1", "K1", "I1"])
identifiers = (
    PLAIN
    | PLAIN
    | st.tuples(st.sampled_from(["P1", "C1", "L1", "O1"]), st.sampled_from(CONTROL)).map("".join)
    | st.text(alphabet=st.sampled_from(["a", "\u2028", "\u00a0", "😀", *CONTROL]),
              min_size=1, max_size=4)
)
free_text = st.sampled_from(["", "fine", "tab\there", "line\nbreak", "nul\u0000", "\u2028"])
YEARS = ["0001", "1899", "1900", "2026", "9000", "9001", "9999"]
instants = st.just("2026-03-01T10:00:00Z") | st.tuples(st.sampled_from(YEARS), st.sampled_from(
    ["-01-01T00:00:00Z", "-01-01T00:30:00+01:00", "-12-31T23:30:00-01:00", "-06-15T12:00:00Z"])
).map("".join)
days = st.tuples(st.sampled_from(YEARS), st.sampled_from(["-01-01", "-12-31"])).map("".join)


@st.composite
def touchpoints(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["part", "part", "part", "purchase", "invoice", "complaint",
                                 "repair"]))
    obj: dict[str, Any] = {"touchpoint_id": f"x{next(_ids)}", "occurred_at": draw(instants)}
    if kind == "part":
        move = draw(st.sampled_from(["received", "reserved", "released", "issued", "returned",
                                     "adjusted", "transferred"]))
        obj.update(type=f"part.{move}", part_id=draw(identifiers), location=draw(identifiers),
                   qty=draw(quantities))
        if move in ("reserved", "released", "issued"):
            obj["repair_id"] = "R1"
        if move == "adjusted":
            obj["reason"] = draw(free_text)
        if move == "transferred":
            obj["to_location"] = draw(identifiers)
        return obj
    obj["customer_id"] = draw(identifiers)
    if kind == "purchase":
        obj.update(type="purchase.placed", order_id=draw(identifiers), currency="EUR",
                   lines=[{"sku": draw(identifiers), "qty": draw(quantities),
                           "unit_price": draw(money)}])
    elif kind == "invoice":
        obj.update(type="invoice.issued", invoice_id=draw(identifiers), amount=draw(money),
                   currency="EUR", due_date=draw(days))
    elif kind == "complaint":
        obj.update(type="complaint.opened", case_id=draw(identifiers), category="parts",
                   text=draw(free_text))
    else:
        obj.update(type="repair.requested", repair_id=draw(identifiers),
                   serial=draw(identifiers), fault=draw(free_text), warranty=True)
    return obj


def dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, default=str).encode()


SETUP_AT = "2026-03-01T09:00:00Z"
#: Lines the extreme ones build on: a customer's repair R1 and stock of P1 at L1.
SETUP = [
    {"touchpoint_id": "setup-r1", "type": "repair.requested", "occurred_at": SETUP_AT,
     "customer_id": "C1", "repair_id": "R1", "serial": "S1", "fault": "f", "warranty": True},
    {"touchpoint_id": "setup-p1", "type": "part.received", "occurred_at": SETUP_AT,
     "part_id": "P1", "location": "L1", "qty": 10**8},
]
EXTREMES = settings(max_examples=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@EXTREMES
@given(batch=st.lists(touchpoints().map(dump), min_size=1, max_size=8),
       batch_size=st.integers(1, 4))
def test_extreme_values_get_one_outcome_each_and_never_break_the_store(
        store_url: str, tmp_path: Path, batch: list[bytes], batch_size: int) -> None:
    app = open_store(store_url)
    try:
        before = app.journey_recorder.position()
        Ingestor(app).ingest([dump(obj) for obj in SETUP])
        summary = Ingestor(app, batch_size=batch_size).ingest(batch)
        assert summary.read == len(batch)
        assert summary.accepted + summary.duplicates + summary.rejected == summary.read
        assert sum(summary.rejected_by_reason.values()) == summary.rejected

        Projector(app).catch_up()  # raises ViewFailed if a view cannot take an event
        with view_queries(app) as views:
            for item in views.stock()["items"]:
                assert abs(item["on_hand"]) < 2**53 and abs(item["available"]) < 2**53
            views.errors()
            views.timeline("C1")

        encoder = EventEncoder(app)
        for entry in log_entries(app):
            if entry.id > before:
                encoder.encode(entry)  # what the relay publishes
        export_events(app, tmp_path / f"export{next(_ids)}.avro")

        probe = {"touchpoint_id": f"probe{next(_ids)}", "type": "part.received",
                 "occurred_at": "2026-03-02T10:00:00Z", "part_id": "P9", "location": "L9",
                 "qty": 1}
        after = Ingestor(app).ingest([dump(probe)])
        assert (after.accepted, after.rejected) == (1, 0)
        Projector(app).catch_up()
    finally:
        app.close()
