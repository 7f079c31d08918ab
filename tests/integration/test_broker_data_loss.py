"""The relay notices a broker that lost what it acknowledged (issue 11, hole 9): after the
bundled broker restarts (memory storage: every topic gone) ``journey publish`` stops with
one clear line and exit 65 instead of carrying on into new, empty topics;
``journey publish --from-start`` brings every event back to subscribers."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

from journey.infra.kafka.broker import EmbeddedBroker
from journey.infra.kafka.losses import BrokerDataLost, log_ends
from journey.infra.kafka.relay import Relay
from journey.infra.kafka.topics import Topics
from journey.infra.store import open_store
from journey.infra.workload import WorkloadOptions, write_workload
from tests.kafka_support import consume_all
from tests.support import JOURNEY


def _journey(db: str, *args: str, cwd: Path, prefix: str
             ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JOURNEY_LOG_FORMAT": "json", "JOURNEY_KAFKA_PREFIX": prefix,
           "JOURNEY_KAFKA_PARTITIONS": "3"}
    return subprocess.run([JOURNEY, "--db", db, *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=180)


def _ingested(tmp_path: Path, prefix: str, customers: int = 15) -> str:
    db = f"sqlite:///{tmp_path / 'journey.db'}"
    workload = tmp_path / "w.jsonl"
    with workload.open("w") as out:
        write_workload(WorkloadOptions(customers=customers, seed=5), out)
    result = _journey(db, "ingest", str(workload), "--no-views", cwd=tmp_path, prefix=prefix)
    assert result.returncode == 0, result.stderr
    return db


def _ids(bootstrap: str, topics: Topics, expected: int | None) -> list[int]:
    messages = consume_all(bootstrap, sorted(topics.published), expected=expected, timeout=20)
    return [int(dict(m.headers)["notification_id"]) for m in messages]


def test_publish_after_a_broker_restart_fails_loudly_and_from_start_recovers(
        tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    topics = Topics(prefix, 3)
    db = _ingested(tmp_path, prefix)
    app = open_store(db)
    head = app.journey_recorder.position()
    with EmbeddedBroker() as broker:
        first = _journey(db, "publish", "--bootstrap", broker.bootstrap, "--json",
                         cwd=tmp_path, prefix=prefix)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["published"] == head
        acked = app.journey_recorder.relay_acks("relay")
        assert sum(acked.values()) == head  # every acknowledged message is on record

        broker.restart()  # memory storage: the acknowledged events are gone
        again = _journey(db, "publish", "--bootstrap", broker.bootstrap, cwd=tmp_path,
                         prefix=prefix)
        assert again.returncode == 65, again.stderr
        message = [line for line in again.stderr.splitlines()
                   if line.startswith("journey: error:")]
        assert len(message) == 1, again.stderr
        assert f"lost {head} acknowledged messages" in message[0]
        assert f"in 15 partitions ({prefix}.complaint/0 (acknowledged up to offset" in message[0]
        assert "journey publish --from-start" in message[0]
        assert '"event": "relay.broker_lost_data"' in again.stderr
        assert "internal error" not in again.stderr
        assert set(log_ends(broker.bootstrap, acked).values()) == {0}  # nothing carried on

        recovered = _journey(db, "publish", "--bootstrap", broker.bootstrap, "--from-start",
                             cwd=tmp_path, prefix=prefix)
        assert recovered.returncode == 0, recovered.stderr
        assert sorted(_ids(broker.bootstrap, topics, expected=head)) == list(
            range(1, head + 1))
        checked = _journey(db, "publish", "--bootstrap", broker.bootstrap, cwd=tmp_path,
                           prefix=prefix)  # the new baseline: nothing lost any more
        assert checked.returncode == 0, checked.stderr
    app.close()


def test_a_following_relay_stops_when_the_broker_restarts_while_idle(tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    db = _ingested(tmp_path, prefix, customers=8)
    app = open_store(db)
    head = app.journey_recorder.position()
    with EmbeddedBroker() as broker:
        relay = Relay(app, broker.bootstrap, Topics(prefix, 3), batch_size=200,
                      verify_every=0.5)
        stop = threading.Event()
        result: list[Any] = []

        def run() -> None:
            try:
                result.append(relay.run(follow=True, stop=stop.is_set, interval=0.1))
            except BaseException as exc:  # asserted below
                result.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        try:
            deadline = 120
            while app.journey_recorder.relay_position("relay") < head and deadline:
                thread.join(0.5)
                deadline -= 1
            assert app.journey_recorder.relay_position("relay") == head
            broker.restart()  # no new events: only the idle check can notice
            thread.join(90)
            assert not thread.is_alive(), "the relay carried on after losing its data"
        finally:
            stop.set()
            thread.join(30)
    assert len(result) == 1 and isinstance(result[0], BrokerDataLost), result
    assert result[0].missing == head
    app.close()


def test_a_store_from_before_the_acknowledgement_table_still_publishes(tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    db = _ingested(tmp_path, prefix, customers=5)
    with sqlite3.connect(tmp_path / "journey.db") as conn:
        conn.execute("DROP TABLE journey_relay_acks")  # as a store written by 0.x
    with EmbeddedBroker() as broker:
        result = _journey(db, "publish", "--bootstrap", broker.bootstrap, "--json",
                          cwd=tmp_path, prefix=prefix)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["published"] > 0
