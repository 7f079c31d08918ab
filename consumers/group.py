"""What both consumers share: offsets kept with the data, and the poll loop.

The store is the source of truth for how far a consumer got: its offsets commit in the
same transaction as what it wrote. On (re)assignment each partition is sought to the
offset stored there; the group's own Kafka commit follows, for lag tools only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition
from kafka.errors import CommitFailedError, KafkaError

from journey.infra.kafka.client import KafkaUnavailable
from journey.infra.store import OffsetRow
from journey.infra.store.errors import (
    Backoff,
    discard_broken_connections,
    operational_failure,
)

log = structlog.get_logger("journey.consume")

#: How long a consumer may wait for its group to hand out partitions: a rebalance can
#: wait out a departed member's max_poll_interval_ms (60 s by default, infra.kafka).
JOIN_TIMEOUT = 150.0


class StoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, seek every partition to the offset stored with the data."""

    def __init__(self, consumer: Any, load: Callable[[], dict[tuple[str, int], OffsetRow]]
                 ) -> None:
        self.consumer = consumer
        self.load = load
        self.assigned_at: float | None = None

    def on_partitions_revoked(self, revoked: Any) -> None:
        log.info("consume.revoked", partitions=_names(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        stored = self.load()
        for tp in assigned:
            row = stored.get((tp.topic, tp.partition))
            if row is not None:
                self.consumer.seek(tp, row.next_offset)
        self.assigned_at = time.monotonic()
        log.info("consume.assigned", partitions=_names(assigned))


def _names(partitions: Any) -> list[str]:
    return sorted(f"{tp.topic}/{tp.partition}" for tp in partitions)


def commit_quietly(consumer: Any, offsets: list[OffsetRow]) -> None:
    """Tell the group how far we are (for lag tools); the store holds the truth."""
    try:
        consumer.commit({TopicPartition(o.topic, o.partition): OffsetAndMetadata(
            o.next_offset, "", -1) for o in offsets})
    except (CommitFailedError, KafkaError) as exc:
        log.info("consume.commit_skipped", error=str(exc))


def consume_group(consumer: Any, topics: list[str],
                  stored: Callable[[], dict[tuple[str, int], OffsetRow]],
                  handle: Callable[[dict[Any, list[Any]]], list[OffsetRow]], *,
                  follow: bool, idle: float, stop: Callable[[], bool], max_records: int,
                  quiet: Callable[[], object] | None = None) -> None:
    """Poll ``topics`` in the consumer's group and ``handle`` each batch (it stores the
    batch with its offsets and returns them), until ``stop()``; without ``follow``, also
    once partitions were assigned and nothing came for ``idle`` seconds. ``quiet`` runs
    after each poll that brought nothing (periodic work that must not wait for traffic)."""
    listener = StoredOffsets(consumer, stored)
    consumer.subscribe(topics, listener=listener)
    joining_until = time.monotonic() + JOIN_TIMEOUT
    last = 0.0
    try:
        while not stop():
            polled = consumer.poll(timeout_ms=500, max_records=max_records)
            now = time.monotonic()
            if polled:
                commit_quietly(consumer, handle(polled))
                last = now
                continue
            if quiet is not None and listener.assigned_at is not None:
                quiet()
            if follow:
                continue
            if listener.assigned_at is None:
                if now > joining_until:
                    raise KafkaUnavailable(f"no partitions of {', '.join(topics)} were "
                                           f"assigned within {JOIN_TIMEOUT:.0f} s")
            elif now - max(last, listener.assigned_at) > idle:
                return
    except KafkaError as exc:
        raise KafkaUnavailable(f"consuming {', '.join(topics)}: {exc}") from exc


def with_reconnects(run_once: Callable[[Backoff], None], *, follow: bool,
                    stop: Callable[[], bool], what: str, datastore: object = None) -> None:
    """Run a consumer; following, when the database or the broker goes away, close,
    wait (``Backoff``: 0.5 s doubling to 30 s, each attempt logged) and run it again.

    Nothing is lost or applied twice: each batch commits with its offsets in the store
    and a restarted consumer seeks to them. ``run_once`` calls ``backoff.reset()`` after
    each batch it stored.
    """
    backoff = Backoff()
    while True:
        try:
            run_once(backoff)
            return
        except Exception as exc:
            failure = operational_failure(exc)
            if failure is None and isinstance(exc, KafkaUnavailable):
                failure = ("broker", str(exc))
            delay = backoff.next_wait() if follow and failure is not None else None
            if failure is None or delay is None:
                raise
            log.warning("consume.reconnecting", consumer=what, attempt=backoff.attempt,
                        wait=delay, failure=failure[0], error=failure[1])
            Backoff.sleep(delay, stop)
            if stop():
                return
            discard_broken_connections(datastore)
