"""`journey consume touchpoints --retry-every`: a delivery that overtook its order on the feed is
accepted once the order is there, without the sender sending it again (real bundled broker,
both stores)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from journey.consumers.touchpoints import TouchpointConsumer
from journey.infra.store import open_store
from tests.integration.test_consumers import FAST_GROUP, input_topics, produce
from tests.kafka_support import consume_all
from tests.support import JOURNEY, Journey, line, order, tp

DELIVERED = line(tp("purchase.delivered", at="2026-03-02T10:00:00Z", order_id="O1",
                    touchpoint_id="tp-delivered"))
RETURNED = line(tp("purchase.returned", at="2026-03-03T10:00:00Z", order_id="O1",
                   lines=[{"sku": "S1", "qty": 1}], reason="r", touchpoint_id="tp-returned"))
PLACED = line(order("O1", touchpoint_id="tp-placed"))
GHOST = line(tp("purchase.delivered", order_id="O-none", touchpoint_id="tp-ghost"))


def test_the_consumer_retries_unknown_entity_rejects_and_the_feed_converges(
        store_url: str, kafka_bootstrap: str) -> None:
    topics = input_topics(kafka_bootstrap)
    produce(kafka_bootstrap, topics.touchpoints, [DELIVERED, GHOST, b"not json"])
    app = open_store(store_url)
    try:
        consumer = TouchpointConsumer(app, kafka_bootstrap, topics, "g-" + topics.prefix,
                                      batch_size=2, consumer_options=FAST_GROUP,
                                      retry_every=0.001)
        first = consumer.run(idle=1.5)
        assert (first.accepted, first.rejected) == (0, 3)
        assert consumer.retried.accepted == 0  # nothing to gain yet
        produce(kafka_bootstrap, topics.touchpoints, [PLACED, RETURNED])
        again = TouchpointConsumer(app, kafka_bootstrap, topics, "g-" + topics.prefix,
                                   batch_size=2, consumer_options=FAST_GROUP,
                                   retry_every=0.001)
        second = again.run(idle=1.5)

        assert (second.read, second.accepted) == (2, 1)  # the return overtook its delivery
        # Retried after the batch (and on empty polls, as many times as they came): the
        # delivery is accepted once, the ghost rejected again each time.
        retried = again.retried.as_json()
        assert (retried["accepted"], retried["duplicates"]) == (1, 0)
        assert retried["rejected_by_reason"] == {"unknown_entity": retried["rejected"]}
        assert retried["read"] == retried["accepted"] + retried["rejected"] >= 2
        recorder = app.journey_recorder
        assert [(r.touchpoint_id, r.reason) for r in recorder.open_rejects()] == [
            (None, "invalid_json"), ("tp-returned", "invalid_transition"),
            ("tp-ghost", "unknown_entity")]  # only unknown_entity is retried periodically
        assert recorder.counts()["touchpoints"] == 2
        # The dead-letter topic keeps what was refused on arrival, nothing more.
        dead = consume_all(kafka_bootstrap, [topics.dlq], expected=4, timeout=20)
        assert sorted(m.value for m in dead) == sorted([DELIVERED, GHOST, b"not json",
                                                        RETURNED])
        assert consume_all(kafka_bootstrap, [topics.dlq], expected=None, timeout=2) == dead
    finally:
        app.close()


def test_consume_touchpoints_retry_every_from_the_command_line(
        store_url: str, kafka_bootstrap: str, tmp_path: Path) -> None:
    topics = input_topics(kafka_bootstrap)
    produce(kafka_bootstrap, topics.touchpoints, [DELIVERED, PLACED])
    env = {**os.environ, "JOURNEY_KAFKA_PREFIX": topics.prefix,
           "JOURNEY_KAFKA_PARTITIONS": "1", "JOURNEY_LOG_LEVEL": "warning"}
    consume = [JOURNEY, "--db", store_url, "--json", "consume", "touchpoints", "--bootstrap",
               kafka_bootstrap, "--group", "g-" + topics.prefix, "--idle", "1.5"]

    result = subprocess.run([*consume, "--retry-every", "30"], env=env, capture_output=True,
                            timeout=120, check=True)

    document = json.loads(result.stdout)
    assert (document["read"], document["accepted"], document["rejected"]) == (2, 1, 1)
    assert document["retried"] == {"read": 1, "accepted": 1, "duplicates": 0, "rejected": 0,
                                   "rejected_by_reason": {}}
    journey = Journey(store_url, tmp_path)
    assert journey.json("rejects") == {"rejects": []}
    assert [r["source"] for r in journey.json("rejects", "--all")["rejects"]] == [
        f"kafka:{topics.touchpoints}/0@0"]
    assert [e["touchpoint_id"] for e in journey.json("timeline", "C1")["entries"]] == [
        "tp-placed", "tp-delivered"]
    without = subprocess.run(consume, env=env, capture_output=True, timeout=120, check=True)
    assert "retried" not in json.loads(without.stdout)
