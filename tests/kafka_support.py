"""Reading topics back in tests: from the beginning, without a group, always with a deadline."""

from __future__ import annotations

import time
from collections.abc import Iterable

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from journey.infra.kafka.client import make_consumer
from journey.infra.store import JourneyApplication, LogEntry


def consume_all(
    bootstrap: str, topics: Iterable[str], *, expected: int | None, timeout: float
) -> list[ConsumerRecord]:
    """Every record of ``topics`` from offset 0, until ``expected`` arrived or ``timeout`` ran out.

    Partitions are assigned by hand (no group: nothing to join, nothing committed), and the
    loop never asks for end offsets: the bundled broker reports them wrongly. With
    ``expected=None`` it reads until the deadline (to show that nothing more arrives).
    Records come in partition order, partitions one after another as polled.
    """
    deadline = time.monotonic() + timeout
    consumer = make_consumer(bootstrap, None)
    try:
        consumer.assign(_partitions(consumer, list(topics), deadline))
        consumer.seek_to_beginning()
        records: list[ConsumerRecord] = []
        while expected is None or len(records) < expected:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            for batch in consumer.poll(timeout_ms=min(remaining_ms, 200)).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def _partitions(
    consumer: KafkaConsumer, topics: list[str], deadline: float
) -> list[TopicPartition]:
    """Wait (within the deadline) until metadata knows each topic's partitions."""
    while True:
        found = {topic: consumer.partitions_for_topic(topic) for topic in topics}
        missing = [topic for topic, partitions in found.items() if not partitions]
        if not missing:
            return [TopicPartition(t, p) for t, parts in found.items() for p in sorted(parts)]
        if time.monotonic() >= deadline:
            raise AssertionError(f"topics not in metadata before the deadline: {missing}")
        time.sleep(0.05)


def log_entries(app: JourneyApplication) -> list[LogEntry]:
    """The log as the relay reads it (ids as hex text on SQLite, UUIDs on PostgreSQL)."""
    return [entry for batch in app.journey_recorder.read_log_batches(0, 2000)
            for entry in batch]
