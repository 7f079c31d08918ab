"""``Invoice.Issued`` v1 -> v2: what stores already hold still decodes, as a v2 event.

Version 2 added ``terms_days``. A v1 event is stored without ``class_version`` and without
the field; the app's mapper runs ``Invoice.Issued.upcast_v1_v2`` when it reads one. The
stored bytes are never rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from journey.domain.invoices import Invoice, terms_days
from journey.infra.store import JourneyApplication, LogEntry, open_store
from journey.infra.views import ViewDecoder
from journey.schemas.parsing import Parsed, parse_line
from journey.schemas.touchpoint import InvoiceIssued
from tests.support import line, tp

TOPIC = "domain.invoices:Invoice.Issued"

#: An ``invoice.issued`` event exactly as the engine stored it before version 2.
V1_STATE = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2025-11-03T09:15:02.123456+00:00"},'
    b'"originator_topic":"domain.invoices:Invoice","touchpoint_id":"tp-legacy-1",'
    b'"occurred_at":{"_type_":"datetime_iso","_data_":"2025-11-02T23:30:00+00:00"},'
    b'"customer_id":"C1","channel":"email","source":"billing","error":null,'
    b'"invoice_id":"I-OLD","amount":{"_type_":"decimal_str","_data_":"120.00"},'
    b'"currency":"EUR","due_date":{"_type_":"date_iso","_data_":"2025-12-02"},'
    b'"order_id":null}'
)


def v1_row(state: bytes = V1_STATE, key: str = "I-OLD") -> StoredEvent:
    return StoredEvent(originator_id=Invoice.id_for(key), originator_version=1, topic=TOPIC,
                       state=state)


@pytest.fixture
def app() -> Iterator[JourneyApplication]:
    application = open_store("sqlite:///:memory:")
    yield application
    application.close()


def issued(at: str = "2026-03-01T10:00:00Z", due_date: str = "2026-03-31") -> Invoice.Issued:
    """The v2 event the current code records for an ``invoice.issued`` touchpoint."""
    parsed = parse_line(line(tp("invoice.issued", at=at, invoice_id="I1", amount="19.98",
                                currency="EUR", due_date=due_date)))
    assert isinstance(parsed, Parsed) and isinstance(parsed.touchpoint, InvoiceIssued)
    (event,) = Invoice.issue(parsed.touchpoint).collect_events()
    assert isinstance(event, Invoice.Issued)
    return event


def test_a_v1_event_decodes_as_v2_with_its_terms(app: JourneyApplication) -> None:
    event: Any = app.mapper.to_domain_event(v1_row())
    assert isinstance(event, Invoice.Issued)
    assert Invoice.Issued.class_version == 2
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
    old = decode(LogEntry(1, row.originator_id.hex, 1, TOPIC, V1_STATE))
    assert isinstance(old, Invoice.Issued)
    assert old.terms_days == 30  # went through the mapper: the fast path skips upcasting
    assert datetime(2025, 11, 2, 23, 30, tzinfo=UTC) == old.occurred_at

    stored = app.mapper.to_stored_event(issued(due_date="2026-03-15"))

    def no_mapper(*_: Any) -> Any:
        raise AssertionError("a v2 row must not need the mapper")

    monkeypatch.setattr(decode.mapper, "to_domain_event", no_mapper)
    new = decode(LogEntry(2, stored.originator_id.hex, 1, TOPIC, stored.state))
    assert new.terms_days == 14
    assert datetime(2026, 3, 1, 10, tzinfo=UTC) == new.occurred_at


def test_terms_count_utc_calendar_days() -> None:
    due = date(2026, 3, 31)
    assert terms_days(datetime(2026, 3, 1, 23, 59, tzinfo=UTC), due) == 30
    # 01:00 at +02:00 is still February 28th in UTC.
    assert terms_days(datetime(2026, 3, 1, 1, tzinfo=timezone(timedelta(hours=2))), due) == 31
    assert terms_days(datetime(2026, 3, 31, tzinfo=UTC), due) == 0
    assert terms_days(datetime(2026, 4, 1, tzinfo=UTC), due) == -1
