"""``Invoice.Issued`` v1 -> v2, the pure part: the class version and the upcaster on a dict.

Version 2 added ``terms_days``. A v1 event is stored without ``class_version`` and without
the field; the app's mapper runs ``Invoice.Issued.upcast_v1_v2`` on the decoded state when it
reads one (tests/integration/test_upcasting.py reads real v1 rows through a store). The stored
bytes are never rewritten.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from journey.domain.invoices import Invoice, terms_days
from journey.schemas.parsing import Parsed, parse_line
from journey.schemas.touchpoint import InvoiceIssued
from tests.support import line, tp


def issued(at: str = "2026-03-01T10:00:00Z", due_date: str = "2026-03-31") -> Invoice.Issued:
    """The v2 event the current code records for an ``invoice.issued`` touchpoint."""
    parsed = parse_line(line(tp("invoice.issued", at=at, invoice_id="I1", amount="19.98",
                                currency="EUR", due_date=due_date)))
    assert isinstance(parsed, Parsed) and isinstance(parsed.touchpoint, InvoiceIssued)
    (event,) = Invoice.issue(parsed.touchpoint).collect_events()
    assert isinstance(event, Invoice.Issued)
    return event


def v1_state() -> dict[str, Any]:
    """The decoded state of a v1 ``Invoice.Issued``, as the mapper hands it to the upcaster."""
    return {
        "timestamp": datetime(2025, 11, 3, 9, 15, 2, 123456, tzinfo=UTC),
        "originator_topic": "domain.invoices:Invoice",
        "touchpoint_id": "tp-legacy-1",
        "occurred_at": datetime(2025, 11, 2, 23, 30, tzinfo=UTC),
        "customer_id": "C1",
        "channel": "email",
        "source": "billing",
        "error": None,
        "invoice_id": "I-OLD",
        "amount": Decimal("120.00"),
        "currency": "EUR",
        "due_date": date(2025, 12, 2),
        "order_id": None,
    }


def test_invoice_issued_is_at_class_version_2() -> None:
    expected = 2

    version = Invoice.Issued.class_version

    assert expected == version


def test_the_upcaster_adds_the_terms_that_follow_from_the_v1_fields() -> None:
    state = v1_state()
    expected = {**v1_state(), "terms_days": 30}  # issued 2025-11-02 (UTC), due 2025-12-02

    Invoice.Issued.upcast_v1_v2(state)

    assert expected == state


def test_the_upcaster_counts_the_terms_from_the_utc_day_of_issue() -> None:
    state = {**v1_state(), "occurred_at": datetime(2025, 11, 3, 0, 30,
                                                   tzinfo=timezone(timedelta(hours=2)))}
    expected = 30  # 00:30 at +02:00 on November 3rd is still November 2nd in UTC (not 29)

    Invoice.Issued.upcast_v1_v2(state)

    assert expected == state["terms_days"]


def test_the_upcast_of_a_v2_event_without_its_terms_gives_the_v2_event_back() -> None:
    v2 = issued(at="2026-03-01T22:30:00-05:00", due_date="2026-03-31")  # March 2nd in UTC
    as_v1 = {name: value for name, value in vars(v2).items() if name != "terms_days"}
    expected = 29

    Invoice.Issued.upcast_v1_v2(as_v1)

    assert vars(v2) == as_v1
    assert expected == v2.terms_days


def test_terms_count_utc_calendar_days() -> None:
    due = date(2026, 3, 31)
    assert terms_days(datetime(2026, 3, 1, 23, 59, tzinfo=UTC), due) == 30
    # 01:00 at +02:00 is still February 28th in UTC.
    assert terms_days(datetime(2026, 3, 1, 1, tzinfo=timezone(timedelta(hours=2))), due) == 31
    assert terms_days(datetime(2026, 3, 31, tzinfo=UTC), due) == 0
    assert terms_days(datetime(2026, 4, 1, tzinfo=UTC), due) == -1
