"""Kafka clients configured once for the engine, topic creation, and where the broker comes from.

Settings here trade a little latency for throughput (batches of up to 256 KiB lingering
10 ms) and keep every timeout short enough that a dead broker is noticed within about
15 seconds instead of the library's minutes.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from journey.domain.errors import JourneyError
from journey.infra.kafka.broker import EmbeddedBroker
from journey.infra.kafka.records import lean_fetch

log = structlog.get_logger(__name__)

_TOPIC_ALREADY_EXISTS = 36

#: Shared by every client: find a broker (again) quickly after it comes back. The library's
#: 30 s backoff ceiling would leave a client idle long after a restarted broker listens again.
_CONNECTION: dict[str, Any] = {
    "bootstrap_timeout_ms": 10_000,
    "reconnect_backoff_ms": 50,
    "reconnect_backoff_max_ms": 1_000,
}

PRODUCER_DEFAULTS: dict[str, Any] = {
    **_CONNECTION,
    "acks": "all",
    "enable_idempotence": True,  # the 3.x default, stated so an override is a visible choice
    # Idempotence keeps per-partition order with up to 5 requests in flight.
    "max_in_flight_requests_per_connection": 5,
    "linger_ms": 10,
    "batch_size": 256 * 1024,
    "request_timeout_ms": 10_000,
    # An upper bound on send() to success or failure; must be >= request_timeout + linger.
    "delivery_timeout_ms": 15_000,
    # send() blocks this long at most for metadata or buffer space.
    "max_block_ms": 10_000,
    # A missing topic is an error, not a topic with the broker's default partition count
    # (see _apply_auto_create: the library itself drops this setting).
    "allow_auto_create_topics": False,
}

CONSUMER_DEFAULTS: dict[str, Any] = {
    **_CONNECTION,
    "enable_auto_commit": False,  # we commit after the work is durable, never before
    "auto_offset_reset": "earliest",
    # Short session: a dead member is noticed quickly, and the bundled broker's first group
    # join waits about half of it.
    "session_timeout_ms": 6_000,
    "heartbeat_interval_ms": 1_000,
    # Time allowed between polls (one batch of work) before the member is thrown out. One
    # minute leaves room for a slow database; it also bounds how long a rebalance waits.
    "max_poll_interval_ms": 60_000,
    "request_timeout_ms": 15_000,
    "allow_auto_create_topics": False,
}


class KafkaUnavailable(JourneyError):
    """No Kafka broker answers at the configured bootstrap servers, or it refused the request."""


class TopicMismatch(JourneyError):
    """A topic exists with another partition count than the engine needs (keys would move)."""


class TopicMissing(JourneyError):
    """A topic a reader was pointed at does not exist on the broker (readers never create one)."""


def make_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """An idempotent ``acks='all'`` producer of raw bytes (no serializers)."""
    config = {**PRODUCER_DEFAULTS, **overrides}
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, **config)
    except KafkaError as exc:
        raise KafkaUnavailable(f"no Kafka broker answers at {bootstrap}: {exc}") from exc
    _apply_auto_create(producer, "_metadata", config)
    return producer


def close_producer(producer: KafkaProducer, timeout: float = 5.0) -> None:
    """Close a producer even when it is stuck, dropping whatever it could not deliver.

    kafka-python 3.0.12: once the broker dies mid-send, an idempotent producer can stop
    expiring its batches (it waits for a new producer id first), so their futures never
    resolve, ``flush()`` blocks for ever and ``close(timeout)`` raises ``KafkaTimeoutError``
    with the I/O thread still running. Then we force the I/O thread down, which fails the
    pending futures, and close again.
    """
    try:
        producer.close(timeout=timeout)
        return
    except KafkaError as exc:
        log.warning("kafka.producer_force_close", error=str(exc))
    sender = getattr(producer, "_sender", None)  # private, but the only way out of the stall
    if sender is not None:
        sender.force_close()
        sender.join(timeout)
    try:
        producer.close(timeout=timeout)
    except KafkaError as exc:
        raise KafkaUnavailable(f"the Kafka producer did not close: {exc}") from exc


def make_consumer(bootstrap: str, group_id: str | None, *, headers: bool = True,
                  **overrides: Any) -> KafkaConsumer:
    """A consumer of raw bytes that commits only when told; ``group_id=None`` to assign by hand.
    It unpacks fetched batches with ``infra.kafka.records`` (the same records, sooner;
    ``headers=False``: without their headers, for a reader that has no use for them)."""
    config = {**CONSUMER_DEFAULTS, **overrides}
    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, **config)
    except KafkaError as exc:
        raise KafkaUnavailable(f"no Kafka broker answers at {bootstrap}: {exc}") from exc
    _apply_auto_create(consumer, "_cluster", config)
    lean_fetch(consumer, headers)
    return consumer


def _apply_auto_create(client: object, cluster_attribute: str, config: Mapping[str, Any]) -> None:
    """Make ``allow_auto_create_topics`` take effect.

    kafka-python 3.0.12 never passes the setting on to its cluster metadata, so every metadata
    request asks the broker to create missing topics; the bundled broker then creates them
    with 4 partitions (measured: a producer's first send, a consumer's subscribe). With the
    flag in place a send to a missing topic fails after ``max_block_ms`` instead.
    """
    cluster_config = getattr(getattr(client, cluster_attribute, None), "config", None)
    if isinstance(cluster_config, dict) and "allow_auto_create_topics" in cluster_config:
        cluster_config["allow_auto_create_topics"] = config["allow_auto_create_topics"]


def ensure_topics(bootstrap: str, topics: Mapping[str, int], timeout: float = 30.0, *,
                  any_count: Collection[str] = ()) -> dict[str, int]:
    """Create each topic with its partition count (replication 1) unless it exists, then wait
    until metadata shows every partition with a leader; return each topic's partition count.

    Call it before any client touches the topics, and again after the bundled broker restarts
    (memory storage: its topics are gone). A topic the broker auto-created first has 4
    partitions and fails here with ``TopicMismatch``, unless it is named in ``any_count``:
    such a topic (the input, which producers may have created themselves) keeps whatever
    count it has, and the caller decides what that means.
    """
    if not topics:
        return {}
    deadline = time.monotonic() + timeout
    timeout_ms = max(int(timeout * 1000), 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="journey-admin",
            **{**_CONNECTION, "bootstrap_timeout_ms": timeout_ms, "request_timeout_ms": timeout_ms},
        )
    except KafkaError as exc:
        raise KafkaUnavailable(f"no Kafka broker answers at {bootstrap}: {exc}") from exc
    try:
        existed = _create_topics(admin, topics, bootstrap)
        counts = _await_topics(admin, topics, existed, deadline, set(any_count))
    finally:
        admin.close()
    log.debug("kafka.topics_ready", topics=counts, already_existed=sorted(existed))
    return counts


def _create_topics(admin: KafkaAdminClient, topics: Mapping[str, int], bootstrap: str) -> set[str]:
    """Create the topics; return the names that already existed."""
    request = {name: {"num_partitions": n, "replication_factor": 1} for name, n in topics.items()}
    try:
        response = admin.create_topics(request, raise_errors=False)
    except KafkaError as exc:
        raise KafkaUnavailable(f"cannot create topics on {bootstrap}: {exc}") from exc
    existed: set[str] = set()
    for topic in response["topics"]:
        code = topic["error_code"]
        if code == _TOPIC_ALREADY_EXISTS:
            existed.add(topic["name"])
        elif code != 0:
            raise KafkaUnavailable(
                f"cannot create topic {topic['name']!r} on {bootstrap}: error {code} "
                f"{topic.get('error_message') or ''}".rstrip()
            )
    return existed


def _await_topics(
    admin: KafkaAdminClient, topics: Mapping[str, int], existed: set[str], deadline: float,
    any_count: set[str],
) -> dict[str, int]:
    """Poll metadata until every topic has its partitions, each with a leader; return the
    counts."""
    while True:
        try:
            described = {t["name"]: t for t in admin.describe_topics(list(topics))}
        except KafkaError as exc:
            raise KafkaUnavailable(f"cannot read topic metadata: {exc}") from exc
        pending, counts = {}, {}
        for name, wanted in topics.items():
            partitions = counts[name] = _ready_partitions(described.get(name))
            if partitions == wanted or (partitions and name in existed and name in any_count):
                continue
            if name in existed and partitions:
                raise TopicMismatch(
                    f"topic {name!r} exists with {partitions} partitions, {wanted} are needed; "
                    "delete it or use another topic name (changing the count moves keys)"
                )
            pending[name] = partitions
        if not pending:
            return counts
        if time.monotonic() >= deadline:
            raise KafkaUnavailable(f"topics not ready in time (ready partitions): {pending}")
        time.sleep(0.05)


def _ready_partitions(topic: Mapping[str, Any] | None) -> int:
    """How many partitions metadata shows for the topic, 0 until all have a leader."""
    if topic is None or topic.get("error_code", 0) != 0:
        return 0
    partitions = topic.get("partitions") or []
    if any(p.get("error_code", 0) != 0 or p.get("leader_id", -1) < 0 for p in partitions):
        return 0
    return len(partitions)


@contextmanager
def kafka_bootstrap(configured: str | None) -> Iterator[str]:
    """Yield the configured bootstrap servers, or start the bundled broker for the duration."""
    if configured:
        yield configured
        return
    with EmbeddedBroker() as broker:
        log.info("broker.embedded", bootstrap=broker.bootstrap, pid=broker.pid)
        yield broker.bootstrap
