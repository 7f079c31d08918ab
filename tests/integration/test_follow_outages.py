"""Followers ride out a database outage (issue 11, hole 8): ``journey project --follow`` and
``journey publish --follow`` talk to PostgreSQL through a TCP proxy that the test cuts for
5 s while another process ingests; they log each reconnection attempt, do not exit, and
end exactly where a clean catch-up ends (nothing applied twice, nothing skipped)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from journey.infra.kafka.broker import EmbeddedBroker
from journey.infra.kafka.topics import Topics
from journey.infra.store import open_store
from journey.infra.views.projector import Projector
from journey.infra.workload import WorkloadOptions, write_workload
from tests.conftest import POSTGRES, _drop_schema, _postgres_url
from tests.kafka_support import consume_all
from tests.support import JOURNEY
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres
OUTAGE = 5.0


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema on the PostgreSQL of JOURNEY_TEST_POSTGRES (the outage is cut between
    a follower and that server)."""
    if not POSTGRES:
        pytest.skip("JOURNEY_TEST_POSTGRES is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield _postgres_url(schema)
    _drop_schema(schema)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "JOURNEY_LOG_FORMAT": "json", **extra}


def _journey(url: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([JOURNEY, "--db", url, *args], capture_output=True, text=True,
                          cwd=cwd, env=_env(**env), timeout=180)


def _workload(path: Path, customers: int, seed: int) -> Path:
    with path.open("w") as out:
        write_workload(WorkloadOptions(customers=customers, seed=seed), out)
    return path


def _via(proxy: TcpProxy, url: str) -> str:
    parsed = urlparse(url)
    return url.replace(f"{parsed.hostname}:{parsed.port or 5432}", f"127.0.0.1:{proxy.port}", 1)


def _start(args: list[str], tmp_path: Path, name: str, **env: str
           ) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / f"{name}.stderr"
    process = subprocess.Popen(
        [JOURNEY, *args], stdout=subprocess.DEVNULL, stderr=log.open("wb"), cwd=tmp_path,
        env=_env(**env), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return process, log


def _events(log: Path, event: str) -> list[dict[str, Any]]:
    found = []
    for text in log.read_text(errors="replace").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("event") == event:
            found.append(line)
    return found


def _wait(condition: Any, what: str, process: subprocess.Popen[bytes], log: Path,
          timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the follower exited: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what}: {log.read_text()[-3000:]}"
        time.sleep(0.2)


def _cut_while_ingesting(proxy: TcpProxy, url: str, tmp_path: Path, log: Path,
                         event: str, follower: subprocess.Popen[bytes]) -> None:
    """Cut the database away for OUTAGE s; meanwhile another process ingests (directly)."""
    proxy.cut()
    started = time.monotonic()
    more = _journey(url, "ingest", str(_workload(tmp_path / "more.jsonl", 12, 8)),
                    "--no-views", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    while time.monotonic() - started < OUTAGE or not _events(log, event):
        assert time.monotonic() - started < 60, f"no {event} logged: {log.read_text()[-2000:]}"
        assert follower.poll() is None, f"the follower exited: {log.read_text()[-2000:]}"
        time.sleep(0.2)
    proxy.restore()


def _views(url: str, cwd: Path) -> dict[str, Any]:
    answers = {}
    for command in (["errors"], ["stock"], ["customers", "--top", "1000"]):
        result = _journey(url, *command, "--json", cwd=cwd)
        assert result.returncode == 0, result.stderr
        answers[command[0]] = json.loads(result.stdout)
    return answers


def test_project_follow_waits_for_the_database_and_counts_once(
        pg_url: str, tmp_path: Path) -> None:
    first = _journey(pg_url, "ingest", str(_workload(tmp_path / "w.jsonl", 12, 7)),
                     "--no-views", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    app = open_store(pg_url)
    head = app.journey_recorder.position
    proxy = TcpProxy(urlparse(pg_url).port or 5432)
    follower, log = _start(["--db", _via(proxy, pg_url), "project", "--follow",
                            "--interval", "0.2"], tmp_path, "project")
    try:
        projector = Projector(app)
        _wait(lambda: _events(log, "views.following")
              and max(projector.lag().values()) == 0, "never caught up", follower, log)
        _cut_while_ingesting(proxy, pg_url, tmp_path, log, "views.reconnecting",
                             follower)
        assert head() > 0
        _wait(lambda: max(projector.lag().values()) == 0, "did not resume", follower, log)
        assert follower.poll() is None, "the follower exited"
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(30)
        proxy.close()
    attempts = _events(log, "views.reconnecting")
    assert attempts, log.read_text()[-2000:]
    assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))
    assert all(a["wait"] > 0 and a["error"] for a in attempts)
    assert "internal_error" not in log.read_text()
    followed = _views(pg_url, tmp_path)
    rebuilt = _journey(pg_url, "rebuild", cwd=tmp_path)  # the clean catch-up from event 1
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert _views(pg_url, tmp_path) == followed
    app.close()


def test_publish_follow_waits_for_the_database_and_loses_nothing(
        pg_url: str, tmp_path: Path) -> None:
    first = _journey(pg_url, "ingest", str(_workload(tmp_path / "w.jsonl", 12, 7)),
                     "--no-views", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    app = open_store(pg_url)
    recorder = app.journey_recorder
    topics = Topics(f"t{os.getpid()}{int(time.time())}", 3)
    proxy = TcpProxy(urlparse(pg_url).port or 5432)
    with EmbeddedBroker() as broker:
        env = {"JOURNEY_KAFKA_PREFIX": topics.prefix, "JOURNEY_KAFKA_PARTITIONS": "3"}
        relay, log = _start(["--db", _via(proxy, pg_url), "publish", "--follow",
                             "--bootstrap", broker.bootstrap], tmp_path, "publish", **env)
        try:
            _wait(lambda: recorder.relay_position("relay") == recorder.position(),
                  "never published everything", relay, log)
            _cut_while_ingesting(proxy, pg_url, tmp_path, log, "relay.reconnecting",
                                 relay)
            _wait(lambda: recorder.relay_position("relay") == recorder.position(),
                  "did not resume", relay, log)
            assert relay.poll() is None, "the relay exited"
        finally:
            relay.send_signal(signal.SIGTERM)
            relay.wait(60)
            proxy.close()
        head = recorder.position()
        messages = consume_all(broker.bootstrap, sorted(topics.published), expected=None,
                               timeout=8)
    ids = [int(dict(m.headers)["notification_id"]) for m in messages]
    assert set(ids) == set(range(1, head + 1))  # every event, none missing
    attempts = _events(log, "relay.reconnecting")
    assert attempts and attempts[0]["attempt"] == 1, log.read_text()[-2000:]
    assert "internal_error" not in log.read_text()
    app.close()
