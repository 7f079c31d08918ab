"""kill -9 an ingest anywhere (deciding, committing, between batches, catching the views up),
then run it again: the store ends as one clean ingest of the file would leave it.

Each case arms one failpoint (``infra/failpoints.py``) at a seeded-random hit, so the kills
land across every phase of a run and a failure names the exact point to reproduce it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from journey.infra.audit.verify import verify_log
from journey.infra.store import open_store
from journey.infra.views.projector import view_queries
from journey.infra.workload import WorkloadOptions, write_workload
from tests.support import JOURNEY, store_digest

pytestmark = pytest.mark.slow

SECRET = "crash-suite-secret"
BATCH = 100        # touchpoints per ingest batch
VIEW_BATCH = 250   # events per view catch-up batch

#: Where a run can die, by phase: each fires once per batch of its phase.
POINTS = (
    "ingest.decided",          # decide: the batch decided in memory, nothing written
    "store.in_transaction",    # commit: rows written in the open transaction, no commit
    "ingest.committed",        # commit: the batch and its checkpoint committed
    "ingest.between_batches",  # between batches
    "views.before_commit",     # view catch-up: a batch folded, not committed
    "views.after_commit",      # view catch-up: a batch committed
)
KILLS_PER_STORE = 22
CASES = [(POINTS[i % len(POINTS)], random.Random(i).random()) for i in range(KILLS_PER_STORE)]


def run(url: str, source: Path, failpoint: str | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "JOURNEY_LOG_LEVEL": "warning", "JOURNEY_AUDIT_SECRET": SECRET,
           "JOURNEY_VIEW_BATCH_SIZE": str(VIEW_BATCH)}
    if failpoint:
        env["JOURNEY_FAILPOINTS"] = failpoint
    return subprocess.run([JOURNEY, "--db", url, "--json", "ingest", str(source),
                           "--batch-size", str(BATCH)], capture_output=True, env=env,
                          timeout=600)


def answers(url: str) -> dict[str, Any]:
    """What analysts and auditors get: the views' answers and the audit verdict."""
    app = open_store(url, SECRET)
    try:
        with view_queries(app) as views:
            found: dict[str, Any] = {
                "customers": views.customers(10**6),
                "errors": views.errors(),
                "stock": views.stock(),
            }
        found["audit_ok"] = verify_log(app).ok
        found["store"] = store_digest(url)
        return found
    finally:
        app.close()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "w.jsonl"
    with path.open("w", encoding="utf-8") as out:
        write_workload(WorkloadOptions(customers=120, seed=29), out)
    return path


_clean: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, int]]] = {}


@pytest.fixture
def clean(store_url: str, source: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, int]]]:
    """One clean ingest of the file on the same kind of store: its summary, its answers,
    and how often each failpoint is reached (so a case can aim inside the run)."""
    kind = store_url.split(":", 1)[0]
    if kind not in _clean:
        url = (f"sqlite:///{tmp_path_factory.mktemp('clean') / 'clean.db'}" if kind == "sqlite"
               else store_url.replace("schema=", "schema=clean_", 1))
        done = run(url, source)
        assert done.returncode == 0, done.stderr.decode()
        app = open_store(url, SECRET)
        try:
            events = app.journey_recorder.position()
        finally:
            app.close()
        batches = -(-sum(1 for ln in source.read_bytes().splitlines() if ln.strip()) // BATCH)
        hits = {point: batches for point in POINTS}
        hits["views.before_commit"] = hits["views.after_commit"] = -(-events // VIEW_BATCH)
        _clean[kind] = (json.loads(done.stdout), answers(url), hits)
        if kind != "sqlite":
            _drop_postgres_schema(url)
    yield _clean[kind]


def _drop_postgres_schema(url: str) -> None:
    import psycopg

    base, _, schema = url.partition("?schema=")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.parametrize("point, where", CASES, ids=[f"{p}@{w:.2f}" for p, w in CASES])
def test_kill_9_anywhere_then_rerun_equals_one_clean_ingest(
        store_url: str, source: Path, point: str, where: float,
        clean: tuple[dict[str, Any], dict[str, Any], dict[str, int]]) -> None:
    summary, expected, hits = clean
    nth = 1 + int(where * hits[point])
    nth = min(nth, hits[point])

    killed = run(store_url, source, f"{point}={nth}")
    assert killed.returncode == -signal.SIGKILL, (
        f"{point}={nth} was not reached: {killed.stderr.decode()}")

    rerun = run(store_url, source)
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert json.loads(rerun.stdout) == summary
    assert answers(store_url) == expected


def test_kill_9_while_the_views_fold_beside_then_rerun_equals_one_clean_ingest(
        store_url: str, tmp_path: Path) -> None:
    """A file long enough for the ingest to fold the views in a second process
    (``ViewsBeside``): kill -9 the ingest late in the run, the follower folding, then run
    it again: the same answers as one clean ingest, and the follower gone with its parent."""
    from journey.infra.views.beside import START_FROM_BYTES

    source = tmp_path / "long.jsonl"
    with source.open("w", encoding="utf-8") as out:
        write_workload(WorkloadOptions(customers=500, seed=31), out)
    assert source.stat().st_size >= START_FROM_BYTES
    lines = sum(1 for ln in source.read_bytes().splitlines() if ln.strip())
    clean_url = (f"sqlite:///{tmp_path / 'clean.db'}" if store_url.startswith("sqlite")
                 else store_url.replace("schema=", "schema=clean_", 1))

    def ingest(url: str, failpoint: str | None = None) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "JOURNEY_LOG_LEVEL": "warning", "JOURNEY_AUDIT_SECRET": SECRET}
        if failpoint:
            env["JOURNEY_FAILPOINTS"] = failpoint
        return subprocess.run([JOURNEY, "--db", url, "--json", "ingest", str(source),
                               "--batch-size", "500"], capture_output=True, env=env,
                              timeout=600)

    try:
        done = ingest(clean_url)
        assert done.returncode == 0, done.stderr.decode()
        killed = ingest(store_url, f"ingest.between_batches={lines // 500 - 1}")
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
        rerun = ingest(store_url)
        assert rerun.returncode == 0, rerun.stderr.decode()
        assert json.loads(rerun.stdout) == json.loads(done.stdout)
        assert answers(store_url) == answers(clean_url)
    finally:
        if not store_url.startswith("sqlite"):
            _drop_postgres_schema(clean_url)
