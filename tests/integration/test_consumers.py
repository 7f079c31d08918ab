"""The Kafka consumers against a real broker: touchpoints in (same decisions as a file
ingest, rejects to the DLQ, exactly once across restarts and crashes) and views out
(built from the topics, equal to the views built from the log)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from journey.consumers import group as group_module
from journey.consumers.group import consume_assigned
from journey.consumers.touchpoints import TouchpointConsumer
from journey.consumers.views import ViewWorker
from journey.infra.ingest import Ingestor
from journey.infra.kafka.client import ensure_topics, make_consumer, make_producer
from journey.infra.kafka.relay import Relay
from journey.infra.kafka.topics import Topics
from journey.infra.store import JourneyApplication, LeaseHeld, OffsetRow, open_store
from journey.infra.views.projector import Projector
from journey.infra.workload import WorkloadOptions, generate
from tests.conftest import POSTGRES, _drop_schema, _postgres_url
from tests.kafka_support import consume_all
from tests.support import JOURNEY, all_views

# A member that left uncleanly holds a rebalance up for max_poll_interval_ms: keep it short.
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000,
              "max_poll_interval_ms": 10_000}
POISON = [b"not json at all", b"", b"\xff\xfe\x00", b'{"touchpoint_id": 42}', b"[1, 2, 3]"]


@pytest.fixture
def other_store_url(store_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty store on the same backend (views built from topics live there)."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    assert POSTGRES
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield _postgres_url(schema)
    _drop_schema(schema)


def workload(customers: int = 30, seed: int = 11) -> list[bytes]:
    return [line.encode() for line in generate(WorkloadOptions(customers=customers, seed=seed))]


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = make_producer(bootstrap)
    for i, value in enumerate(values):
        # Keyed by customer, as an upstream would, so each customer's order holds.
        key = value.split(b'"customer_id":', 1)[-1][:24] if b"customer_id" in value else b"%d" % i
        producer.send(topic, value=value, key=key, headers=[("n", b"%d" % i)])
    producer.flush()
    producer.close()


def input_topics(bootstrap: str, partitions: int = 1) -> Topics:
    topics = Topics(f"t{uuid.uuid4().hex[:10]}", partitions)
    ensure_topics(bootstrap, {topics.touchpoints: partitions, topics.dlq: partitions})
    return topics


def store_state(app: JourneyApplication) -> tuple[Any, ...]:
    recorder = app.journey_recorder
    rejects = [(r.touchpoint_id, r.reason, r.detail, r.raw) for r in recorder.rejects()]
    with recorder.read_rows() as c:
        c.execute(f"SELECT touchpoint_id, content_hash FROM {recorder.touchpoints_sql}")
        accepted = sorted((row[0], bytes(row[1])) for row in c.fetchall())
    return recorder.counts(), accepted, rejects


def test_touchpoints_from_kafka_equal_a_file_ingest_and_rejects_reach_the_dlq(
        store_url: str, other_store_url: str, kafka_bootstrap: str) -> None:
    lines = workload()[:1500] + POISON
    topics = input_topics(kafka_bootstrap)  # one partition: the same order as the file
    produce(kafka_bootstrap, topics.touchpoints, lines)
    consumed = open_store(store_url)
    summary = TouchpointConsumer(consumed, kafka_bootstrap, topics, "g-" + topics.prefix,
                                 batch_size=300, consumer_options=FAST_GROUP).run(idle=1.5)
    filed = open_store(other_store_url)
    expected = Ingestor(filed, batch_size=300).ingest(lines)
    assert summary.as_json() == expected.as_json()
    assert store_state(consumed) == store_state(filed)
    assert summary.rejected >= len(POISON)
    Projector(filed).catch_up()  # the consumer kept its views current, as ingest does
    assert all_views(consumed) == all_views(filed)

    dead = consume_all(kafka_bootstrap, [topics.dlq], expected=summary.rejected, timeout=30)
    rejects = consumed.journey_recorder.rejects()
    assert [m.value for m in dead] == [r.raw for r in rejects]  # untouched, in order
    for message, reject in zip(dead, rejects, strict=True):
        headers = dict(message.headers)
        assert headers["reason"].decode() == reject.reason
        assert headers["detail"].decode() == reject.detail
        assert headers["source_topic"].decode() == topics.touchpoints
        assert headers["n"] == b"%d" % int(headers["source_offset"])  # original headers kept
    consumed.close()
    filed.close()


def test_a_restart_neither_loses_nor_repeats(store_url: str, other_store_url: str,
                                             kafka_bootstrap: str) -> None:
    lines = workload(seed=12)[:1200] + POISON
    topics = input_topics(kafka_bootstrap)  # one partition: decisions depend on order
    produce(kafka_bootstrap, topics.touchpoints, lines[:600])
    app = open_store(store_url)
    group = "g-" + topics.prefix
    batches = [0]

    deadline = time.monotonic() + 120

    def stop_after_two() -> bool:
        return batches[0] >= 2 or time.monotonic() > deadline

    first = TouchpointConsumer(app, kafka_bootstrap, topics, group, batch_size=100,
                               consumer_options=FAST_GROUP)
    first.run(follow=True, stop=stop_after_two,
              progress=lambda _n: batches.__setitem__(0, batches[0] + 1))
    assert batches[0] == 2, "the first consumer never got its two batches"
    produce(kafka_bootstrap, topics.touchpoints, lines[600:])
    TouchpointConsumer(app, kafka_bootstrap, topics, group, batch_size=100,
                       consumer_options=FAST_GROUP).run(idle=1.5)
    # Kill -9 right after a store commit, before Kafka hears of it; then run to the end.
    env = {**os.environ, "JOURNEY_FAILPOINTS": "consume.after_store=1",
           "JOURNEY_KAFKA_PREFIX": topics.prefix, "JOURNEY_KAFKA_PARTITIONS": "1",
           "JOURNEY_LOG_LEVEL": "warning"}
    produce(kafka_bootstrap, topics.touchpoints, POISON)  # one more batch to crash on
    run = [JOURNEY, "--db", store_url, "consume", "touchpoints", "--bootstrap",
           kafka_bootstrap, "--group", group, "--idle", "1.5"]
    assert subprocess.run(run, env=env, capture_output=True, timeout=120).returncode == -9
    del env["JOURNEY_FAILPOINTS"]
    subprocess.run(run, env=env, check=True, capture_output=True, timeout=120)

    reference = open_store(other_store_url)
    Ingestor(reference).ingest(lines + POISON)  # one clean pass over every message
    counts, accepted, rejects = store_state(app)
    ref_counts, ref_accepted, ref_rejects = store_state(reference)
    assert (counts, accepted) == (ref_counts, ref_accepted)
    assert rejects == ref_rejects  # each once: none lost, none stored twice
    app.close()
    reference.close()


def test_one_reader_per_group_and_store_a_standby_takes_over(
        store_url: str, other_store_url: str, kafka_bootstrap: str) -> None:
    """The consumer reads at once (no group join), holding the group's store lease: a second
    one-shot consumer refuses, a following one waits as a standby and takes over when the
    holder stops; between them nothing is lost or decided twice."""
    lines = workload(seed=13)[:900] + POISON
    topics = input_topics(kafka_bootstrap)
    produce(kafka_bootstrap, topics.touchpoints, lines[:500])
    group = "g-" + topics.prefix
    active_app, standby_app = open_store(store_url), open_store(store_url)
    active = TouchpointConsumer(active_app, kafka_bootstrap, topics, group, batch_size=100)
    standby = TouchpointConsumer(standby_app, kafka_bootstrap, topics, group, batch_size=100)
    active_read, standby_read = [0], [0]
    stop_active = threading.Event()
    deadline = time.monotonic() + 120
    errors: list[BaseException] = []

    def run(consumer: TouchpointConsumer, read: list[int], stop: Any) -> None:
        try:
            consumer.run(follow=True, stop=stop,
                         progress=lambda n: read.__setitem__(0, n))
        except BaseException as exc:  # reported by the test, not lost in a thread
            errors.append(exc)

    first = threading.Thread(target=run, args=(active, active_read, lambda: (
        stop_active.is_set() or time.monotonic() > deadline)))
    first.start()
    while active_read[0] == 0 and time.monotonic() < deadline and not errors:
        time.sleep(0.05)
    assert active_read[0] > 0 and not errors

    refused = open_store(store_url)
    with pytest.raises(LeaseHeld, match=f"group {group} is reading into this store"):
        TouchpointConsumer(refused, kafka_bootstrap, topics, group).run(idle=1)
    refused.close()

    second = threading.Thread(target=run, args=(standby, standby_read, lambda: (
        active_read[0] + standby_read[0] >= len(lines) or time.monotonic() > deadline)))
    second.start()
    while active_read[0] < 500 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the standby tries the lease every 0.5 s meanwhile
    assert standby_read[0] == 0, "the standby read while the lease was held"
    stop_active.set()
    first.join(timeout=60)
    produce(kafka_bootstrap, topics.touchpoints, lines[500:])
    second.join(timeout=120)
    assert not errors
    assert (active_read[0], active_read[0] + standby_read[0]) == (500, len(lines))

    reference = open_store(other_store_url)
    Ingestor(reference).ingest(lines)
    assert store_state(standby_app) == store_state(reference)
    for app in (active_app, standby_app, reference):
        app.close()


def send_numbered(producer: Any, topic: str, numbers: range) -> None:
    """Each number as its digits, to partition ``number % 2`` of a 2-partition topic."""
    for i in numbers:
        producer.send(topic, value=b"%d" % i, partition=i % 2)
    producer.flush()


def test_partitions_found_later_are_read_too(kafka_bootstrap: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A topic assigned by hand is looked at again while idle: partitions it has beyond
    those known at the start (added later) are read as well, from their stored offsets."""
    monkeypatch.setattr(group_module, "PARTITIONS_CHECK", 0.0)
    topic = f"t{uuid.uuid4().hex[:10]}.grown"
    ensure_topics(kafka_bootstrap, {topic: 2})
    producer = make_producer(kafka_bootstrap)
    send_numbered(producer, topic, range(10))
    producer.close()
    consumer = make_consumer(kafka_bootstrap, "g-" + topic, metadata_max_age_ms=500)
    seen: list[tuple[int, bytes]] = []
    grown: list[tuple[str, int]] = []

    def handle(polled: dict[Any, list[Any]]) -> list[OffsetRow]:
        seen.extend((r.partition, r.value) for records in polled.values() for r in records)
        return [OffsetRow(tp.topic, tp.partition, records[-1].offset + 1)
                for tp, records in polled.items()]

    try:
        consume_assigned(consumer, {topic: 1}, dict, handle, follow=False, idle=2.0,
                         stop=lambda: False, max_records=100,
                         grown=lambda name, count: grown.append((name, count)))
    finally:
        consumer.close()
    assert grown == [(topic, 2)]
    assert sorted(seen) == sorted((i % 2, b"%d" % i) for i in range(10))


