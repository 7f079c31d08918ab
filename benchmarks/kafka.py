"""Kafka benchmark on the bundled broker: each row next to its floor, measured in the same run.

- the relay (log -> Avro topics, position stored per acknowledged batch) next to a raw
  kafka-python producer sending the same bytes with the same settings to the same broker
  (target: >= 0.8x);
- the view worker (``journey consume views``, one worker) next to a plain count-per-key loop
  over the same topics with kafka-python's consumer as shipped (target: >= 0.5x);
- ``journey consume touchpoints`` (no views, as filed) next to ``journey ingest`` of the same
  lines from a file (no views) (target: >= 0.9x).

Every row runs in a process of its own (spawned, so none inherits another's memory); its
peak RSS is that process's and its children's (the relay encodes in a child process),
sampled from ``/proc``, and its CPU seconds are shown (a shared machine's wall clock says
less). A row's rate counts its whole run, start included: for the view worker its group's join
(the bundled broker holds a first join for half the session timeout, 3 s here; Apache
Kafka's ``group.initial.rebalance.delay.ms`` is 3 s too), during which it reads every
partition with a second consumer; for the relay its encoder's start. The steady rate, after
the first stored batch, is shown beside it.

Each consumer row runs ``--repeat`` times (3), alternating with its floor; the fastest of
each counts.

    python -m benchmarks.kafka [--customers 10000] [--keep DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from benchmarks.measure import parallel_scaling, tree_memory_kib
from benchmarks.views import build_log
from journey.consumers.touchpoints import TouchpointConsumer
from journey.consumers.views import ViewWorker
from journey.infra.ingest import Ingestor, LineSource
from journey.infra.kafka.broker import EmbeddedBroker
from journey.infra.kafka.client import CONSUMER_DEFAULTS, ensure_topics, make_producer
from journey.infra.kafka.codec import EventEncoder
from journey.infra.kafka.relay import Relay
from journey.infra.kafka.topics import Topics
from journey.infra.logs import configure_logging
from journey.infra.store import open_store

PARTITIONS = 6


@dataclass
class Run:
    """What one row measured: ``count`` items in ``seconds``; ``first`` = (items, seconds)
    at the first stored batch, for a consumer or the relay."""

    count: int
    seconds: float
    first: tuple[int, float] | None = None
    peak_rss_mb: float = 0.0
    cpu: float = 0.0  # CPU seconds of the row's process and its children, set-up included
    #                  (the raw producer's encoding too): a noisy machine's wall clock says less

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def rate_after_first(self) -> float | None:
        if self.first is None or self.count <= self.first[0]:
            return None
        return (self.count - self.first[0]) / (self.seconds - self.first[1])


# --- the rows, each run in a process of its own (see ``measured``) ------------------------------


def relay(url: str, bootstrap: str) -> Run:
    app = open_store(url)
    # A relay name of its own: a kept log remembers what an earlier run's broker acknowledged.
    name = f"bench-{time.time_ns()}"
    topics = Topics("relay", PARTITIONS)
    ensure_topics(bootstrap, topics.published)
    first: list[tuple[int, float]] = []
    started = time.perf_counter()

    def progress(done: int, _head: int) -> None:
        if done and not first:
            first.append((done, time.perf_counter() - started))

    summary = Relay(app, bootstrap, topics, name=name).run(progress=progress)
    seconds = time.perf_counter() - started
    app.close()
    return Run(summary.published, seconds, first[0] if first else None)


def raw_producer(url: str, bootstrap: str) -> Run:
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
    return Run(len(messages), seconds)


def count_per_key(bootstrap: str, total: int) -> Run:
    """The plain loop: poll, count per key, nothing else (no decoding, no store), with
    kafka-python's consumer as shipped (``make_consumer``'s settings, not its faster
    unpacking of fetched batches)."""
    topics = Topics("relay", PARTITIONS)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, **CONSUMER_DEFAULTS)
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
    return Run(seen, seconds)


def view_worker(db: Path, bootstrap: str, total: int) -> Run:
    app = open_store(f"sqlite:///{db}")
    # A group of its own each time: a group's Kafka commit would start a fresh database there.
    worker = ViewWorker(app, bootstrap, Topics("relay", PARTITIONS), f"bench-{db.stem}")
    run = _consume(worker.run, total)
    app.close()
    return run


def file_ingest(workload: Path, db: Path) -> Run:
    app = open_store(f"sqlite:///{db}")
    started = time.perf_counter()
    with workload.open("rb") as stream:
        summary = Ingestor(app).ingest(LineSource(stream))
    seconds = time.perf_counter() - started
    app.close()
    return Run(summary.read, seconds)


def consume_touchpoints(db: Path, bootstrap: str, total: int) -> Run:
    app = open_store(f"sqlite:///{db}")
    consumer = TouchpointConsumer(app, bootstrap, Topics("tp", PARTITIONS), f"bench-{db.stem}",
                                  views=False)  # as `journey ingest` above: no views
    run = _consume(consumer.run, total)
    app.close()
    return run


def _consume(run: Callable[..., Any], total: int) -> Run:
    seen = [0]
    first: list[tuple[int, float]] = []
    started = time.perf_counter()

    def progress(done: int) -> None:
        seen[0] = done
        if not first:
            first.append((done, time.perf_counter() - started))

    run(follow=True, stop=lambda: seen[0] >= total, progress=progress)
    return Run(seen[0], time.perf_counter() - started, first[0] if first else None)


def produce_touchpoints(workload: Path, bootstrap: str) -> int:
    """The workload's lines on the input topic, laid out as the engine creates it (one
    partition: the lines are decided in file order, as ``journey ingest`` decides them)."""
    topics = Topics("tp", PARTITIONS)
    ensure_topics(bootstrap, topics.inbound)
    producer = make_producer(bootstrap)
    lines = workload.read_bytes().splitlines()
    for line in lines:
        producer.send(topics.touchpoints, value=line)
    producer.flush()
    producer.close()
    return len(lines)


# --- measuring -----------------------------------------------------------------------------------


def fastest(attempts: int, floor: Callable[[int], Run], row: Callable[[int], Run]
            ) -> tuple[Run, Run]:
    """The fastest of ``attempts`` runs of a floor and of its row, run in turn (floor, row,
    floor, row, ...) so that a drift in the machine's speed weighs on both alike; each is
    told the attempt's number (a fresh database and consumer group each time)."""
    floors, rows = [], []
    for attempt in range(max(1, attempts)):
        floors.append(floor(attempt))
        rows.append(row(attempt))
    return min(floors, key=_seconds), min(rows, key=_seconds)


