"""A store written before ``Invoice.Issued`` version 2, on every store: still fully usable.

The v1 row is written the way the engine of that time wrote it (through the recorder, no
``class_version``, no ``terms_days``) and never rewritten: the app's mapper upcasts it when it
reads it, ingest decides against it, the repository replays it, the audit export carries its
bytes unchanged, the views show it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest
from eventsourcing.persistence import StoredEvent

from journey.domain.invoices import Invoice
from journey.infra.audit.export import export_events
from journey.infra.audit.verify_export import verify_export
from journey.infra.ingest import Ingestor
from journey.infra.store import JourneyApplication, LogEntry, open_store
from journey.infra.views.decoder import ViewDecoder
from journey.infra.views.projector import Projector, view_queries
from tests.support import V1_STATE, V1_TOPIC, invoice, line, order, tp, v1_row
from tests.unit.test_upcasting import issued

LEGACY = Invoice.id_for("I-OLD")


@pytest.fixture
def app(store_url: str) -> Iterator[JourneyApplication]:
    application = open_store(store_url)
    assert Ingestor(application).ingest_batch(
        [line(order("O1", at="2025-11-01T10:00:00Z"))]).accepted == 1
    application.recorder.insert_events([v1_row()])  # written by the v1 engine
    yield application
    application.close()


def stored_state(app: JourneyApplication, position: int) -> bytes:
    (n,) = app.recorder.select_notifications(position, 1, stop=position)
    return bytes(n.state)


# --- The mapper: a v1 row decodes as a v2 event --------------------------------------------------


def test_a_v1_event_decodes_as_v2_with_its_terms(app: JourneyApplication) -> None:
    event: Any = app.mapper.to_domain_event(v1_row())
    assert isinstance(event, Invoice.Issued)
    assert event.terms_days == 30  # issued 2025-11-02 (UTC), due 2025-12-02
    assert "class_version" not in vars(event)
    assert ("I-OLD", Decimal("120.00"), "EUR", date(2025, 12, 2), None, "C1") == (
        event.invoice_id, event.amount, event.currency, event.due_date, event.order_id,
        event.customer_id)
    assert datetime(2025, 11, 2, 23, 30, tzinfo=UTC) == event.occurred_at
    assert (Invoice.id_for("I-OLD"), 1) == (event.originator_id, event.originator_version)


def test_the_upcast_gives_what_version_2_records_for_the_same_touchpoint(
        app: JourneyApplication) -> None:
    v2 = issued(at="2026-03-01T22:30:00-05:00", due_date="2026-03-31")  # March 2nd in UTC
    stored = app.mapper.to_stored_event(v2)
    state = json.loads(stored.state)
    assert (state.pop("class_version"), state.pop("terms_days")) == (2, 29)
    as_v1 = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                        json.dumps(state, separators=(",", ":")).encode())
    assert vars(v2) == vars(app.mapper.to_domain_event(as_v1))
    assert vars(v2) == vars(app.mapper.to_domain_event(stored))


def test_a_v1_event_still_creates_the_invoice(app: JourneyApplication) -> None:
    created: Any = app.mapper.to_domain_event(v1_row()).mutate(None)  # type: ignore[attr-defined]
    assert isinstance(created, Invoice)
    assert (created.key, created.customer_id, created.version) == ("I-OLD", "C1", 1)


def test_the_views_decoder_upcasts_v1_rows_and_reads_v2_rows_directly(
        app: JourneyApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    decode = ViewDecoder(app)
    row = v1_row()
    old = decode(LogEntry(1, row.originator_id.hex, 1, V1_TOPIC, V1_STATE))
    assert isinstance(old, Invoice.Issued)
    assert old.terms_days == 30  # went through the mapper: the fast path skips upcasting
    assert datetime(2025, 11, 2, 23, 30, tzinfo=UTC) == old.occurred_at

    stored = app.mapper.to_stored_event(issued(due_date="2026-03-15"))

    def no_mapper(*_: Any) -> Any:
        raise AssertionError("a v2 row must not need the mapper")

    monkeypatch.setattr(decode.mapper, "to_domain_event", no_mapper)
    new = decode(LogEntry(2, stored.originator_id.hex, 1, V1_TOPIC, stored.state))
    assert new.terms_days == 14
    assert datetime(2026, 3, 1, 10, tzinfo=UTC) == new.occurred_at


# --- The whole engine on a store that holds a v1 row ---------------------------------------------


def test_ingest_decides_against_a_replayed_v1_invoice(app: JourneyApplication) -> None:
    summary = Ingestor(app).ingest_batch([
        line(tp("invoice.paid", invoice_id="I-OLD", amount="120.00", at="2025-11-20T08:00:00Z")),
        line(invoice("I-OLD", at="2025-11-21T08:00:00Z")),
    ])
    assert (summary.accepted, dict(summary.rejected_by_reason)) == (1, {"already_exists": 1})

    aggregate = app.repository.get(LEGACY)
    assert isinstance(aggregate, Invoice)
    assert (aggregate.key, aggregate.customer_id, aggregate.version) == ("I-OLD", "C1", 2)

    history: list[Any] = [app.mapper.to_domain_event(s)
                          for s in app.journey_recorder.histories([LEGACY])[LEGACY]]
    assert [Invoice.Issued, Invoice.Paid] == [type(e) for e in history]
    assert history[0].terms_days == 30
    assert stored_state(app, 2) == V1_STATE  # read many times, never rewritten


def test_the_export_carries_the_v1_bytes_and_verifies(app: JourneyApplication,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "c1.avro"
    assert export_events(app, out, customer="C1").records == 2
    with out.open("rb") as stream:
        records = list(fastavro.reader(stream))
    legacy = records[1]
    assert (legacy["position"], legacy["event_type"], legacy["touchpoint_id"],
            legacy["customer_id"], legacy["occurred_at"]) == (
        2, "Invoice.Issued", "tp-legacy-1", "C1", "2025-11-02T23:30:00.000000Z")
    assert legacy["recorded_at"] == "2025-11-03T09:15:02.123456Z"
    assert legacy["state"] == V1_STATE
    report = verify_export(app, out)
    assert report.ok, report.first_mismatch


def test_the_views_show_the_v1_invoice_after_catch_up_and_rebuild(
        app: JourneyApplication) -> None:
    Ingestor(app).ingest_batch([
        line(tp("invoice.paid", invoice_id="I-OLD", amount="120.00", at="2025-11-20T08:00:00Z"))])
    projector = Projector(app)
    projector.catch_up()
    with view_queries(app) as views:
        caught_up = views.timeline("C1")
        invoices = views.errors("invoice")
    entries = [(e["touchpoint_id"], e["type"], e["occurred_at"]) for e in caught_up["entries"]]
    assert ("tp-legacy-1", "invoice.issued", "2025-11-02T23:30:00Z") in entries
    assert len(entries) == 3
    assert [(r["kind"], r["month"], r["touchpoints"])
            for r in invoices["by_kind_month"]] == [("invoice", "2025-11", 2)]

    assert projector.rebuild(["touchpoints", "stock"]) == 3
    with view_queries(app) as views:
        assert caught_up == views.timeline("C1")