def test_a_group_member_reads_while_its_group_forms(kafka_bootstrap: str) -> None:
    """``consume_group`` with an early reader: batches are handled before the group hands
    out partitions (the bundled broker holds a first join for seconds), and the handed-out
    partitions then start at the offsets stored by the early batches: nothing is read
    twice, nothing is missed."""
    topic = f"t{uuid.uuid4().hex[:10]}.early"
    ensure_topics(kafka_bootstrap, {topic: 2})
    producer = make_producer(kafka_bootstrap)
    send_numbered(producer, topic, range(20))
    consumer = make_consumer(kafka_bootstrap, "g-" + topic, **FAST_GROUP)
    early = make_consumer(kafka_bootstrap, "g-" + topic, **FAST_GROUP)
    stored: dict[tuple[str, int], OffsetRow] = {}
    seen: list[bytes] = []
    before_join: list[int] = []

    def handle(polled: dict[Any, list[Any]]) -> list[OffsetRow]:
        values = [r.value for records in polled.values() for r in records]
        if not consumer.assignment():
            before_join.append(len(values))
        if len(seen) < 20 <= len(seen) + len(values):  # 10 more, read by either consumer
            send_numbered(producer, topic, range(20, 30))
        seen.extend(values)
        rows = [OffsetRow(tp.topic, tp.partition, records[-1].offset + 1)
                for tp, records in polled.items()]
        stored.update({(row.topic, row.partition): row for row in rows})
        return rows

    try:
        group_module.consume_group(consumer, [topic], lambda: dict(stored), handle,
                                   follow=False, idle=2.0, stop=lambda: False,
                                   max_records=100, early=(early, {topic: 2}))
    finally:
        consumer.close()
        producer.close()
    assert sum(before_join) >= 20  # the first 20 came before the join
    assert sorted(seen, key=int) == [b"%d" % i for i in range(30)]


