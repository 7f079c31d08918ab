"""The relay: the event store is the outbox, every stored event goes to its kind's topic.

It reads the notification log in order from its stored position and publishes each
event (Avro single-object value, key, headers; see ``journey.infra.kafka.codec``). Only when the
broker has acknowledged a whole batch does it store that batch's end as its position, so a
crash at any point re-sends at most the batches in flight: duplicates, never a gap. Two
batches are in flight at most: the next one is encoded and sent while the broker
acknowledges the previous one, so the producer never sits idle waiting for acks. One relay per
store holds the ``relay`` lease, so events leave in log order and per-key order holds.
When the broker fails, the producer is closed (kafka-python's idempotent producer can be
left in a fatal state after a broker restart), the topics are ensured again (an in-memory
broker forgets them) and a fresh producer resumes from the stored position, after checking
that the broker still has everything it acknowledged (``infra.kafka.losses``: a broker that
restarted without its data stops the relay with ``BrokerDataLost`` instead of letting it
carry on into new, empty topics). Following, a broker or database outage is waited for
with capped exponential backoff (``infra.store.errors.Backoff``), each attempt logged.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

import structlog
from kafka.errors import KafkaError
from kafka.partitioner.default import murmur2

from journey.domain.errors import JourneyError
from journey.infra.failpoints import failpoint
from journey.infra.kafka.client import (
    KafkaUnavailable,
    close_producer,
    ensure_topics,
    make_producer,
)
from journey.infra.kafka.codec import EventEncoder
from journey.infra.kafka.losses import BrokerDataLost, check_acknowledged
from journey.infra.kafka.topics import Topics
from journey.infra.store import JourneyApplication, LogEntry, StoreError, store_url
from journey.infra.store.errors import (
    OPERATIONAL_KINDS,
    Backoff,
    discard_broken_connections,
    operational_failure,
)
from journey.infra.views.feed import LogFeed

log = structlog.get_logger("journey.relay")

#: An encoder process that lived this long (seconds) before dying starts the count of deaths
#: in a row afresh, as one that delivered a batch does; four in a row stop the relay.
FEED_HEALTHY = 60.0


@dataclass
class RelaySummary:
    published: int = 0
    position: int = 0
    batches: int = 0
    reconnects: int = 0
    topics: Counter[str] = field(default_factory=Counter)
    resumed_from: list[int] = field(default_factory=list)  # the position at each reconnect

    def as_json(self) -> dict[str, Any]:
        return {"published": self.published, "position": self.position,
                "batches": self.batches, "reconnects": self.reconnects,
                "resumed_from": self.resumed_from,
                "topics": dict(sorted(self.topics.items()))}


@dataclass
class _InFlight:
    last: int  # notification id of the batch's last event
    futures: list[Any]
    topics: Counter[str]


class Relay:
    """Publishes the log to Kafka, at least once, in order, from a stored position."""

    def __init__(self, app: JourneyApplication, bootstrap: str, topics: Topics, *,
                 name: str = "relay", batch_size: int = 5000, give_up_after: float = 60.0,
                 flush_timeout: float = 30.0, verify_every: float = 30.0,
                 connect_timeout: float = 10.0,
                 producer_factory: Callable[..., Any] = make_producer) -> None:
        self.app = app
        self.recorder = app.journey_recorder
        self.bootstrap = bootstrap
        self.topics = topics
        self.name = name
        self.batch_size = batch_size
        # One-shot runs retry a broker that failed mid-run for this long (one that never
        # answered fails at once); --follow retries until JOURNEY_MAX_OUTAGE (Backoff).
        self.give_up_after = give_up_after
        self.flush_timeout = flush_timeout
        self.connect_timeout = connect_timeout  # a broker that answers not within it is down
        self.producer_factory = producer_factory
        self.follow, self.interval = False, 0.5
        self.feed: LogFeed | None = None
        self.producer: Any = None
        self.in_flight: deque[_InFlight] = deque()  # at most two batches
        #: Per (topic, partition): the offset after the last acknowledged message.
        self.acked: dict[tuple[str, int], int] = {}
        #: Following and idle: how often to check that the broker still has all of it.
        self.verify_every = verify_every
        self.verified_at = time.monotonic()
        self.backoff = Backoff()
        self.feed_deaths = 0
        self.feed_started = 0.0  # monotonic time the current encoder process started
        self._reset_first = False
        self._stop: Callable[[], bool] = lambda: False

    def run(self, *, follow: bool = False, stop: Callable[[], bool] = lambda: False,
            progress: Callable[[int, int], None] | None = None,
            interval: float = 0.5, from_start: bool = False) -> RelaySummary:
        """Publish until the log is drained (``follow``: until ``stop()``); hold the lease.

        A one-shot run refuses to start beside an active relay; ``follow`` waits as a
        standby until the active one stops or dies. ``from_start`` publishes the whole log
        again (a new cluster, or a broker that forgot everything).

        Before its first send and after every reconnection (and, following, every
        ``verify_every`` seconds while idle) the relay checks that the broker still has
        what it acknowledged; if not it raises ``BrokerDataLost``. With ``follow`` a
        database or broker that goes away is waited for (``Backoff``, each attempt logged):
        the lease is taken again and publishing resumes from the stored position.
        """
        summary = RelaySummary()
        self.follow, self.interval, self._stop = follow, interval, stop
        self.backoff = Backoff() if follow else Backoff(give_up_after=self.give_up_after)
        self._reset_first = from_start
        while not stop():
            try:
                self._run_leased(summary, stop, progress)
                break
            except Exception as exc:
                self._close()
                failure = operational_failure(exc)
                if failure is None or not follow:
                    raise
                delay = self.backoff.next_wait()
                if delay is None:
                    raise StoreError(
                        f"{OPERATIONAL_KINDS[failure[0]]} ({store_url(self.app.env)}): "
                        f"{failure[1]}; the relay gave up after {self.backoff.outage:.0f} s; "
                        f"published up to log position {summary.position}") from exc
                log.warning("relay.reconnecting", attempt=self.backoff.attempt, wait=delay,
                            failure=failure[0], error=failure[1], resume_from=summary.position)
                Backoff.sleep(delay, stop)
                discard_broken_connections(self.recorder.datastore)
        log.info("relay.stopped", **summary.as_json())
        return summary

    def _run_leased(self, summary: RelaySummary, stop: Callable[[], bool],
                    progress: Callable[[int, int], None] | None) -> None:
        with self.recorder.lease(self.name, wait=self.follow):
            if self._reset_first:
                self.recorder.reset_relay(self.name)
                self._reset_first = False
            summary.position = self.recorder.relay_position(self.name)
            self.acked = self.recorder.relay_acks(self.name)
            log.info("relay.started", position=summary.position, follow=self.follow,
                     bootstrap=self.bootstrap)
            try:
                while not stop():
                    try:
                        self._verify_when_idle()
                        drained = self._step(summary)
                    except (KafkaError, KafkaUnavailable) as exc:
                        self._broker_failed(exc, summary)
                        continue
                    except _FeedDied as exc:
                        self._feed_died(exc)
                        continue
                    if self.backoff.attempt:
                        log.info("relay.reconnected", attempts=self.backoff.attempt,
                                 outage_seconds=round(self.backoff.outage, 1))
                        self.backoff.reset()
                    if progress:
                        progress(summary.published, self.recorder.position())
                    if drained:
                        break
            finally:
                self._close()

    def _step(self, summary: RelaySummary) -> bool:
        """Send the next encoded batch while the broker acknowledges the previous one, then
        store the position of the oldest batch once all of its messages are acknowledged.
        True when a one-shot run has sent and confirmed everything."""
        if self.backoff.attempt:  # reconnecting: no encoder process until the broker answers
            self._producer()
        feed = self._feed(summary.position)  # else first: its start overlaps the producer's
        producer = self._producer()
        try:
            item = feed.receive(wait=0 if self.in_flight else self.interval)
        except JourneyError as exc:
            feed.process.join(5)
            if feed.process.exitcode:  # an uncaught error (the database went away?)
                raise _FeedDied(str(exc)) from exc
            raise
        if isinstance(item, EncodedBatch):
            self.feed_deaths = 0  # only deaths in a row, with no batch between, are fatal
            self.in_flight.append(self._send(producer, item))
            failpoint("relay.after_send")
        if self.in_flight and (len(self.in_flight) > 1 or not isinstance(item, EncodedBatch)):
            oldest = self.in_flight[0]
            deadline = time.monotonic() + self.flush_timeout
            acked: dict[tuple[str, int], int] = {}
            first: dict[tuple[str, int], int] = {}
            for future in oldest.futures:  # KafkaTimeoutError: the broker is gone
                md = future.get(timeout=max(0.0, deadline - time.monotonic()))
                tp = (md.topic, md.partition)
                if md.offset >= acked.get(tp, 0):
                    acked[tp] = md.offset + 1
                first.setdefault(tp, md.offset)
            self._check_offsets_grow(first)
            failpoint("relay.after_flush")  # acknowledged, position not yet stored
            self.recorder.save_relay_position(self.name, oldest.last, acked)
            self.acked.update(acked)
            self.in_flight.popleft()
            summary.position = oldest.last
            summary.published += len(oldest.futures)
            summary.batches += 1
            summary.topics.update(oldest.topics)
        return feed.drained and not self.in_flight

    def _check_offsets_grow(self, first: dict[tuple[str, int], int]) -> None:
        """A partition's offsets only grow: a batch acknowledged below what was acknowledged
        before went into a log that lost the earlier messages (and was refilled since)."""
        lost = {tp: (self.acked[tp], offset) for tp, offset in first.items()
                if offset < self.acked.get(tp, 0)}
        if lost:
            error = BrokerDataLost(self.bootstrap, lost, at_least=True)
            log.error("relay.broker_lost_data", bootstrap=self.bootstrap, missing=error.missing,
                      partitions=sorted(f"{t}/{p}" for t, p in lost))
            raise error

    def _verify_when_idle(self) -> None:
        """Following with nothing in flight: check the broker every ``verify_every`` s, so
        a restart is reported even while no new events come."""
        if (self.follow and not self.in_flight and self.producer is not None
                and time.monotonic() - self.verified_at > self.verify_every):
            self._verify()

    def _verify(self) -> None:
        check_acknowledged(self.bootstrap, self.acked)
        self.verified_at = time.monotonic()

    def _send(self, producer: Any, batch: EncodedBatch) -> _InFlight:
        send, topic_of = producer.send, self.topics.of
        futures = []
        topics: Counter[str] = Counter()
        for kind, key, value, headers, partition in batch.messages:
            topic = topic_of(kind)
            futures.append(send(topic, value=value, key=key, headers=headers,
                                partition=partition))
            topics[topic] += 1
        return _InFlight(batch.last, futures, topics)

    def _feed(self, position: int) -> LogFeed:
        """Reading and encoding (JSON decode, Avro encode, headers) cost about as much CPU
        per event as kafka-python's ``send``: a process of their own, a batch ahead."""
        if self.feed is None:
            self.feed = LogFeed("relay's encoder", dict(self.app.env), position,
                                self.batch_size,
                                partial(BatchEncoder, partitions=self.topics.partitions),
                                follow=self.follow)
            self.feed_started = time.monotonic()
        return self.feed

    def _producer(self) -> Any:
        if self.producer is None:
            # Has the broker still got what it acknowledged? Then (re)create the topics (an
            # in-memory broker forgets them) and a producer. A broker that does not answer
            # within the clients' bootstrap time is down: fail (one-shot) or back off and
            # retry (--follow) rather than wait longer.
            self._verify()
            ensure_topics(self.bootstrap, self.topics.published, timeout=self.connect_timeout)
            self.producer = self.producer_factory(self.bootstrap)
        return self.producer

    def _broker_failed(self, exc: Exception, summary: RelaySummary) -> None:
        self.in_flight.clear()  # unacknowledged: sent again from the stored position
        self._close()  # the encoder too: a fresh one starts from the stored position
        summary.reconnects += 1
        summary.resumed_from.append(summary.position)
        delay = self.backoff.next_wait()
        if not self.follow and summary.batches == 0:
            delay = None  # never reached it: say so at once
        if delay is None:
            raise KafkaUnavailable(
                f"publishing to {self.bootstrap} failed: {exc}; published up to log "
                f"position {summary.position}, a re-run resumes there") from exc
        log.warning("relay.reconnecting", attempt=self.backoff.attempt, wait=delay,
                    failure="broker", error=f"{type(exc).__name__}: {exc}",
                    resume_from=summary.position)
        Backoff.sleep(delay, self._stop)

    def _feed_died(self, exc: _FeedDied) -> None:
        """The encoder process died of an uncaught error: if the store does not answer
        either, that is the outage to wait for; else it is retried a few times."""
        self.in_flight.clear()
        lived = time.monotonic() - self.feed_started
        self._close()
        self.recorder.position()  # raises if the database is gone: run() waits for it
        if lived > FEED_HEALTHY:  # it worked for a while: not a death in a row
            self.feed_deaths = 0
        self.feed_deaths += 1
        delay = self.backoff.next_wait() if self.feed_deaths <= 3 else None
        if delay is None:
            raise JourneyError(str(exc)) from exc
        log.warning("relay.reconnecting", attempt=self.backoff.attempt, wait=delay,
                    failure="encoder", error=str(exc))
        Backoff.sleep(delay, self._stop)

    def _close(self) -> None:
        if self.feed is not None:
            self.feed.stop()
            self.feed = None
        if self.producer is not None:
            producer, self.producer = self.producer, None
            try:
                close_producer(producer)  # forces a stalled one down (see infra.kafka.client)
            except KafkaUnavailable as exc:
                log.warning("relay.close_failed", error=str(exc))


class _FeedDied(Exception):
    """The encoder process ended on an uncaught error (not one of ours)."""


# --- the encoder process ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    last: int  # notification id of the batch's last event
    #: kind, key, value, headers, partition
    messages: list[tuple[str, bytes, bytes, list[tuple[str, bytes]], int]]


class BatchEncoder:
    """What the relay's feed process makes of each batch: the Avro messages, each with the
    partition Kafka's default partitioner (murmur2 of the key) gives it, picked here once
    per key: kafka-python's pure-Python murmur2 would otherwise cost the producer process
    ~7 % of its time.
    """

    def __init__(self, app: JourneyApplication, partitions: int) -> None:
        self.encode = EventEncoder(app).encode
        self.partitions = partitions

    def __call__(self, batch: list[LogEntry]) -> EncodedBatch:
        messages = []
        for entry in batch:
            out = self.encode(entry)
            messages.append((out.kind, out.key, out.value, out.headers,
                             partition_of(out.key, self.partitions)))
        return EncodedBatch(batch[-1].id, messages)


@lru_cache(maxsize=1 << 16)
def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (Java client compatible)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions
