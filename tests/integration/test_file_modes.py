"""Files holding customer data are created 0600 (issue 11, hole 10, second half).

Before the fix the SQLite database (and so its -wal and -shm, which SQLite creates with the
database's mode), the lock files beside it and export files were created 0644 under the
usual umask 022: readable by every local user. Now they are created 0600; the umask can
only take bits away (0277 leaves 0400), and a user's existing files are not chmod'ed.
The real command runs in a child process with the umask under test.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import JOURNEY, line, order, part

WORKLOAD = b"".join(line(o) + b"\n" for o in (order("O1"), part("received", qty=2)))

#: Opens the store, writes, and reports the modes while its connections are open (SQLite
#: removes -wal and -shm when the last one closes).
LIVE_MODES = """
import json, os, stat, sys
from journey.infra.store import open_store
app = open_store(sys.argv[1])
app.journey_recorder.position()
with app.journey_recorder.writer_lock():
    modes = {s: stat.S_IMODE(os.stat(sys.argv[2] + s).st_mode)
             for s in ("", "-wal", "-shm", ".writer-lock")}
app.close()
print(json.dumps(modes))
"""


def _journey(db: Path, umask: int, *args: str,
             stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([JOURNEY, "--db", f"sqlite:///{db}", *args], input=stdin,
                            capture_output=True, umask=umask, timeout=300,
                            env={**os.environ, "JOURNEY_LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr.decode()
    return result


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _created(directory: Path) -> dict[str, int]:
    return {p.name: _mode(p) for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_store_lock_and_export_files_are_created_0600(tmp_path: Path, umask: int) -> None:
    db = tmp_path / "journey.db"
    _journey(db, umask, "ingest", "-", stdin=WORKLOAD)
    source = tmp_path / "w.jsonl"
    source.write_bytes(WORKLOAD)
    os.chmod(source, 0o644)  # the user's own input: left alone
    _journey(db, umask, "ingest", str(source))  # any lease file a named run takes: 0600 too
    _journey(db, umask, "export", "-o", str(tmp_path / "all.avro"))

    created = _created(tmp_path)

    assert {"journey.db", "journey.db.writer-lock", "all.avro"} <= set(created)
    assert created.pop("w.jsonl") == 0o644
    assert {name: 0o600 for name in created} == created


def test_the_wal_and_shm_files_take_the_database_files_mode(tmp_path: Path) -> None:
    db = tmp_path / "journey.db"
    result = subprocess.run([sys.executable, "-c", LIVE_MODES, f"sqlite:///{db}", str(db)],
                            capture_output=True, umask=0o022, timeout=120, check=True)
    modes = json.loads(result.stdout)
    assert modes == {"": 0o600, "-wal": 0o600, "-shm": 0o600, ".writer-lock": 0o600}


def test_a_stricter_umask_makes_the_files_stricter(tmp_path: Path) -> None:
    db = tmp_path / "journey.db"
    _journey(db, 0o022, "ingest", "-", stdin=WORKLOAD)  # a store the owner can write
    (tmp_path / "journey.db.writer-lock").unlink()

    _journey(db, 0o277, "ingest", "-", stdin=WORKLOAD)
    _journey(db, 0o277, "export", "-o", str(tmp_path / "all.avro"))

    assert _mode(tmp_path / "journey.db.writer-lock") == 0o400
    assert _mode(tmp_path / "all.avro") == 0o400  # 0600 & ~0277
    assert _mode(db) == 0o600  # created before, under 022


def test_a_new_database_under_a_stricter_umask(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("a 0400 database is read-only to its (non-root) owner: nothing to run")
    db = tmp_path / "journey.db"
    _journey(db, 0o277, "ingest", "-", stdin=WORKLOAD)
    assert _mode(db) == 0o400


def test_existing_files_keep_their_mode(tmp_path: Path) -> None:
    db = tmp_path / "journey.db"
    _journey(db, 0o022, "ingest", "-", stdin=WORKLOAD)
    os.chmod(db, 0o640)
    os.chmod(tmp_path / "journey.db.writer-lock", 0o644)
    target = tmp_path / "all.avro"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)

    _journey(db, 0o022, "ingest", "-", stdin=WORKLOAD)
    _journey(db, 0o022, "export", "-o", str(target), "--force")

    assert _mode(db) == 0o640
    assert _mode(tmp_path / "journey.db.writer-lock") == 0o644
    assert _mode(target) == 0o600  # --force replaces the file by a new one: ours, 0600
