"""Touchpoints from Kafka: the same decisions as ``journey ingest``, fed by the input topic.

Each polled batch is decided by the file ingest's ``Ingestor``. Its events, rejects and
the consumer's next offsets commit in **one store transaction**; at its start the
consumer seeks to the offsets stored there, so a restart neither loses nor re-applies a
message (see ``consumers.group``).

One consumer per group and store reads, holding the store lease of the group: the
touchpoints are decided one after the other anyway (arrival order), so a second reader
could only wait for the store's writer lock. It assigns the topic's partitions itself
instead of joining a Kafka consumer group, and so reads at once: a group's first join
waits seconds (3 s on the bundled broker, Apache Kafka's
``group.initial.rebalance.delay.ms`` by default), as long as 3 s of 25 s of work measured
on ~195k touchpoints. A second consumer of the group with ``follow`` is a standby: it
takes over the moment the lease holder stops or dies (the OS or the database server
drops the lease); without ``follow`` it refuses to start. The group's name still owns
the stored offsets, and the Kafka commit under it, for lag tools.

Rejects also go to
the dead-letter topic with the original bytes untouched and ``reason``/``detail`` headers;
they are sent and acknowledged *before* the store transaction, so a crash in between can
send a dead letter twice (its ``source_*`` headers identify it) but never lose one.

Touchpoints are decided in arrival order, and Kafka orders messages only within a partition:
the input topic is created with one partition (``Topics.inbound``). One that producers created
with more is read as it is, with a warning (``PARTITIONED``), since its partitions interleave
in an order of their own.

With ``retry_every`` (``journey consume touchpoints --retry-every SECONDS``) the consumer also
re-decides the open ``unknown_entity`` rejects (contract 4.9, ``Ingestor.retry_rejects``):
after a polled batch once ``retry_every`` seconds have passed since the last retry, and once
more before a run without ``follow`` ends. So a touchpoint that overtook the one creating its
entity (another partition, another producer) is accepted once that one is there, without the
sender sending it again. The retry is one more writer of the store: its batches take the
writer lock and check the log position like the consumer's own. A retry is skipped when the
log has not grown since the previous one (the same state decides the same). Retried lines
are not sent to the dead-letter topic again: the topic keeps what was refused on arrival;
``journey rejects`` shows what is still open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from journey.consumers.group import consume_assigned, standby_lease, with_reconnects
from journey.infra.collector import bulk_work
from journey.infra.failpoints import failpoint
from journey.infra.ingest import Ingestor, IngestSummary, RetrySummary, kafka_provenance
from journey.infra.kafka.client import (
    KafkaUnavailable,
    close_producer,
    ensure_topics,
    make_consumer,
    make_producer,
)
from journey.infra.kafka.topics import Topics
from journey.infra.store import JourneyApplication, OffsetRow, RejectRow
from journey.infra.store.errors import Backoff
from journey.infra.views.projector import Projector, ViewFailed

log = structlog.get_logger("journey.consume")

#: What reading a multi-partition input topic means, for the warning.
PARTITIONED = (
    "Kafka keeps arrival order only within a partition, so touchpoints are decided in an order "
    "that interleaves the partitions, not the order they were sent in, and one that overtakes "
    "what it depends on is rejected (unknown_entity, invalid_transition, insufficient_stock ...). "
    "Give the topic 1 partition; else key each message by customer_id (part.* by part_id) "
    "and expect rejects that a later arrival would have let through"
)


class TouchpointConsumer:
    """Reads contract-JSON touchpoints from ``<prefix>.touchpoints``, the one reader of
    ``group`` into this store (its lease)."""

    def __init__(self, app: JourneyApplication, bootstrap: str, topics: Topics, group: str,
                 *, batch_size: int = 2000, cache_size: int = 50_000,
                 consumer_options: dict[str, Any] | None = None, views: bool = True,
                 warn: Callable[[str], object] | None = None,
                 retry_every: float | None = None) -> None:
        self.app = app
        # As after `journey ingest`, the views reflect each batch once it is stored
        # (their own exactly-once transactions; a crash in between is caught up later).
        self.projector = Projector(app) if views else None
        self.bootstrap = bootstrap
        self.topics = topics
        self.group = group
        self.name = f"touchpoints:{group}"  # the offsets' owner in the store
        #: Held while reading: one reader per group and store.
        self.lease = app.journey_recorder.lease_name("touchpoints", group)
        self.batch_size = batch_size
        self.ingestor = Ingestor(app, batch_size, cache_size)
        self.consumer_options = consumer_options or {}
        #: Told (besides the log) when the input topic has more than one partition.
        self.warn = warn
        self.partitions: int | None = None  # of the input topic, as last found
        #: Seconds between retries of the open unknown_entity rejects (None: no retries).
        self.retry_every = retry_every
        #: What the retries re-decided, all together (contract 5's counts).
        self.retried = RetrySummary()
        self._last_retry = time.monotonic()
        self._retried_at: int | None = None  # the log position after the last retry

    @bulk_work()  # a long run of short-lived objects: the collector rarely
    def run(self, *, follow: bool = False, idle: float = 3.0,
            stop: Callable[[], bool] = lambda: False,
            progress: Callable[[int], None] | None = None) -> IngestSummary:
        """Consume until ``stop()``; without ``follow``, also once nothing came for ``idle`` s.
        Following, a database or broker outage is waited out (``with_reconnects``)."""
        summary = IngestSummary()
        with_reconnects(lambda backoff: self._run_once(summary, backoff, follow=follow,
                                                       idle=idle, stop=stop, progress=progress),
                        follow=follow, stop=stop, what=self.name,
                        datastore=self.app.journey_recorder.datastore)
        log.info("consume.touchpoints.done", group=self.group, **summary.as_json())
        return summary

    def _run_once(self, summary: IngestSummary, backoff: Backoff, *, follow: bool, idle: float,
                  stop: Callable[[], bool], progress: Callable[[int], None] | None) -> None:
        topic = self.topics.touchpoints
        found = ensure_topics(self.bootstrap, self.topics.inbound, any_count=self.topics.inbound)
        self._check_partitions(found[topic])
        recorder = self.app.journey_recorder
        busy = (f"another journey consume touchpoints of group {self.group} is reading into "
                "this store; run this one with --follow to wait as its standby")
        with standby_lease(recorder, self.lease, follow=follow, stop=stop, busy=busy) as held:
            if not held:
                return
            consumer = make_consumer(self.bootstrap, self.group, **self.consumer_options)
            producer = make_producer(self.bootstrap)

            def handle(polled: dict[Any, list[Any]]) -> list[OffsetRow]:
                accepted = summary.accepted
                offsets = self._decide(polled, producer, summary)
                if summary.accepted > accepted:
                    self._catch_up()
                self.retry(due=True)
                backoff.reset()
                if progress:
                    progress(summary.read)
                return offsets

            try:
                consume_assigned(consumer, {topic: found[topic]},
                                 lambda: recorder.offsets(self.name), handle, follow=follow,
                                 idle=idle, stop=stop, max_records=self.batch_size,
                                 quiet=lambda: self.retry(due=True),
                                 grown=lambda _, count: self._check_partitions(count))
            finally:
                consumer.close()
                close_producer(producer)
            if not follow:
                self.retry(due=False)  # once more before the run ends

    def retry(self, *, due: bool) -> RetrySummary | None:
        """Re-decide the open ``unknown_entity`` rejects, if ``retry_every`` is set and
        (``due``) that many seconds have passed since the last retry, and the log grew
        since; ``None`` when it did not run."""
        if self.retry_every is None:
            return None
        now = time.monotonic()
        if due and now - self._last_retry < self.retry_every:
            return None
        self._last_retry = now
        recorder = self.app.journey_recorder
        if recorder.position() == self._retried_at:
            return None  # nothing was accepted since: the rejects would be decided the same
        done = self.ingestor.retry_rejects(["unknown_entity"])
        self._retried_at = recorder.position()
        if done.accepted:
            self._catch_up()
        self.retried.add(done)
        log.info("consume.touchpoints.retried", group=self.group, **done.as_json())
        return done

    def _catch_up(self) -> None:
        """The views brought up to the log, as after `journey ingest`."""
        if self.projector is None:
            return
        try:
            self.projector.catch_up()
        except ViewFailed as exc:  # stored with its offsets: the log goes on
            log.error("views.failed", position=exc.position, error=str(exc.cause))

    def _check_partitions(self, partitions: int) -> None:
        """Warn (once per count found) when the input topic has more than one partition."""
        if partitions == self.partitions:
            return
        self.partitions = partitions
        if partitions > 1:
            log.warning("consume.touchpoints.partitioned", topic=self.topics.touchpoints,
                        partitions=partitions, consequence=PARTITIONED)
            if self.warn is not None:
                self.warn(f"topic {self.topics.touchpoints} has {partitions} partitions: "
                          f"{PARTITIONED}")

    def _decide(self, polled: dict[Any, list[Any]], producer: Any, summary: IngestSummary
                ) -> list[OffsetRow]:
        records = [record for batch in polled.values() for record in batch]
        offsets = [OffsetRow(tp.topic, tp.partition, batch[-1].offset + 1)
                   for tp, batch in polled.items()]

        def dead_letters(rejects: list[tuple[int, RejectRow]]) -> None:
            futures = [producer.send(self.topics.dlq, key=records[i].key,
                                     value=records[i].value,
                                     headers=_dlq_headers(records[i], reject))
                       for i, reject in rejects]
            if futures:
                producer.flush(timeout=30)  # acknowledged before the store commit
                for future in futures:
                    if future.failed():
                        raise KafkaUnavailable(f"dead-letter topic {self.topics.dlq}: "
                                               f"{future.exception}")

        summary.add(self.ingestor.ingest_batch(
            [record.value or b"" for record in records],
            offsets=(self.name, offsets), before_save=dead_letters,
            sources=[kafka_provenance(r.topic, r.partition, r.offset) for r in records],
        ))
        failpoint("consume.after_store")  # stored with its offsets, Kafka not yet told
        return offsets


def _dlq_headers(record: Any, reject: RejectRow) -> list[tuple[str, bytes]]:
    """The original headers, then why it was refused and where it came from."""
    return [
        *(record.headers or []),
        *([("touchpoint_id", reject.touchpoint_id.encode("utf-8", "replace"))]
          if reject.touchpoint_id else []),
        ("reason", reject.reason.encode()),
        ("detail", reject.detail.encode("utf-8", "replace")),
        ("source_topic", record.topic.encode()),
        ("source_partition", str(record.partition).encode()),
        ("source_offset", str(record.offset).encode()),
    ]