def _seconds(run: Run) -> float:
    return run.seconds


def _row(target: Callable[..., Run], args: tuple[Any, ...], out: Any) -> None:
    configure_logging("warning", "console")
    before = _cpu()
    run = target(*args)
    run.cpu = _cpu() - before
    out.send(run)


def _cpu() -> float:
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measured(target: Callable[..., Run], *args: Any) -> Run:
    """``target(*args)`` in a spawned process, with the peak RSS of it and its children."""
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(target=_row, args=(target, args, sending))
    process.start()
    sending.close()
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree_rss_mb(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    run: Run = receiving.recv()
    peak[0] = max(peak[0], _tree_rss_mb(process.pid))
    done.set()
    sampler.join()
    process.join()
    run.peak_rss_mb = peak[0]
    return run


def _tree_rss_mb(root: int) -> float:
    """The larger of the RSS summed over ``root`` and its descendants and the largest peak
    (VmHWM) among them, MB."""
    rss, hwm = tree_memory_kib(root)
    return max(rss, hwm) / 1024


def show(label: str, run: Run, floor: Run | None = None, target: float | None = None,
         attempts: int = 1) -> None:
    text = (f"  {label:<38} {run.count:>9,} in {run.seconds:6.2f} s = {run.rate:>7,.0f}/s"
            f"  cpu {run.cpu:5.1f} s  peak RSS {run.peak_rss_mb:4.0f} MB")
    if floor is not None:
        text += (f"  {run.rate / floor.rate:.2f}x floor (target >= {target}x); by CPU per "
                 f"item {floor.cpu / floor.count / (run.cpu / run.count):.2f}x")
    print(text, flush=True)
    if floor is not None and attempts > 1:
        print(f"  {'':<38} best of {attempts}, each run alternating with its floor's",
              flush=True)
    after = run.rate_after_first
    if floor is not None and after is not None and run.first is not None:
        print(f"  {'':<38} steady, after its first batch ({run.first[1]:.1f} s in, start "
              f"included): {after:,.0f}/s = {after / floor.rate:.2f}x floor", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="reuse/keep the log in this directory")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each consumer row and of its floor, alternating (the "
                             "fastest of each counts: a shared machine's speed drifts)")
    args = parser.parse_args()
    configure_logging("warning", "console")
    with tempfile.TemporaryDirectory() as scratch, EmbeddedBroker() as broker:
        workdir = args.keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        url = build_log(workdir, args.customers)
        for scratch_db in ("consumed*.db", "filed*.db", "views*.db"):  # fresh each run
            for leftover in workdir.glob(scratch_db + "*"):
                leftover.unlink()
        workload = workdir / f"workload-{args.customers}.jsonl"
        bootstrap = broker.bootstrap
        print(f"Kafka benchmark: {args.customers:,} customers, bundled broker at {bootstrap}, "
              f"{PARTITIONS} partitions per published topic, 1 on the input topic")
        print(f"this machine: two CPU-bound processes do {parallel_scaling():.2f}x the work of "
              "one (2.00x: two free cores); the broker runs beside every row", flush=True)
        raw = measured(raw_producer, url, bootstrap)
        show("floor: raw producer, same bytes", raw)
        published = measured(relay, url, bootstrap)
        show("journey publish (relay)", published, raw, 0.8)
        n = args.repeat
        plain, views = fastest(n, lambda _: measured(count_per_key, bootstrap, published.count),
                               lambda i: measured(view_worker, workdir / f"views-{i}.db",
                                                  bootstrap, published.count))
        show("floor: plain count-per-key loop", plain)
        show("journey consume views (one worker)", views, plain, 0.5, n)
        lines = produce_touchpoints(workload, bootstrap)
        filed, consumed = fastest(
            n, lambda i: measured(file_ingest, workload, workdir / f"filed-{i}.db"),
            lambda i: measured(consume_touchpoints, workdir / f"consumed-{i}.db", bootstrap,
                               lines))
        show("floor: journey ingest (file)", filed)
        show("journey consume touchpoints", consumed, filed, 0.9, n)


if __name__ == "__main__":
    main()
