"""Kafka benchmark on the bundled broker, all figures from one run:

- the relay (log -> Avro topics, position stored per acknowledged batch), events/s, next
  to a raw kafka-python producer sending the same bytes with the same settings to the
  same broker (target: relay >= 0.7x raw);
- ``consume touchpoints``: touchpoints/s decided from a topic, next to ``journey ingest``
  of the same lines from a file;
- the view worker (``consume views``), events/s, next to a plain kafka-python
  count-per-key loop over the same topics.

    python -m benchmarks.kafka [--customers 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from kafka import TopicPartition

from benchmarks.views import build_log
from journey.consumers.touchpoints import TouchpointConsumer
from journey.consumers.views import ViewWorker
from journey.infra.ingest import Ingestor, LineSource
from journey.infra.kafka.broker import EmbeddedBroker
from journey.infra.kafka.client import ensure_topics, make_consumer, make_producer
from journey.infra.kafka.codec import EventEncoder
from journey.infra.kafka.relay import Relay
from journey.infra.kafka.topics import Topics
from journey.infra.logs import configure_logging
from journey.infra.store import open_store

PARTITIONS = 6


def relay(url: str, bootstrap: str) -> tuple[int, float]:
    app = open_store(url)
    app.journey_recorder.save_relay_position("bench", 0)
    topics = Topics("relay", PARTITIONS)
    ensure_topics(bootstrap, topics.published)
    started = time.perf_counter()
    summary = Relay(app, bootstrap, topics, name="bench").run()
    seconds = time.perf_counter() - started
    app.close()
    return summary.published, seconds


def raw_producer(url: str, bootstrap: str) -> tuple[int, float]:
    """The same bytes (encoded beforehand, not timed) through a bare producer."""
    app = open_store(url)
    encoder = EventEncoder(app)
    topics = Topics("raw", PARTITIONS)
    messages = []
    for batch in app.journey_recorder.read_log_batches(0, 5000):
        for entry in batch:
            out = encoder.encode(entry)
            messages.append((topics.of(out.kind), out.key, out.value, out.headers))
    app.close()
    ensure_topics(bootstrap, topics.published)
    producer = make_producer(bootstrap)
    started = time.perf_counter()
    send = producer.send
    for topic, key, value, headers in messages:
        send(topic, value=value, key=key, headers=headers)
    producer.flush()
    seconds = time.perf_counter() - started
    producer.close()
    return len(messages), seconds


def consume_touchpoints(workload: Path, workdir: Path, bootstrap: str) -> tuple[int, float]:
    topics = Topics("tp", PARTITIONS)
    ensure_topics(bootstrap, {topics.touchpoints: PARTITIONS, topics.dlq: PARTITIONS})
    producer = make_producer(bootstrap)
    lines = workload.read_bytes().splitlines()
    for line in lines:
        producer.send(topics.touchpoints, value=line, key=line[:60])
    producer.flush()
    producer.close()
    app = open_store(f"sqlite:///{workdir / 'consumed.db'}")
    seen = [0]
    consumer = TouchpointConsumer(app, bootstrap, topics, "bench-tp", views=False)  # as filed
    started = time.perf_counter()
    consumer.run(follow=True, stop=lambda: seen[0] >= len(lines),
                 progress=lambda done: seen.__setitem__(0, done))
    seconds = time.perf_counter() - started
    app.close()
    return seen[0], seconds


def file_ingest(workload: Path, workdir: Path) -> tuple[int, float]:
    app = open_store(f"sqlite:///{workdir / 'filed.db'}")
    started = time.perf_counter()
    with workload.open("rb") as stream:
        summary = Ingestor(app).ingest(LineSource(stream))
    seconds = time.perf_counter() - started
    app.close()
    return summary.read, seconds


def view_worker(workdir: Path, bootstrap: str, total: int) -> tuple[int, float]:
    app = open_store(f"sqlite:///{workdir / 'views.db'}")
    seen = [0]
    worker = ViewWorker(app, bootstrap, Topics("relay", PARTITIONS), "bench-views")
    started = time.perf_counter()
    worker.run(follow=True, stop=lambda: seen[0] >= total,
               progress=lambda done: seen.__setitem__(0, done))
    seconds = time.perf_counter() - started
    app.close()
    return seen[0], seconds


def count_per_key(bootstrap: str, total: int) -> tuple[int, float]:
    """The plain loop: poll, count per key, nothing else (no decoding, no store)."""
    topics = Topics("relay", PARTITIONS)
    consumer = make_consumer(bootstrap, None)
    consumer.assign([TopicPartition(t, p) for t in topics.published for p in range(PARTITIONS)])
    consumer.seek_to_beginning()
    counts: Counter[bytes] = Counter()
    seen = 0
    started = time.perf_counter()
    while seen < total:
        for records in consumer.poll(timeout_ms=500, max_records=5000).values():
            for record in records:
                counts[record.key] += 1
            seen += len(records)
    seconds = time.perf_counter() - started
    consumer.close()
    return seen, seconds


def line(label: str, count: int, seconds: float) -> float:
    rate = count / seconds
    print(f"  {label:<44} {count:>9,} in {seconds:7.2f} s = {rate:>9,.0f}/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="reuse/keep the log in this directory")
    args = parser.parse_args()
    configure_logging("warning", "console")
    with tempfile.TemporaryDirectory() as scratch, EmbeddedBroker() as broker:
        workdir = args.keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        url = build_log(workdir, args.customers)
        for scratch_db in ("consumed.db", "filed.db", "views.db"):  # fresh each run
            for leftover in workdir.glob(scratch_db + "*"):
                leftover.unlink()
        workload = workdir / f"workload-{args.customers}.jsonl"
        bootstrap = broker.bootstrap
        print(f"Kafka benchmark: {args.customers:,} customers, bundled broker at {bootstrap}, "
              f"{PARTITIONS} partitions per topic")
        raw = line("raw producer, same bytes and settings", *raw_producer(url, bootstrap))
        count, seconds = relay(url, bootstrap)
        rel = line("journey publish (relay)", count, seconds)
        print(f"  relay / raw producer: {rel / raw:.2f}x (target >= 0.7x)")
        plain = line("plain count-per-key loop", *count_per_key(bootstrap, count))
        worker = line("journey consume views (one worker)", *view_worker(workdir, bootstrap, count))
        print(f"  view worker / count-per-key loop: {worker / plain:.2f}x")
        filed = line("journey ingest (file)", *file_ingest(workload, workdir))
        consumed = line("journey consume touchpoints",
                        *consume_touchpoints(workload, workdir, bootstrap))
        print(f"  consume touchpoints / file ingest: {consumed / filed:.2f}x")


if __name__ == "__main__":
    main()
