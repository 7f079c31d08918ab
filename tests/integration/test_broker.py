"""The bundled broker and our Kafka plumbing, against a real broker (no mocks)."""

from __future__ import annotations

import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Iterator

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata
from structlog.testing import capture_logs

from journey.domain.errors import JourneyError
from journey.infra.kafka import client as journey_kafka
from journey.infra.kafka.broker import EmbeddedBroker
from journey.infra.kafka.client import (
    TopicMismatch,
    close_producer,
    ensure_topics,
    make_consumer,
    make_producer,
)
from tests.kafka_support import consume_all

Names = Callable[[str], str]


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker of this test alone, for restarts and kills the session broker must not see."""
    with EmbeddedBroker() as broker:
        yield broker


def topic_partitions(bootstrap: str, topics: list[str]) -> dict[str, int]:
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(topics)
                if t["error_code"] == 0}


def listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_the_embedded_broker_starts_answers_and_stops() -> None:
    broker = EmbeddedBroker()

    started = time.monotonic()
    broker.start()
    took = time.monotonic() - started

    try:
        assert broker.bootstrap == f"127.0.0.1:{broker.port}"
        assert took < 10  # measured ~0.05 s; generous for a loaded CI machine
        with KafkaAdminClient(bootstrap_servers=broker.bootstrap) as admin:
            assert admin.list_topics() == []
    finally:
        broker.stop()
    assert not broker.running
    assert not listens(broker.port)
    broker.stop()  # idempotent


def test_ensure_topics_creates_each_topic_with_its_partition_count(
    kafka_bootstrap: str, unique_name: Names
) -> None:
    topics = {unique_name("three"): 3, unique_name("one"): 1}

    ensure_topics(kafka_bootstrap, topics)
    ensure_topics(kafka_bootstrap, topics)  # again: nothing changes, nothing fails

    assert topic_partitions(kafka_bootstrap, list(topics)) == topics


def test_ensure_topics_refuses_an_existing_topic_with_another_partition_count(
    kafka_bootstrap: str, unique_name: Names
) -> None:
    topic = unique_name("events")
    ensure_topics(kafka_bootstrap, {topic: 2})

    with pytest.raises(TopicMismatch, match="2 partitions, 4 are needed") as raised:
        ensure_topics(kafka_bootstrap, {topic: 4})

    assert isinstance(raised.value, JourneyError)


def test_a_producer_does_not_create_a_missing_topic(
    kafka_bootstrap: str, unique_name: Names
) -> None:
    topic = unique_name("missing")
    producer = make_producer(kafka_bootstrap, max_block_ms=1_000)

    with pytest.raises(KafkaTimeoutError):  # raised by send(): no metadata for the topic
        producer.send(topic, key=b"k", value=b"v")
    close_producer(producer)

    assert topic_partitions(kafka_bootstrap, [topic]) == {}


def test_keyed_messages_with_headers_come_back_in_order_per_key(
    kafka_bootstrap: str, unique_name: Names
) -> None:
    topic = unique_name("journey")
    ensure_topics(kafka_bootstrap, {topic: 3})
    sent = [(f"C{i % 7}".encode(), f"{i}".encode()) for i in range(300)]
    producer = make_producer(kafka_bootstrap)
    try:
        for key, value in sent:
            producer.send(topic, key=key, value=value,
                          headers=[("event_id", b"e" + value), ("type", b"Order.Placed")])
        producer.flush(timeout=15)
    finally:
        close_producer(producer)

    records = consume_all(kafka_bootstrap, [topic], expected=len(sent), timeout=15)

    assert len(records) == len(sent)
    by_key: dict[bytes, list[bytes]] = defaultdict(list)
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key[record.key].append(record.value)
        partitions_of_key[record.key].add(record.partition)
        assert record.headers == [("event_id", b"e" + record.value), ("type", b"Order.Placed")]
    expected: dict[bytes, list[bytes]] = defaultdict(list)
    for key, value in sent:
        expected[key].append(value)
    assert expected == by_key
    assert all(len(partitions) == 1 for partitions in partitions_of_key.values())


def test_a_second_consumer_in_the_group_resumes_after_the_committed_offsets(
    kafka_bootstrap: str, unique_name: Names
) -> None:
    topic, group = unique_name("events"), unique_name("workers")
    ensure_topics(kafka_bootstrap, {topic: 2})
    producer = make_producer(kafka_bootstrap)
    for i in range(40):
        producer.send(topic, key=f"k{i % 5}".encode(), value=f"{i}".encode())
    producer.flush(timeout=15)
    close_producer(producer)

    first = make_consumer(kafka_bootstrap, group)
    first.subscribe([topic])
    processed = poll_records(first, at_least=10, timeout=20)[:10]
    positions: dict[TopicPartition, OffsetAndMetadata] = {}
    for record in processed:
        positions[TopicPartition(record.topic, record.partition)] = OffsetAndMetadata(
            record.offset + 1, "", -1)
    first.commit(positions)
    first.close()

    second = make_consumer(kafka_bootstrap, group)
    second.subscribe([topic])
    resumed = poll_records(second, at_least=30, timeout=20)
    second.close()

    assert sorted(r.value for r in processed + resumed) == sorted(f"{i}".encode()
                                                                  for i in range(40))
    assert len(resumed) == 30


def poll_records(
    consumer: KafkaConsumer, *, at_least: int, timeout: float
) -> list[ConsumerRecord]:
    """Poll a subscribed consumer until ``at_least`` records arrived or the deadline passed."""
    deadline = time.monotonic() + timeout
    records: list[ConsumerRecord] = []
    while len(records) < at_least and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=200).values():
            records.extend(batch)
    return records


def test_after_a_restart_topics_are_gone_and_a_fresh_producer_works(
    own_broker: EmbeddedBroker, unique_name: Names
) -> None:
    topic = unique_name("events")
    ensure_topics(own_broker.bootstrap, {topic: 2})
    old = make_producer(own_broker.bootstrap)
    old.send(topic, key=b"k", value=b"before").get(timeout=10)

    own_broker.restart()

    assert topic_partitions(own_broker.bootstrap, [topic]) == {}  # memory storage
    with pytest.raises(KafkaError):  # the old producer's id is unknown now: it is unusable
        old.send(topic, key=b"k", value=b"after").get(timeout=10)
    close_producer(old)
    ensure_topics(own_broker.bootstrap, {topic: 2})
    fresh = make_producer(own_broker.bootstrap)
    fresh.send(topic, key=b"k", value=b"after").get(timeout=10)
    close_producer(fresh)
    values = [r.value for r in consume_all(own_broker.bootstrap, [topic], expected=1, timeout=10)]
    assert values == [b"after"]


def test_a_producer_stuck_on_a_killed_broker_still_closes_promptly(
    own_broker: EmbeddedBroker, unique_name: Names
) -> None:
    topic = unique_name("events")
    ensure_topics(own_broker.bootstrap, {topic: 3})
    producer = make_producer(own_broker.bootstrap, request_timeout_ms=1_000,
                             delivery_timeout_ms=2_000)
    futures = [producer.send(topic, key=f"k{i % 20}".encode(), value=b"x" * 300)
               for i in range(3_000)]
    own_broker.kill()
    futures += [producer.send(topic, key=f"k{i % 20}".encode(), value=b"x" * 300)
                for i in range(3_000)]

    started = time.monotonic()
    close_producer(producer, timeout=3)

    assert time.monotonic() - started < 10
    assert all(f.is_done for f in futures)
    assert all(isinstance(f.exception, KafkaError) for f in futures if f.failed())


def test_kafka_bootstrap_starts_a_broker_when_none_is_configured_and_stops_it_after() -> None:
    with capture_logs() as logs, journey_kafka.kafka_bootstrap(None) as bootstrap:
        port = int(bootstrap.rsplit(":", 1)[1])
        assert listens(port)
        ensure_topics(bootstrap, {"journey.purchase": 1})

    embedded = [e for e in logs if e["event"] == "broker.embedded"]
    assert [e["bootstrap"] for e in embedded] == [bootstrap]
    assert not listens(port)
    with pytest.raises(ProcessLookupError):  # the broker process is gone, not just deaf
        os.kill(embedded[0]["pid"], 0)


def test_kafka_bootstrap_yields_a_configured_address_unchanged() -> None:
    with journey_kafka.kafka_bootstrap("kafka-1:9092,kafka-2:9092") as bootstrap:
        assert bootstrap == "kafka-1:9092,kafka-2:9092"
