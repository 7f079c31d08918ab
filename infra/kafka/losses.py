"""Noticing that the broker lost what it acknowledged.

The relay stores its position only after the broker acknowledged a batch, and with it, per
topic and partition, the offset after the last acknowledged message (``journey_relay_acks``).
Offsets in a partition only grow, so a broker whose log for that partition now ends
before that offset has lost acknowledged messages: a memory-only broker (the bundled one)
restarted, a topic was deleted and created again, or another cluster answers at the
address. Subscribers that had not read them would never get them, so the relay stops and
says so (``BrokerDataLost``) instead of carrying on into the new, empty topics.

Recovery: ``journey publish --from-start`` publishes the whole log again. Subscribers
skip what they already have: every message carries its ``event_id`` and
``notification_id`` (headers and value), and the view workers skip a partition's
notification ids at or below the highest they applied.

The log's end is read from a fetch's high watermark: the bundled broker answers
``ListOffsets`` with the last batch's base offset + 1 (see NOTES), a lower bound only.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import structlog
from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import KafkaError

from journey.domain.errors import JourneyError
from journey.infra.kafka.client import KafkaUnavailable, make_consumer

log = structlog.get_logger("journey.relay")

_UNKNOWN_TOPIC = 3
#: How many partitions the one-line message names before it says "and N more".
_NAMED = 6


class BrokerDataLost(JourneyError):
    """The broker no longer has messages it acknowledged to the relay."""

    def __init__(self, bootstrap: str, lost: Mapping[tuple[str, int], tuple[int, int]],
                 *, at_least: bool = False) -> None:
        self.bootstrap = bootstrap
        self.lost = dict(lost)  # (topic, partition) -> (acknowledged end, log end now)
        self.missing = sum(acked - end for acked, end in self.lost.values())
        named = sorted(self.lost.items())
        parts = ", ".join(f"{topic}/{partition} (acknowledged up to offset {acked - 1}, the "
                          f"log now ends at {end})"
                          for (topic, partition), (acked, end) in named[:_NAMED])
        more = f" and {len(named) - _NAMED} more partitions" if len(named) > _NAMED else ""
        super().__init__(
            f"the Kafka broker at {bootstrap} lost {'at least ' if at_least else ''}"
            f"{self.missing} acknowledged messages in {len(named)} partitions "
            f"({parts}{more}): it was restarted without its data, or the topics were "
            "recreated; subscribers that had not read them will never get them. Run "
            "`journey publish --from-start` to publish the whole log again (subscribers "
            "skip what they have by event_id / notification_id)"
        )


def check_acknowledged(bootstrap: str, acked: Mapping[tuple[str, int], int],
                       timeout: float = 15.0) -> None:
    """Raise ``BrokerDataLost`` if any partition's log now ends before what was
    acknowledged; ``KafkaUnavailable`` if the broker cannot be asked."""
    if not acked:
        return
    ends = log_ends(bootstrap, acked, timeout)
    lost = {tp: (end, ends[tp]) for tp, end in acked.items() if ends[tp] < end}
    if lost:
        error = BrokerDataLost(bootstrap, lost)
        log.error("relay.broker_lost_data", bootstrap=bootstrap, missing=error.missing,
                  partitions={f"{t}/{p}": {"acknowledged_end": a, "log_end": e}
                              for (t, p), (a, e) in sorted(lost.items())})
        raise error
    log.debug("relay.broker_checked", partitions=len(acked))


def log_ends(bootstrap: str, partitions: Iterable[tuple[str, int]], timeout: float = 15.0
             ) -> dict[tuple[str, int], int]:
    """The offset after the last message of each (topic, partition); 0 for a topic or
    partition the broker does not have."""
    wanted = sorted(set(partitions))
    present = _existing(bootstrap, {topic for topic, _ in wanted}, timeout)
    ends = {tp: 0 for tp in wanted if tp not in present}
    tps = [TopicPartition(t, p) for t, p in wanted if (t, p) in present]
    if not tps:
        return ends
    deadline = time.monotonic() + timeout
    consumer = make_consumer(bootstrap, None, max_partition_fetch_bytes=64 * 1024,
                             fetch_max_wait_ms=100)
    try:
        lower = consumer.end_offsets(tps)  # exact on Kafka; a lower bound on the bundled one
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, max(0, lower[tp] - 1))  # inside the log: the fetch says its end
        while any(consumer.highwater(tp) is None for tp in tps):
            if time.monotonic() > deadline:
                unknown = [f"{tp.topic}/{tp.partition}" for tp in tps
                           if consumer.highwater(tp) is None]
                raise KafkaUnavailable(f"cannot read the log ends of {', '.join(unknown)} "
                                       f"on {bootstrap} in time")
            consumer.poll(timeout_ms=200)
        for tp in tps:
            ends[(tp.topic, tp.partition)] = max(int(consumer.highwater(tp) or 0), lower[tp])
    except KafkaError as exc:
        raise KafkaUnavailable(f"cannot read the log ends on {bootstrap}: {exc}") from exc
    finally:
        consumer.close()
    return ends


def _existing(bootstrap: str, topics: set[str], timeout: float) -> set[tuple[str, int]]:
    """The (topic, partition)s the broker has, from its metadata (never auto-created)."""
    timeout_ms = max(int(timeout * 1000), 1000)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="journey-relay-check",
                                 bootstrap_timeout_ms=timeout_ms,
                                 request_timeout_ms=timeout_ms, reconnect_backoff_max_ms=1000)
    except KafkaError as exc:
        raise KafkaUnavailable(f"no Kafka broker answers at {bootstrap}: {exc}") from exc
    try:
        described = admin.describe_topics(sorted(topics))
    except KafkaError as exc:
        raise KafkaUnavailable(f"cannot read topic metadata on {bootstrap}: {exc}") from exc
    finally:
        admin.close()
    present: set[tuple[str, int]] = set()
    for topic in described:
        code = topic.get("error_code", 0)
        if code == _UNKNOWN_TOPIC:
            continue
        if code != 0:
            raise KafkaUnavailable(f"cannot describe topic {topic['name']!r} on {bootstrap}: "
                                   f"error {code}")
        present |= {(topic["name"], p["partition_index"]) for p in topic["partitions"] or []}
    return present
