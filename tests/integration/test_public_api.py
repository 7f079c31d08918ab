"""The public entry points as a fresh interpreter meets them (each test starts Python)."""

from __future__ import annotations

import subprocess
import sys

from journey.schemas.jsonschema import touchpoint_json_schema_text


def test_importing_journey_alone_loads_no_store_or_kafka() -> None:
    code = ("import sys, journey; print(sorted(m for m in sys.modules "
            "if m.startswith(('journey.', 'kafka', 'eventsourcing', 'fastavro'))))")

    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()

    assert loaded == "[]"


def test_the_json_schema_module_run_as_a_script_prints_the_committed_text() -> None:
    printed = subprocess.run([sys.executable, "-m", "journey.schemas.jsonschema"],
                             capture_output=True, check=True, text=True, encoding="utf-8")

    assert printed.stdout == touchpoint_json_schema_text()
    assert printed.stderr == ""