def published(store_url: str, bootstrap: str, customers: int, seed: int
              ) -> tuple[JourneyApplication, Topics]:
    app = open_store(store_url)
    Ingestor(app).ingest(workload(customers, seed))
    Projector(app).catch_up()
    topics = Topics(f"t{uuid.uuid4().hex[:10]}", 3)
    Relay(app, bootstrap, topics, batch_size=500).run()
    return app, topics


def test_views_from_topics_equal_views_from_the_log(
        store_url: str, other_store_url: str, kafka_bootstrap: str) -> None:
    log_app, topics = published(store_url, kafka_bootstrap, customers=80, seed=21)
    # Publish the whole log a second time: the workers must skip every duplicate.
    Relay(log_app, kafka_bootstrap, topics).run(from_start=True)
    views_app = open_store(other_store_url)
    group = "views-" + topics.prefix
    summaries: list[Any] = []

    def worker() -> None:  # two workers share the partitions of one group
        app = open_store(other_store_url)
        summaries.append(ViewWorker(app, kafka_bootstrap, topics, group, batch_size=700,
                                    consumer_options=FAST_GROUP).run(idle=3))
        app.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    events = log_app.journey_recorder.position()
    # Each record counts once in all: both workers read every partition while the group
    # forms, and what one reads after the other stored it is neither read nor a duplicate.
    assert sum(s.read for s in summaries) == 2 * events
    assert sum(s.applied for s in summaries) == events
    assert sum(s.duplicates for s in summaries) == events
    assert all_views(views_app) == all_views(log_app)
    # A restart has nothing left to do: the offsets stored with the views are the ends of
    # the partitions (a restarted worker seeks there on assignment).
    messages = consume_all(kafka_bootstrap, sorted(topics.published), expected=2 * events,
                           timeout=60)
    ends: dict[tuple[str, int], int] = {}
    for m in messages:
        ends[(m.topic, m.partition)] = max(ends.get((m.topic, m.partition), 0), m.offset + 1)
    stored = views_app.journey_recorder.offsets("views:" + group)
    assert {key: row.next_offset for key, row in stored.items()} == ends
    log_app.close()
    views_app.close()
