"""The Kafka commands as a user runs them: publish (bundled broker and a given one), tail."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.e2e.conftest import Journey
from tests.support import line, order, tp

KINDS = ("complaint", "invoice", "part", "purchase", "repair")


def small_log(journey: Journey, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    journey.run("generate", "--customers", "25", "--seed", "4", "-o", str(source))
    journey.json("ingest", str(source))


def test_publish_on_the_bundled_broker_reads_everything_back(journey: Journey,
                                                             tmp_path: Path) -> None:
    small_log(journey, tmp_path)
    env = {"JOURNEY_KAFKA_BOOTSTRAP": ""}
    first = json.loads(journey.run("publish", "--read-back", "--json", env=env).stdout)
    assert first["published"] == first["position"] > 0
    assert set(first["topics"]) == {f"journey.{k}" for k in KINDS}
    for topic, seen in first["read_back"].items():
        assert seen == {"messages": first["topics"][topic], "keys": seen["keys"],
                        "events": first["topics"][topic], "in_order": True}
    # The bundled broker forgets everything when the command ends, so each run
    # publishes the whole log again (a configured broker resumes where it was).
    second = json.loads(journey.run("publish", "--json", env=env).stdout)
    assert second["published"] == first["published"]


def test_publish_then_tail_a_configured_broker(journey: Journey, tmp_path: Path,
                                               kafka_bootstrap: str) -> None:
    journey.json("ingest", "-", stdin=line(tp("purchase.ordered", **order("O1"))) + b"\n")
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
    journey.json("ingest", "-", stdin=line(tp("purchase.ordered", **order("O1"))) + b"\n")
    result = journey.run("publish", "--bootstrap", "127.0.0.1:1", check=False)
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    assert result.stderr.decode().strip().splitlines()[-1].startswith("journey: error:")
