"""A subscriber's view of the topics: what ``journey tail`` prints and ``publish --read-back``
checks. It decodes values with the ``.avsc`` files alone (``schemas.avro_codec``), as any
downstream Avro client would, and reads without a consumer group (nothing committed).

A reader never creates a topic: one the broker does not have is ``TopicMissing``. A topic
that exists but holds nothing is an empty answer (``tail_records`` yields nothing until
something arrives, or until its ``idle`` time has passed).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from kafka import TopicPartition
from kafka.errors import KafkaError

from journey.infra.kafka.client import KafkaUnavailable, TopicMissing, make_consumer
from journey.infra.kafka.codec import EventDecodeError
from journey.schemas.avro_codec import MAGIC, AvroCodecError, decode

#: Stop reading back once nothing arrived for this long after the expected count.
SETTLE = 0.5
#: How long metadata may take to show a topic's partitions before it counts as missing.
METADATA_WAIT = 2.0


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON: {type(value).__name__}")


def describe(record: Any) -> dict[str, Any]:
    """One consumed message as a JSON-ready dict: Avro values decoded, other values as text."""
    value: bytes | None = record.value
    document: dict[str, Any] = {
        "topic": record.topic, "partition": record.partition, "offset": record.offset,
        "key": None if record.key is None else record.key.decode("utf-8", "replace"),
        "headers": {k: v.decode("utf-8", "replace") for k, v in record.headers or []},
    }
    if value is not None and value.startswith(MAGIC):
        document["schema"], document["value"] = _decoded(record)
    else:
        document["value"] = None if value is None else value.decode("utf-8", "replace")
    return document


def _decoded(record: Any) -> tuple[str, dict[str, Any]]:
    """An Avro value decoded from the ``.avsc`` files; a damaged one is our error, named by
    where it sits."""
    try:
        return decode(record.value)
    except AvroCodecError as exc:
        raise EventDecodeError(f"{record.topic} partition {record.partition} offset "
                               f"{record.offset} is not a readable event: {exc}") from exc


def _assigned(bootstrap: str, topics: list[str], from_beginning: bool) -> Any:
    """A consumer (no group) assigned every partition of ``topics``, at their start or end."""
    consumer = make_consumer(bootstrap, None)
    try:
        partitions = [TopicPartition(topic, p) for topic, found in
                      _partitions(consumer, topics, bootstrap).items() for p in sorted(found)]
        consumer.assign(partitions)
        if from_beginning:
            consumer.seek_to_beginning()
        else:
            consumer.seek_to_end()
    except KafkaError as exc:
        consumer.close()
        raise KafkaUnavailable(f"cannot read {', '.join(topics)} on {bootstrap}: {exc}") from exc
    except BaseException:
        consumer.close()
        raise
    return consumer


def _partitions(consumer: Any, topics: list[str], bootstrap: str) -> dict[str, set[int]]:
    """Each topic's partitions; ``TopicMissing`` when the broker does not have one (after
    ``METADATA_WAIT`` seconds, in case it was created a moment ago)."""
    deadline = time.monotonic() + METADATA_WAIT
    while True:
        found = {topic: consumer.partitions_for_topic(topic) or set() for topic in topics}
        missing = sorted(topic for topic, partitions in found.items() if not partitions)
        if not missing:
            return found
        if time.monotonic() >= deadline:
            raise TopicMissing(
                f"no topic {', '.join(missing)} on {bootstrap}; reading never creates one "
                "(journey publish creates the published topics, journey consume touchpoints "
                "the input and its dead letters)")
        time.sleep(0.1)


def tail_records(bootstrap: str, topic: str, *, from_beginning: bool = False,
                 max_messages: int | None = None, idle: float | None = None,
                 stop: Callable[[], bool] = lambda: False) -> Iterator[str]:
    """JSON lines of a topic's messages, until ``max_messages``, ``idle`` seconds of
    silence or ``stop()``."""
    consumer = _assigned(bootstrap, [topic], from_beginning)
    seen, last = 0, time.monotonic()
    try:
        while not stop() and (max_messages is None or seen < max_messages):
            polled = _poll(consumer, topic, bootstrap)
            if not polled:
                if idle is not None and time.monotonic() - last > idle:
                    return
                continue
            last = time.monotonic()
            for records in polled.values():
                for record in records:
                    yield json.dumps(describe(record), default=_json_default,
                                     ensure_ascii=False)
                    seen += 1
                    if max_messages is not None and seen >= max_messages:
                        return
    finally:
        consumer.close()


def _poll(consumer: Any, topic: str, bootstrap: str) -> dict[Any, list[Any]]:
    try:
        polled: dict[Any, list[Any]] = consumer.poll(timeout_ms=200)
    except KafkaError as exc:
        raise KafkaUnavailable(f"reading {topic} on {bootstrap}: {exc}") from exc
    return polled


def read_back(bootstrap: str, topics: list[str], *, expected: int = 0,
              timeout: float = 60.0) -> dict[str, dict[str, Any]]:
    """Read every message of ``topics`` from the beginning: per topic the messages, distinct
    keys, distinct events, and whether each entity's versions came in order per key.

    The broker's end offsets are not to be trusted (see NOTES), so reading stops once
    ``expected`` messages arrived and nothing more came for a moment, or at ``timeout``.
    """
    consumer = _assigned(bootstrap, topics, from_beginning=True)
    found = {topic: _Seen() for topic in topics}
    latest: dict[tuple[bytes | None, str], int] = {}
    total, deadline, last = 0, time.monotonic() + timeout, time.monotonic()
    try:
        while time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=200)
            if not polled:
                if total >= expected and time.monotonic() - last > SETTLE:
                    break
                continue
            last = time.monotonic()
            for records in polled.values():
                for record in records:
                    total += 1
                    _, value = _decoded(record)
                    seen = found[record.topic]
                    seen.messages += 1
                    seen.keys.add(record.key)
                    duplicate = value["event_id"] in seen.events
                    seen.events.add(value["event_id"])
                    entity = (record.key, str(value["originator_id"]))
                    version = value["originator_version"]
                    if version <= latest.get(entity, 0) and not duplicate:
                        seen.in_order = False
                    latest[entity] = max(version, latest.get(entity, 0))
    finally:
        consumer.close()
    return {topic: {"messages": s.messages, "keys": len(s.keys), "events": len(s.events),
                    "in_order": s.in_order} for topic, s in found.items()}


@dataclass
class _Seen:
    messages: int = 0
    keys: set[bytes | None] = field(default_factory=set)
    events: set[Any] = field(default_factory=set)
    in_order: bool = True
