"""The topics stores held before the journey namespace name the same classes today."""

from __future__ import annotations

from eventsourcing.utils import get_topic, resolve_topic

from journey.domain.invoices import Invoice
from journey.domain.legacy_topics import old_topics, register_old_topics
from journey.domain.orders import Order
from journey.domain.stock import PartStock


def test_each_old_topic_is_the_current_topic_without_the_journey_prefix() -> None:
    topics = old_topics()

    assert {f"journey.{old}" for old in topics} == {get_topic(cls) for cls in topics.values()}


def test_the_old_topics_cover_every_aggregate_and_its_stored_events() -> None:
    topics = old_topics()

    for cls in (Order, Order.Placed, Invoice.Issued, PartStock, PartStock.Registered,
                PartStock.TransferredIn):
        assert topics[f"domain.{cls.__module__.rsplit('.', 1)[1]}:{cls.__qualname__}"] is cls


def test_registered_old_topics_resolve_to_the_current_classes() -> None:
    register_old_topics()

    assert resolve_topic("domain.orders:Order.Placed") is Order.Placed
    assert resolve_topic("domain.invoices:Invoice") is Invoice
