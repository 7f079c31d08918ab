"""What both consumers share: offsets kept with the data, and the poll loop.

The store is the source of truth for how far a consumer got: its offsets commit in the
same transaction as what it wrote. On (re)assignment each partition is sought to the
offset stored there; the group's own Kafka commit follows, for lag tools only.

Two ways to get partitions: the view workers share them in a consumer group
(``consume_group``), which scales out but waits for the group's first join (the broker holds
it for seconds: half the session timeout on the bundled one, Apache Kafka's
``group.initial.rebalance.delay.ms``), so a second consumer of the group, assigned every
partition by hand, reads meanwhile; the touchpoint consumer, one reader per store by
design, holds a store lease and assigns every partition itself (``consume_assigned``), so
it reads at once, and a standby takes over the moment the holder dies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import structlog
from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition
from kafka.errors import CommitFailedError, KafkaError

from journey.infra.kafka.client import KafkaUnavailable
from journey.infra.store import LeaseHeld, OffsetRow
from journey.infra.store.errors import (
    Backoff,
    discard_broken_connections,
    operational_failure,
)

log = structlog.get_logger("journey.consume")

#: How long a consumer may wait for its group to hand out partitions: a rebalance can
#: wait out a departed member's max_poll_interval_ms (60 s by default, infra.kafka).
JOIN_TIMEOUT = 150.0
#: Seconds between a standby's attempts to take the lease (it hears ``stop()`` in between).
STANDBY_POLL = 0.5
#: Seconds between looks, while idle, for partitions added to a topic assigned by hand (at
#: the client's metadata, refreshed every ``metadata_max_age_ms``: 5 minutes by default).
PARTITIONS_CHECK = 30.0


class StoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, seek every partition to the offset stored with the data; with
    ``hold``, pause them instead (``consume_group`` seeks them once its early reader is
    done)."""

    def __init__(self, consumer: Any, load: Callable[[], dict[tuple[str, int], OffsetRow]]
                 ) -> None:
        self.consumer = consumer
        self.load = load
        self.assigned_at: float | None = None
        self.hold = False

    def on_partitions_revoked(self, revoked: Any) -> None:
        log.info("consume.revoked", partitions=_names(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        if self.hold:  # sought when the other consumer is done
            self.consumer.pause(*assigned)
        else:
            seek_stored(self.consumer, assigned, self.load())
        self.assigned_at = time.monotonic()
        log.info("consume.assigned", partitions=_names(assigned))


def seek_stored(consumer: Any, partitions: Any, stored: dict[tuple[str, int], OffsetRow]
                ) -> None:
    """Seek each of ``partitions`` that has an offset in ``stored`` to it (the others start
    at the group's committed offset, else the earliest)."""
    for tp in partitions:
        row = stored.get((tp.topic, tp.partition))
        if row is not None:
            consumer.seek(tp, row.next_offset)


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
                  quiet: Callable[[], object] | None = None,
                  early: tuple[Any, dict[str, int]] | None = None) -> None:
    """Poll ``topics`` in the consumer's group and ``handle`` each batch (it stores the
    batch with its offsets and returns them), until ``stop()``; without ``follow``, also
    once partitions were assigned and nothing came for ``idle`` seconds. ``quiet`` runs
    after each poll that brought nothing (periodic work that must not wait for traffic).

    ``early`` = (a second consumer of the group, never subscribed; every topic's partition
    count): it reads every partition while the group forms, so the first batches are stored
    at once instead of after the join; it is closed when the join hands out partitions,
    which are then sought to the offsets stored by then. A record it reads that a member of
    the group reads too is ``handle``'s to skip (it is stored already: its offset is below
    the stored one)."""
    listener = StoredOffsets(consumer, stored)
    consumer.subscribe(topics, listener=listener)
    if early is not None:
        _read_while_joining(consumer, *early, stored, handle, listener, stop=stop,
                            max_records=max_records)
    _poll_loop(consumer, topics, handle, lambda: listener.assigned_at, follow=follow, idle=idle,
               stop=stop, max_records=max_records, quiet=quiet)


def _read_while_joining(consumer: Any, early: Any, partitions: dict[str, int],
                        stored: Callable[[], dict[tuple[str, int], OffsetRow]],
                        handle: Callable[[dict[Any, list[Any]]], list[OffsetRow]],
                        listener: StoredOffsets, *, stop: Callable[[], bool],
                        max_records: int) -> None:
    """While ``consumer`` (subscribed) joins its group, ``handle`` what ``early`` reads of
    every partition; then seek the partitions the group handed out to the offsets stored by
    then, and give ``consumer`` back.

    The join is driven by a thread of its own, polling ``consumer`` alone (the listener
    pauses what it is handed, so nothing is fetched there): kafka-python 3.0.12 drops a
    join that completes between two polls and starts another, so short polls here,
    between early batches, would never join. Early batches are not committed to Kafka:
    the group is not ours yet (the first batch after the join commits for lag tools)."""
    joined = threading.Event()
    failed: list[BaseException] = []
    listener.hold = True
    deadline = time.monotonic() + JOIN_TIMEOUT

    def join() -> None:
        try:
            while listener.assigned_at is None and not joined.is_set():
                if time.monotonic() > deadline:
                    raise _not_joined(list(partitions))
                consumer.poll(timeout_ms=200, max_records=1)
        except BaseException as exc:  # re-raised by the reading thread
            failed.append(exc)
        finally:
            joined.set()

    joiner = threading.Thread(target=join, name="journey-join", daemon=True)
    handled = 0
    try:
        _assign(early, partitions, stored, set())
        joiner.start()
        while not joined.is_set() and not stop():
            polled = early.poll(timeout_ms=100, max_records=max_records)
            if polled:
                handle(polled)
                handled += sum(len(records) for records in polled.values())
    except KafkaError as exc:
        raise KafkaUnavailable(f"consuming {', '.join(partitions)}: {exc}") from exc
    finally:
        joined.set()
        if joiner.is_alive():
            joiner.join()
        early.close()
    if failed:
        if isinstance(failed[0], KafkaError):
            raise KafkaUnavailable(f"joining group for {', '.join(partitions)}: "
                                   f"{failed[0]}") from failed[0]
        raise failed[0]
    listener.hold = False
    assigned = consumer.assignment()
    seek_stored(consumer, assigned, stored())
    consumer.resume(*assigned)
    log.info("consume.read_while_joining", records=handled)


def consume_assigned(consumer: Any, partitions: dict[str, int],
                     stored: Callable[[], dict[tuple[str, int], OffsetRow]],
                     handle: Callable[[dict[Any, list[Any]]], list[OffsetRow]], *,
                     follow: bool, idle: float, stop: Callable[[], bool], max_records: int,
                     quiet: Callable[[], object] | None = None,
                     grown: Callable[[str, int], object] | None = None) -> None:
    """As ``consume_group``, with every partition of ``partitions`` (topic: count) assigned
    by hand, each sought to the offset stored with the data (else the group's committed
    one, else the earliest): no group join, so the caller must be their only reader (it
    holds a lease). While idle it looks for partitions added since (``grown(topic, count)``
    is told) and reads them too."""
    partitions = dict(partitions)  # grows here, not in the caller's hands
    assigned = _assign(consumer, partitions, stored, set())
    started = checked = time.monotonic()

    def idle_work() -> None:
        nonlocal checked
        if time.monotonic() - checked >= PARTITIONS_CHECK:
            checked = time.monotonic()
            for topic, known in list(partitions.items()):
                count = len(consumer.partitions_for_topic(topic) or ())
                if count > known:
                    partitions[topic] = count
                    if grown is not None:
                        grown(topic, count)
                    assigned.update(_assign(consumer, partitions, stored, assigned))
        if quiet is not None:
            quiet()

    _poll_loop(consumer, list(partitions), handle, lambda: started, follow=follow, idle=idle,
               stop=stop, max_records=max_records, quiet=idle_work)


def _assign(consumer: Any, partitions: dict[str, int],
            stored: Callable[[], dict[tuple[str, int], OffsetRow]],
            already: set[Any]) -> set[Any]:
    """Assign every partition of ``partitions``; seek those not in ``already`` to their
    stored offsets. Returns the partitions sought."""
    every = {TopicPartition(topic, p) for topic, count in partitions.items()
             for p in range(count)}
    consumer.assign(sorted(every))  # kafka-python keeps the positions of those it had
    fresh = every - already
    seek_stored(consumer, fresh, stored())
    log.info("consume.assigned", partitions=_names(fresh))
    return fresh


def _poll_loop(consumer: Any, topics: list[str],
               handle: Callable[[dict[Any, list[Any]]], list[OffsetRow]],
               assigned_at: Callable[[], float | None], *, follow: bool, idle: float,
               stop: Callable[[], bool], max_records: int,
               quiet: Callable[[], object] | None) -> None:
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
            since = assigned_at()
            if quiet is not None and since is not None:
                quiet()
            if follow:
                continue
            if since is None:
                if now > joining_until:
                    raise _not_joined(topics)
            elif now - max(last, since) > idle:
                return
    except KafkaError as exc:
        raise KafkaUnavailable(f"consuming {', '.join(topics)}: {exc}") from exc


def _not_joined(topics: list[str]) -> KafkaUnavailable:
    return KafkaUnavailable(f"no partitions of {', '.join(topics)} were assigned within "
                            f"{JOIN_TIMEOUT:.0f} s")


@contextmanager
def standby_lease(recorder: Any, name: str, *, follow: bool, stop: Callable[[], bool],
                  busy: str) -> Iterator[bool]:
    """Hold the store lease ``name`` for the block; ``True`` once held. Another process
    holding it: without ``follow``, ``LeaseHeld`` with ``busy`` (what is running, what to
    do); with ``follow``, wait as its standby, trying every ``STANDBY_POLL`` s so that
    ``stop()`` is heard (``False``: stopped before the lease was ours)."""
    waiting = False
    while True:
        held = ExitStack()
        try:
            held.enter_context(recorder.lease(name, wait=False))
        except LeaseHeld as exc:
            if not follow:
                raise LeaseHeld(busy) from exc
            if not waiting:
                waiting = True
                log.info("consume.standby", lease=name)
            if stop():
                yield False
                return
            time.sleep(STANDBY_POLL)
            continue
        with held:
            if waiting:
                log.info("consume.lease_taken", lease=name)
            yield True
        return


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
