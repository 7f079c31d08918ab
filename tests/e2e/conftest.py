from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

JOURNEY = str(Path(sys.executable).with_name("journey"))


class Journey:
    """Runs the installed `journey` command as a user would."""

    def __init__(self, db: str, cwd: Path) -> None:
        self.db = db
        self.cwd = cwd

    def run(self, *args: str, stdin: bytes | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            [JOURNEY, "--db", self.db, *args], input=stdin, capture_output=True, cwd=self.cwd,
            env={**os.environ, "JOURNEY_LOG_FORMAT": "json", **(env or {})}, timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"journey {' '.join(args)} failed: {result.stderr.decode()}")
        return result

    def json(self, *args: str, stdin: bytes | None = None) -> Any:
        result = self.run(*args, "--json", stdin=stdin)
        return json.loads(result.stdout)


@pytest.fixture
def journey(tmp_path: Path) -> Journey:
    return Journey(f"sqlite:///{tmp_path / 'journey.db'}", tmp_path)
