"""The Kafka commands as a user runs them: publish (bundled broker and a given one), tail."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from pathlib import Path

from journey.infra.kafka.client import close_producer, ensure_topics, make_producer
from tests.support import Journey, line, order

KINDS = ("complaint", "invoice", "part", "purchase", "repair")


def small_log(journey: Journey, tmp_path: Path) -> Path:
    source = tmp_path / "in.jsonl"
    journey.run("generate", "--customers", "25", "--seed", "4", "-o", str(source))
    journey.json("ingest", str(source))
    return source


def expected_keys(journey: Journey, source: Path) -> dict[str, set[str]]:
    """Per topic, the message keys its events must carry, from the ingested file itself.

    The accepted lines (and their exact duplicates) are the file's lines less the rejected ones
    (``journey rejects --all`` gives each raw line). An event is keyed by the touchpoint's customer,
    a part movement by ``part_id@location`` (a transfer touches ``to_location`` as well).
    """
    kept = Counter(raw for raw in source.read_bytes().split(b"\n") if raw.strip())
    rejected = Counter(r["raw"].encode() for r in journey.json("rejects", "--all")["rejects"])
    assert not rejected - kept, "every rejected line is a line of the file"
    keys: dict[str, set[str]] = defaultdict(set)
    for raw in (kept - rejected):
        obj = json.loads(raw)
        kind = obj["type"].split(".")[0]
        if kind == "part":
            keys[f"journey.{kind}"].update(
                f"{obj['part_id']}@{obj[where]}" for where in ("location", "to_location")
                if where in obj)
        else:
            keys[f"journey.{kind}"].add(obj["customer_id"])
    return keys


def test_publish_on_the_bundled_broker_reads_everything_back(journey: Journey,
                                                             tmp_path: Path) -> None:
    source = small_log(journey, tmp_path)
    keys = expected_keys(journey, source)
    env = {"JOURNEY_KAFKA_BOOTSTRAP": ""}

    first = json.loads(journey.run("publish", "--read-back", "--json", env=env).stdout)

    assert first["published"] == first["position"] > 0
    assert {f"journey.{k}" for k in KINDS} == set(first["topics"]) == set(keys)
    expected = {topic: {"messages": count, "keys": len(keys[topic]), "events": count,
                        "in_order": True} for topic, count in first["topics"].items()}
    assert expected == first["read_back"]
    # The bundled broker forgets everything when the command ends, so each run
    # publishes the whole log again (a configured broker resumes where it was).
    second = json.loads(journey.run("publish", "--json", env=env).stdout)
    assert second["published"] == first["published"]


def test_publish_then_tail_a_configured_broker(journey: Journey, tmp_path: Path,
                                               kafka_bootstrap: str) -> None:
    assert journey.json("ingest", "-", stdin=line(order("O1")) + b"\n")["accepted"] == 1
    prefix = f"t{uuid.uuid4().hex[:10]}"
    env = {"JOURNEY_KAFKA_PREFIX": prefix, "JOURNEY_KAFKA_PARTITIONS": "2"}
    run = ("publish", "--bootstrap", kafka_bootstrap, "--json")
    assert json.loads(journey.run(*run, env=env).stdout)["published"] == 1
    assert json.loads(journey.run(*run, env=env).stdout)["published"] == 0  # resumes
    out = journey.run("tail", "purchase", "--bootstrap", kafka_bootstrap, "--from-beginning",
                      "--max-messages", "1", env=env).stdout
    message = json.loads(out)
    assert message["topic"] == f"{prefix}.purchase"
    assert message["schema"] == "journey.events.OrderPlaced"
    assert message["value"]["order_id"] == "O1"
    assert message["value"]["originator_version"] == 1
    assert message["headers"]["event_type"] == "journey.events.OrderPlaced"
    assert message["key"] == message["value"]["customer_id"]


def test_a_bad_bootstrap_is_one_clear_error(journey: Journey) -> None:
    assert journey.json("ingest", "-", stdin=line(order("O1")) + b"\n")["accepted"] == 1
    result = journey.run("publish", "--bootstrap", "127.0.0.1:1", check=False)
    assert result.returncode == 75  # the broker is unreachable: try again later
    assert b"Traceback" not in result.stderr
    assert result.stderr.decode().strip().splitlines()[-1].startswith("journey: error:")


def test_tail_on_a_damaged_message_is_one_clear_error_naming_where_it_sits(
        journey: Journey, kafka_bootstrap: str) -> None:
    topic = f"t{uuid.uuid4().hex[:10]}.purchase"
    ensure_topics(kafka_bootstrap, {topic: 1})
    producer = make_producer(kafka_bootstrap)
    try:  # the single-object marker, then bytes no schema fingerprint matches
        producer.send(topic, value=b"\xc3\x01" + b"\x00" * 8 + b"garbage").get(timeout=30)
    finally:
        close_producer(producer)

    result = journey.run("tail", topic, "--bootstrap", kafka_bootstrap, "--from-beginning",
                         "--max-messages", "1", "--idle", "20", check=False)

    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    last = result.stderr.decode().strip().splitlines()[-1]
    assert last.startswith(f"journey: error: {topic} partition 0 offset 0 is not a readable")


def test_tail_of_a_missing_topic_is_one_clear_error(journey: Journey,
                                                   kafka_bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    result = journey.run("tail", "purchase", "--bootstrap", kafka_bootstrap, "--idle", "1",
                         env={"JOURNEY_KAFKA_PREFIX": prefix}, check=False)

    assert result.returncode == 1
    assert result.stdout == b""
    assert b"Traceback" not in result.stderr
    assert result.stderr.decode().strip().splitlines()[-1] == (
        f"journey: error: no topic {prefix}.purchase on {kafka_bootstrap}; reading never "
        "creates one (journey publish creates the published topics, journey consume "
        "touchpoints the input and its dead letters)")


def test_tail_without_a_broker_says_to_give_one(journey: Journey) -> None:
    result = journey.run("tail", "purchase", "--idle", "1",
                         env={"JOURNEY_KAFKA_BOOTSTRAP": ""}, check=False)

    assert result.returncode == 2
    assert b"Traceback" not in result.stderr
    assert result.stderr.decode().strip().splitlines()[-1].startswith(
        "journey: error: --bootstrap: tail reads a running broker; give --bootstrap HOST:PORT "
        "or set JOURNEY_KAFKA_BOOTSTRAP")


def test_tail_of_a_topic_without_messages_answers_nothing(journey: Journey,
                                                         kafka_bootstrap: str) -> None:
    topic = f"t{uuid.uuid4().hex[:10]}.purchase"
    ensure_topics(kafka_bootstrap, {topic: 2})

    result = journey.run("tail", topic, "--bootstrap", kafka_bootstrap, "--from-beginning",
                         "--idle", "1")

    assert (result.returncode, result.stdout) == (0, b"")


def test_consume_touchpoints_warns_once_about_a_partitioned_input(
        journey: Journey, kafka_bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, {f"{prefix}.touchpoints": 3})  # a producer made it so
    producer = make_producer(kafka_bootstrap)
    try:
        producer.send(f"{prefix}.touchpoints", value=line(order("O1"))).get(timeout=30)
    finally:
        close_producer(producer)

    result = journey.run("consume", "touchpoints", "--bootstrap", kafka_bootstrap,
                         "--group", f"g-{prefix}", "--idle", "1", "--json",
                         env={"JOURNEY_KAFKA_PREFIX": prefix})

    assert json.loads(result.stdout)["accepted"] == 1
    stderr = result.stderr.decode().splitlines()
    human = [text for text in stderr if text.startswith("journey: warning:")]
    assert human == [
        f"journey: warning: topic {prefix}.touchpoints has 3 partitions: Kafka keeps arrival "
        "order only within a partition, so touchpoints are decided in an order that "
        "interleaves the partitions, not the order they were sent in, and one that overtakes "
        "what it depends on is rejected (unknown_entity, invalid_transition, "
        "insufficient_stock ...). Give the topic 1 partition; else key each message by "
        "customer_id (part.* by part_id) and expect rejects that a later arrival would have let "
        "through"]
    logged = [json.loads(text) for text in stderr if text.startswith("{")]
    assert [(e["level"], e["partitions"]) for e in logged
            if e["event"] == "consume.touchpoints.partitioned"] == [("warning", 3)]
