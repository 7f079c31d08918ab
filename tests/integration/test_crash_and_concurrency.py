"""Processes, not threads: two writers on one store, and kill -9 in the middle of an ingest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from journey.infra.store import open_store
from journey.infra.workload import WorkloadOptions, write_workload
from tests.support import JOURNEY, store_digest

pytestmark = pytest.mark.slow



def workload(path: Path, customers: int, seed: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        write_workload(WorkloadOptions(customers=customers, seed=seed), out)
    return path


def journey(url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [JOURNEY, "--db", url, "--json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "JOURNEY_LOG_LEVEL": "warning"},
    )


def finish(process: subprocess.Popen[bytes]) -> dict[str, object]:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err.decode()
    result: dict[str, object] = json.loads(out)
    return result


def test_kill_9_mid_ingest_then_rerun_equals_one_clean_run(
    store_url: str, tmp_path: Path,
) -> None:
    source = workload(tmp_path / "big.jsonl", customers=1500, seed=11)
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    clean_summary = finish(journey(clean_url, "ingest", str(source)))

    victim = journey(store_url, "ingest", str(source), "--batch-size", "200")
    app = open_store(store_url)
    deadline = time.monotonic() + 120
    while app.journey_recorder.counts()["touchpoints"] < 3000:
        assert time.monotonic() < deadline, "the ingest made no progress"
        assert victim.poll() is None, "the ingest finished before it could be killed"
        time.sleep(0.05)
    app.close()
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    rerun_summary = finish(journey(store_url, "ingest", str(source), "--batch-size", "500"))

    assert clean_summary == rerun_summary
    assert store_digest(clean_url) == store_digest(store_url)


def test_two_processes_ingesting_overlapping_files_store_each_touchpoint_once(
    store_url: str, tmp_path: Path,
) -> None:
    source = workload(tmp_path / "all.jsonl", customers=600, seed=5)
    rows = source.read_bytes().splitlines(keepends=True)
    half = len(rows) // 2
    # The first file is the first two thirds, the second file the last two thirds:
    # the middle third arrives from both writers at about the same time.
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"".join(rows[: half + len(rows) // 6]))
    second.write_bytes(b"".join(rows[half - len(rows) // 6 :]))

    a = journey(store_url, "ingest", str(first), "--batch-size", "100")
    b = journey(store_url, "ingest", str(second), "--batch-size", "100")
    finish(a), finish(b)

    app = open_store(store_url)
    try:
        counts = app.journey_recorder.counts()
        ids = set()
        for row in rows:
            try:
                obj = json.loads(row)
            except ValueError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("touchpoint_id"), str):
                ids.add(obj["touchpoint_id"])
        stored = app.journey_recorder.touchpoint_hashes(sorted(ids))
        # every accepted touchpoint is stored once; re-sends are duplicates, never twice
        assert len(stored) == counts["touchpoints"]
        notifications = app.recorder.select_notifications(start=1, limit=10**9)
        events_per_touchpoint: dict[str, int] = {}
        for n in notifications:
            tp_id = json.loads(n.state).get("touchpoint_id")
            if tp_id is not None:
                events_per_touchpoint[tp_id] = events_per_touchpoint.get(tp_id, 0) + 1
        assert set(events_per_touchpoint) == set(stored)
        # one event per touchpoint, two for a transfer (both locations): never applied twice
        transfers = {n for n, h in stored.items() if events_per_touchpoint[n] == 2}
        assert all(count in (1, 2) for count in events_per_touchpoint.values())
        assert len(transfers) < len(stored) / 10
    finally:
        app.close()
