"""The relay against a real broker: every event on its topic, in order, exactly as encoded;
the position only after acknowledgement; one relay at a time; crashes and broker restarts
lose nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from journey.infra.ingest import Ingestor, LineSource
from journey.infra.kafka.broker import EmbeddedBroker
from journey.infra.kafka.codec import EventEncoder
from journey.infra.kafka.losses import BrokerDataLost
from journey.infra.kafka.relay import Relay, partition_of
from journey.infra.kafka.topics import Topics
from journey.infra.store import JourneyApplication, LeaseHeld, open_store
from journey.infra.workload import WorkloadOptions, write_workload
from journey.schemas.avro_codec import decode
from tests.kafka_support import consume_all, log_entries
from tests.support import JOURNEY

HEADERS = {"event_id", "event_type", "touchpoint_id", "originator_id", "originator_version",
           "notification_id", "occurred_at"}


def filled_store(url: str, tmp_path: Path, customers: int = 40, seed: int = 3
                 ) -> JourneyApplication:
    workload = tmp_path / "workload.jsonl"
    with workload.open("w") as out:
        write_workload(WorkloadOptions(customers=customers, seed=seed), out)
    app = open_store(url)
    with workload.open("rb") as stream:
        Ingestor(app).ingest(LineSource(stream))
    return app


def topics_for_test(partitions: int = 3) -> Topics:
    return Topics(f"t{uuid.uuid4().hex[:10]}", partitions)


def assert_complete_and_ordered(app: JourneyApplication, messages: list[Any],
                                topics: Topics, after: int = 0) -> None:
    """Every event after position ``after`` is on its topic with its exact bytes; per
    partition the first copies come in log order; duplicates are exact copies."""
    encoder = EventEncoder(app)
    expected = {e.id: encoder.encode(e) for e in log_entries(app) if e.id > after}
    first: dict[int, Any] = {}
    last_per_partition: dict[tuple[str, int], int] = defaultdict(int)
    for m in messages:
        nid = int(dict(m.headers)["notification_id"])
        if nid <= after:
            continue
        out = expected[nid]
        assert (m.topic, m.key, m.value) == (topics.of(out.kind), out.key, out.value)
        assert sorted(m.headers) == sorted(out.headers)
        if nid in first:
            continue  # a re-sent copy: checked equal above
        first[nid] = m
        partition = (m.topic, m.partition)
        assert nid > last_per_partition[partition], f"{nid} after {last_per_partition[partition]}"
        last_per_partition[partition] = nid
    missing = sorted(set(expected) - set(first))
    assert not missing, f"{len(missing)} events never published, first {missing[:5]}"


def test_every_event_goes_to_its_topic_once_with_headers(
        store_url: str, tmp_path: Path, kafka_bootstrap: str) -> None:
    app = filled_store(store_url, tmp_path)
    topics = topics_for_test()
    summary = Relay(app, kafka_bootstrap, topics, batch_size=700).run()
    head = app.journey_recorder.position()
    assert summary.position == head == app.journey_recorder.relay_position("relay")
    assert summary.published == len(log_entries(app)) == sum(summary.topics.values())
    messages = consume_all(kafka_bootstrap, sorted(topics.published), expected=summary.published,
                           timeout=60)
    assert len(messages) == summary.published  # exactly once in a clean run
    assert_complete_and_ordered(app, messages, topics)
    for m in messages:
        headers = {k: v.decode() for k, v in m.headers}
        assert HEADERS - {"touchpoint_id", "occurred_at"} <= set(headers) <= HEADERS
        name, record = decode(m.value)
        assert headers["event_type"] == name
        assert int(headers["originator_version"]) == record["originator_version"]
        assert m.partition == partition_of(m.key, topics.partitions)  # as Kafka's default
        if m.topic == topics.of("part"):
            assert m.key == f"{record['part_id']}@{record['location']}".encode()
        else:
            assert m.key == record["customer_id"].encode()
    # A second run has nothing to add; new events continue from the stored position.
    assert Relay(app, kafka_bootstrap, topics).run().published == 0
    app.close()


def test_one_relay_at_a_time(store_url: str, tmp_path: Path, kafka_bootstrap: str) -> None:
    app = open_store(store_url)
    other = open_store(store_url)
    try:
        with other.journey_recorder.lease("relay", wait=False), pytest.raises(LeaseHeld):
            Relay(app, kafka_bootstrap, topics_for_test()).run()
        assert Relay(app, kafka_bootstrap, topics_for_test()).run().published == 0  # free now
    finally:
        other.close()
        app.close()


@pytest.mark.parametrize("failpoint", ["relay.after_send", "relay.after_flush"])
def test_kill_between_send_and_position_save_loses_nothing(
        store_url: str, tmp_path: Path, kafka_bootstrap: str, failpoint: str) -> None:
    app = filled_store(store_url, tmp_path)
    topics = topics_for_test()
    env = {**os.environ, "JOURNEY_FAILPOINTS": f"{failpoint}=3",
           "JOURNEY_KAFKA_PREFIX": topics.prefix, "JOURNEY_KAFKA_PARTITIONS": "3",
           "JOURNEY_LOG_LEVEL": "warning"}
    run = [JOURNEY, "--db", store_url, "publish", "--bootstrap", kafka_bootstrap,
           "--batch-size", "400"]
    killed = subprocess.run(run, env=env, capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr.decode()
    saved = app.journey_recorder.relay_position("relay")
    if failpoint == "relay.after_flush":
        assert saved == 800  # two batches acknowledged and saved, the third not saved
    else:  # the third sent while the second was still being acknowledged
        assert saved in (400, 800)
    del env["JOURNEY_FAILPOINTS"]
    subprocess.run(run, env=env, check=True, capture_output=True, timeout=120)
    head = app.journey_recorder.position()
    assert app.journey_recorder.relay_position("relay") == head
    # Duplicates make the message count unknown: read for a while (no end offsets here).
    messages = consume_all(kafka_bootstrap, sorted(topics.published), expected=None, timeout=8)
    assert_complete_and_ordered(app, messages, topics)
    resent = [int(dict(m.headers)["notification_id"]) for m in messages]
    duplicates = len(resent) - len(set(resent))
    if failpoint == "relay.after_flush":  # acknowledged, then killed: that batch again
        assert duplicates == head - 800
    else:  # killed with batches in the producer's buffer: some of them may have gone
        assert duplicates <= head - saved
    app.close()


def test_broker_killed_and_restarted_mid_relay_is_reported_then_republished(
        store_url: str, tmp_path: Path) -> None:
    """The bundled broker keeps topics in memory, so a restart loses what it had
    acknowledged: the relay must say so (never carry on into new, empty topics), and
    ``--from-start`` must bring every event back, in order."""
    app = filled_store(store_url, tmp_path, customers=120)
    head = app.journey_recorder.position()
    topics = topics_for_test()
    with EmbeddedBroker() as broker:
        relay = Relay(app, broker.bootstrap, topics, batch_size=200)
        done = threading.Event()
        result: list[Any] = []

        def run() -> None:
            try:
                result.append(relay.run(follow=True, stop=lambda: done.is_set(),
                                        interval=0.1))
            except BaseException as exc:  # surfaced by the assertion below
                result.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 60
        while app.journey_recorder.relay_position("relay") == 0:
            assert time.monotonic() < deadline, "the relay never saved a position"
            time.sleep(0.01)
        broker.kill()
        time.sleep(1.0)  # the relay notices: sends fail, the producer is dropped
        broker.restart()
        thread.join(timeout=90)
        done.set()
        assert not thread.is_alive(), "the relay carried on after the broker lost its data"
        assert isinstance(result[0], BrokerDataLost), result[0]

        Relay(app, broker.bootstrap, topics).run(from_start=True)
        messages = consume_all(broker.bootstrap, sorted(topics.published), expected=head,
                               timeout=60)
        assert_complete_and_ordered(app, messages, topics)
    app.close()


def test_a_broker_down_is_waited_for_without_starting_an_encoder_each_attempt(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Following a broker that does not answer, the relay backs off and retries; the
    encoder process (a Python process reading the log) starts again only once the broker
    answers, not at every attempt of an outage."""
    import journey.infra.kafka.relay as relay_module

    started: list[int] = []

    class CountedFeed(relay_module.LogFeed):  # type: ignore[misc,name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            started.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(relay_module, "LogFeed", CountedFeed)
    monkeypatch.setenv("JOURNEY_MAX_OUTAGE", "0")
    app = filled_store(sqlite_url, tmp_path, customers=5)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{sock.getsockname()[1]}"
    relay = Relay(app, nobody, topics_for_test(), connect_timeout=1.0)
    summary = relay.run(follow=True, stop=lambda: relay.backoff.attempt >= 3, interval=0.05)

    assert summary.reconnects >= 3 and summary.published == 0
    assert len(started) <= 1, f"{len(started)} encoder processes for one outage"
    app.close()
