"""Kafka at its edges, against a real broker: the input topic has one partition (arrival order
is the contract) and a multi-partition one is read with a warning; a reader never creates a
topic; an error in the relay's encoder process reaches the parent as one message, never as a
worker's traceback."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from structlog.testing import capture_logs

from journey.consumers.touchpoints import TouchpointConsumer
from journey.domain.errors import JourneyError, UsageError
from journey.infra.ingest import Ingestor
from journey.infra.kafka.client import TopicMissing, ensure_topics
from journey.infra.kafka.relay import Relay
from journey.infra.kafka.subscriber import read_back, tail_records
from journey.infra.kafka.topics import Topics
from journey.infra.store import JourneyApplication, LogEntry, open_store
from journey.infra.views.feed import LogFeed
from journey.infra.workload import WorkloadOptions, generate
from tests.integration.test_consumers import FAST_GROUP, produce, store_state
from tests.support import line, order

# --- the input topic: one partition -------------------------------------------------------------


def partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(topics)
                if t["error_code"] == 0}
    finally:
        admin.close()


def test_the_consumer_creates_its_input_with_one_partition_and_decides_as_a_file_ingest(
        tmp_path: Path, kafka_bootstrap: str) -> None:
    topics = Topics(f"t{uuid.uuid4().hex[:10]}", 6)  # the published topics keep their 6
    consumed = open_store(f"sqlite:///{tmp_path / 'consumed.db'}")
    group = "g-" + topics.prefix
    # The first run finds no topic: it creates the input and its dead letters.
    assert TouchpointConsumer(consumed, kafka_bootstrap, topics, group,
                              consumer_options=FAST_GROUP).run(idle=0.5).read == 0
    assert partition_counts(kafka_bootstrap, [topics.touchpoints, topics.dlq]) == {
        topics.touchpoints: 1, topics.dlq: 1}

    # Upstream keys by customer (part movements have none): on one partition, every key
    # arrives in the order it was sent, so the decisions are a file ingest's.
    lines = [text.encode() for text in generate(WorkloadOptions(customers=40, seed=12))]
    produce(kafka_bootstrap, topics.touchpoints, lines)
    summary = TouchpointConsumer(consumed, kafka_bootstrap, topics, group, batch_size=400,
                                 consumer_options=FAST_GROUP, views=False).run(idle=1.5)
    filed = open_store(f"sqlite:///{tmp_path / 'filed.db'}")
    expected = Ingestor(filed, batch_size=400).ingest(lines)
    assert summary.as_json() == expected.as_json()
    assert store_state(consumed) == store_state(filed)
    consumed.close()
    filed.close()


def test_an_input_topic_with_more_partitions_is_read_with_one_warning(
        tmp_path: Path, kafka_bootstrap: str) -> None:
    topics = Topics(f"t{uuid.uuid4().hex[:10]}")
    ensure_topics(kafka_bootstrap, {topics.touchpoints: 2})  # made by a producer, say
    produce(kafka_bootstrap, topics.touchpoints, [line(order("O1")), line(order("O2"))])
    app = open_store(f"sqlite:///{tmp_path / 'journey.db'}")
    warnings: list[str] = []

    with capture_logs() as logs:
        summary = TouchpointConsumer(app, kafka_bootstrap, topics, "g-" + topics.prefix,
                                     consumer_options=FAST_GROUP, views=False,
                                     warn=warnings.append).run(idle=1.0)

    assert (summary.read, summary.accepted) == (2, 2)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"topic {topics.touchpoints} has 2 partitions: Kafka keeps "
                                  "arrival order only within a partition")
    assert "key each message by customer_id (part.* by part_id)" in warnings[0]
    logged = [entry for entry in logs if entry["event"] == "consume.touchpoints.partitioned"]
    assert [(e["log_level"], e["topic"], e["partitions"]) for e in logged] == [
        ("warning", topics.touchpoints, 2)]
    # Its dead letters are created with one partition all the same.
    assert partition_counts(kafka_bootstrap, [topics.touchpoints, topics.dlq]) == {
        topics.touchpoints: 2, topics.dlq: 1}
    app.close()


# --- readers never create a topic ---------------------------------------------------------------


def test_reading_a_missing_topic_is_one_clear_error_and_creates_nothing(
        kafka_bootstrap: str) -> None:
    topic = f"t{uuid.uuid4().hex[:10]}.purchase"

    with pytest.raises(TopicMissing, match=f"no topic {topic} on {kafka_bootstrap}; reading "
                       "never creates one"):
        list(tail_records(kafka_bootstrap, topic, idle=0.5))
    with pytest.raises(TopicMissing, match=f"no topic {topic} on"):
        read_back(kafka_bootstrap, [topic])

    assert partition_counts(kafka_bootstrap, [topic]) == {}


def test_a_topic_without_messages_is_an_empty_answer(kafka_bootstrap: str) -> None:
    topic = f"t{uuid.uuid4().hex[:10]}.repair"
    ensure_topics(kafka_bootstrap, {topic: 3})
    assert list(tail_records(kafka_bootstrap, topic, from_beginning=True, idle=0.5)) == []
    assert list(tail_records(kafka_bootstrap, topic, idle=0.5)) == []


def test_topics_need_at_least_one_partition() -> None:
    for bad in (0, -1):
        with pytest.raises(UsageError, match=f"at least 1 \\(got {bad}\\)"):
            Topics("journey", bad)


# --- errors in the encoder process cross to the parent as one line ------------------------------


def _explode(batch: list[LogEntry]) -> Any:
    return len(batch) // 0


def exploding(app: JourneyApplication) -> Callable[[list[LogEntry]], Any]:
    """A feed whose transform fails with a foreign error (picklable: module level)."""
    return _explode


def filled(tmp_path: Path, customers: int = 5) -> JourneyApplication:
    app = open_store(f"sqlite:///{tmp_path / 'journey.db'}")
    Ingestor(app).ingest([text.encode() for text in generate(
        WorkloadOptions(customers=customers, seed=3))])
    return app


def test_a_foreign_error_in_a_feed_process_reaches_the_parent_as_one_message(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    app = filled(tmp_path)
    env = dict(app.env)

    with LogFeed("test feed", env, 0, 100, exploding) as feed:
        with pytest.raises(JourneyError) as raised:
            feed.receive()
        feed.process.join(30)
        exit_code = feed.process.exitcode

    assert str(raised.value) == ("the test feed process failed: ZeroDivisionError: integer "
                                 "division or modulo by zero")
    assert exit_code == 1  # not one of ours: the relay treats it as a crash (and retries)
    assert "Traceback" not in capfd.readouterr().err  # the child printed nothing
    app.close()


def test_the_relay_stops_with_one_error_when_its_encoder_keeps_failing(
        tmp_path: Path, kafka_bootstrap: str, capfd: pytest.CaptureFixture[str]) -> None:
    """``JOURNEY_KAFKA_PARTITIONS=0`` once reached the encoder (a modulo by zero), which
    printed a traceback per attempt and was restarted for ever."""
    app = filled(tmp_path)
    topics = Topics(f"t{uuid.uuid4().hex[:10]}", 1)
    object.__setattr__(topics, "partitions", 0)  # past the check, as the setting once was
    stop = threading.Event()
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            Relay(app, kafka_bootstrap, topics).run(stop=stop.is_set)
            outcome.append(None)
        except BaseException as exc:  # the outcome is what we check
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(180)  # a guard against the old endless restarts, not a measurement
    stop.set()
    thread.join(30)

    assert len(outcome) == 1 and isinstance(outcome[0], JourneyError), outcome
    assert str(outcome[0]) == ("the relay's encoder process failed: ZeroDivisionError: "
                               "integer modulo by zero")
    assert "Traceback" not in capfd.readouterr().err
    assert app.journey_recorder.relay_position("relay") == 0  # nothing was published
    app.close()
