"""A store written before ``Invoice.Issued`` version 2, on every store: still fully usable.

The v1 row is written the way the engine of that time wrote it (through the recorder, no
``class_version``, no ``terms_days``) and never rewritten: ingest decides against it, the
repository replays it, the audit export carries its bytes unchanged, the views show it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest

from journey.domain.invoices import Invoice
from journey.infra.export import export_events, verify_export
from journey.infra.ingest import Ingestor
from journey.infra.store import JourneyApplication, open_store
from journey.infra.views import Projector, view_queries
from tests.support import invoice, line, order, tp
from tests.unit.test_upcasting import V1_STATE, v1_row

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
