"""kill -9 while the views catch up or rebuild: afterwards they equal a rebuild from scratch."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from journey.infra.store import open_store
from journey.infra.views.database import ViewDb
from journey.infra.views.projector import Projector
from journey.infra.workload import WorkloadOptions, write_workload
from journey.projections.tables import PROJECTIONS
from tests.support import JOURNEY

pytestmark = pytest.mark.slow



def journey(url: str, *args: str, batch: int = 300, worker_min: int = 50_000
            ) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [JOURNEY, "--db", url, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "JOURNEY_LOG_LEVEL": "warning", "JOURNEY_VIEW_BATCH_SIZE": str(batch),
             "JOURNEY_REBUILD_WORKER_MIN": str(worker_min)},
        # A suite started in the background of a shell inherits SIGINT ignored, and so would
        # the command: give it the default, as a terminal's Ctrl-C would find it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def finish(process: subprocess.Popen[bytes]) -> None:
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err.decode()


def views(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every live view table, rows sorted, and the tracking positions."""
    app = open_store(url)
    try:
        db = ViewDb(app)
        out: dict[str, list[tuple[Any, ...]]] = {}
        with app.journey_recorder.read_rows() as c:
            for tables in PROJECTIONS.values():
                for table in tables:
                    c.execute(f"SELECT * FROM {getattr(db.tables(), table)}")
                    out[table] = sorted(tuple(row) for row in c.fetchall())
            for name in PROJECTIONS:
                out[f"position:{name}"] = [(db.position(c, f"view:{name}"),)]
        return out
    finally:
        app.close()


def tracked(url: str, name: str) -> int:
    app = open_store(url)
    try:
        db = ViewDb(app)
        with app.journey_recorder.read_rows() as c:
            return db.position(c, name)
    finally:
        app.close()


def kill_when(process: subprocess.Popen[bytes], reached: Any) -> None:
    deadline = time.monotonic() + 120
    while not reached():
        assert process.poll() is None, "finished before it could be killed"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.fixture
def loaded(store_url: str, tmp_path: Path) -> str:
    source = tmp_path / "w.jsonl"
    with source.open("w", encoding="utf-8") as out:
        write_workload(WorkloadOptions(customers=700, seed=21, late_rate=0.1), out)
    finish(journey(store_url, "ingest", str(source), "--no-views"))
    app = open_store(store_url)
    Projector(app)  # the views' tables, empty, so the read-only pollers below can look
    app.close()
    return store_url


def test_kill_9_during_catch_up_then_resume_equals_a_rebuild(loaded: str) -> None:
    victim = journey(loaded, "project")
    kill_when(victim, lambda: tracked(loaded, "view:touchpoints") > 3000)

    finish(journey(loaded, "project"))
    resumed = views(loaded)
    finish(journey(loaded, "rebuild"))

    assert views(loaded) == resumed


@pytest.mark.parametrize("worker_min", [0, 10**9], ids=["fold-in-worker", "fold-here"])
def test_kill_9_during_rebuild_leaves_the_live_views_and_a_rerun_completes(
        loaded: str, worker_min: int) -> None:
    finish(journey(loaded, "project"))
    before = views(loaded)
    victim = journey(loaded, "rebuild", batch=200, worker_min=worker_min)
    kill_when(victim, lambda: tracked(loaded, "view:touchpoints_next") > 3000)

    assert views(loaded) == before  # queries kept answering from the untouched live tables
    finish(journey(loaded, "rebuild", worker_min=worker_min))

    assert views(loaded) == before


def test_project_follow_keeps_the_views_current_while_another_process_writes(
    store_url: str, tmp_path: Path,
) -> None:
    source = tmp_path / "w.jsonl"
    with source.open("w", encoding="utf-8") as out:
        write_workload(WorkloadOptions(customers=100, seed=4), out)
    app = open_store(store_url)
    Projector(app)  # tables first: the read-only poller must not race the follower's start
    app.close()
    follower = journey(store_url, "project", "--follow", "--interval", "0.2")
    try:
        finish(journey(store_url, "ingest", str(source), "--no-views"))
        app = open_store(store_url)
        head = app.journey_recorder.position()
        app.close()
        deadline = time.monotonic() + 60
        while tracked(store_url, "view:touchpoints") < head:
            assert follower.poll() is None, follower.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the follower did not catch up"
            time.sleep(0.1)
        assert tracked(store_url, "view:stock") == head
    finally:
        follower.send_signal(signal.SIGINT)
        follower.wait(timeout=30)
