"""Operational failures get their own one-line message and exit 75, not "internal error"
(issue 11, hole 8): a full disk (a real SQLite capped by ``PRAGMA max_page_count``), an
unreachable database (password never shown), and the PostgreSQL disk-full error class."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg

from journey.infra.store.errors import operational_failure
from journey.infra.workload import WorkloadOptions, write_workload
from tests.support import JOURNEY

#: The real CLI, with every SQLite connection capped at a few pages more than the file has.
CAPPED = textwrap.dedent("""
    import os, sqlite3, sys
    connect = sqlite3.connect
    def capped(*args, **kwargs):
        conn = connect(*args, **kwargs)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + int(os.environ['EXTRA_PAGES'])}")
        return conn
    sqlite3.connect = capped
    from journey.infra.cli.main import main
    sys.argv[0] = "journey"
    main()
""")


def _run(*args: str, capped: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", CAPPED, *args] if capped else [JOURNEY, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "JOURNEY_LOG_FORMAT": "json", "EXTRA_PAGES": "40"})


def test_a_full_disk_is_named_not_an_internal_error(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'journey.db'}"
    workload = tmp_path / "w.jsonl"
    with workload.open("w") as out:
        write_workload(WorkloadOptions(customers=30, seed=2), out)
    assert _run("--db", db, "project").returncode == 0  # creates the store (a writer)

    result = _run("--db", db, "ingest", str(workload), capped=True)

    assert result.returncode == 75, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"journey: error: the disk is full ({db}): database or disk is full"
    assert "internal error" not in result.stderr


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://postgres:s3cret@127.0.0.1:{port}/test"

    result = _run("--db", url, "project")

    assert result.returncode == 75, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"journey: error: the database is unreachable (postgresql://postgres:***@127.0.0.1:"
        f"{port}/test): ")
    assert len(last) > len("journey: error: the database is unreachable (") + len(url)
    assert "s3cret" not in result.stderr


def test_postgresql_disk_full_and_lock_timeouts_are_classified() -> None:
    disk = psycopg.errors.DiskFull('could not extend file "base/16384/2619": No space left')
    lock = psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = disk
    assert operational_failure(wrapped) == ("disk_full", str(disk))
    assert operational_failure(lock) == ("locked", str(lock))
    assert operational_failure(psycopg.errors.UniqueViolation("dup")) is None
