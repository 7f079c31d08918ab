"""The query commands answer byte for byte as they did before the redesign.

``golden/`` holds what the engine printed before its modules moved under the ``journey``
namespace (the commands of ``golden/manifest.json`` on a generated workload of 300
customers). The generator must still write the very same workload, and every command the
same bytes; only record time (``recorded_at`` in ``history``) differs from run to run.

When an answer changes on purpose (a new version of the contract's shapes), rewrite the
files with ``JOURNEY_UPDATE_GOLDEN=1 pytest tests/e2e/test_same_answers.py`` and let the
diff of ``golden/`` show the change for review.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.support import Journey

GOLDEN = Path(__file__).with_name("golden")
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
UPDATE = os.environ.get("JOURNEY_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Journey, Path]:
    work = tmp_path_factory.mktemp("golden")
    journey = Journey(f"sqlite:///{work / 'golden.db'}", work)
    workload = work / "workload.jsonl"
    spec = MANIFEST["workload"]
    journey.run("generate", "--customers", str(spec["customers"]), "--seed", str(spec["seed"]),
                "-o", str(workload))
    return journey, workload


def test_the_generator_writes_the_same_workload(ingested: tuple[Journey, Path]) -> None:
    _, workload = ingested
    assert MANIFEST["workload"]["sha256"] == hashlib.sha256(workload.read_bytes()).hexdigest()


def _golden(name: str) -> Path:
    return GOLDEN / (name + (".csv" if name.endswith("_csv") else ".json"))


def _without_record_time(output: bytes) -> bytes:
    document = json.loads(output)
    for event in document["events"]:
        event["recorded_at"] = "*"
    return (json.dumps(document, ensure_ascii=False) + "\n").encode()


def test_every_query_command_answers_as_before(ingested: tuple[Journey, Path]) -> None:
    journey, workload = ingested
    differing = []
    for name, args in MANIFEST["cases"].items():  # in order: the ingests come first
        # relative to the store's folder (the cwd), so provenance ("workload.jsonl:7") is stable
        output = journey.run(*(arg.replace("{workload}", workload.name) for arg in args)).stdout
        if name.startswith("history"):
            output = _without_record_time(output)
        if UPDATE:
            _golden(name).write_bytes(output)
        elif output != _golden(name).read_bytes():
            differing.append(name)
    assert differing == []
