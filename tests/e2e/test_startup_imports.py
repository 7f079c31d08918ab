"""What a command imports: a query starts without Kafka, Avro, the workload generator, the
server's libraries, PostgreSQL's driver, structlog or the aggregates (start-up time, issue 15).

Each command runs as ``journey`` would, in a fresh interpreter that then writes down
``sys.modules``: the test reads what was imported, never how long it took.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Journey, line, order, tp

#: Runs ``main`` with the arguments given as JSON, then writes the modules it imported.
PROBE = """
import json, sys
from journey.infra.cli import main
args, report = json.loads(sys.argv[1]), sys.argv[2]
sys.argv = ["journey", *args]
try:
    main()
    code = 0
except SystemExit as exit:
    code = exit.code
with open(report, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""

#: Never imported to answer a query (a package stands for its sub-modules too).
NOT_FOR_A_QUERY = (
    "kafka", "fastavro", "journey.infra.workload", "fastapi", "uvicorn", "jinja2", "pygal",
    "psycopg", "psycopg_pool", "journey.infra.kafka.client", "journey.consumers",
    "journey.infra.ingest", "journey.schemas.touchpoint", "journey.infra.views.projector",
    "journey.infra.audit.export", "journey.infra.http",
    "structlog",  # imported by the first module that logs (journey.infra.logs)
    # the aggregates: a query reads the views, not events (legacy_topics registers lazily)
    "journey.domain.orders", "journey.domain.invoices", "journey.domain.cases",
    "journey.domain.repairs", "journey.domain.stock",
)
#: Nor to print the version or refuse a bad option.
NOT_WITHOUT_A_STORE = (*NOT_FOR_A_QUERY, "eventsourcing", "journey.infra.store")

QUERIES = (
    ("timeline", "C-1"), ("timeline", "C1", "--json"), ("customers", "--json"),
    ("errors", "--json"), ("kpis", "--json"), ("invoices", "--json"), ("stock", "--json"),
)


def imported(cwd: Path, *args: str) -> tuple[object, list[str]]:
    """The exit code of ``journey ARGS`` and every module it imported."""
    report = cwd / "modules.json"
    subprocess.run([sys.executable, "-c", PROBE, json.dumps(args), str(report)], cwd=cwd,
                   capture_output=True, check=True, timeout=120)
    found = json.loads(report.read_text())
    return found["code"], found["modules"]


def among(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Journey:
    cwd = tmp_path_factory.mktemp("startup")
    journey = Journey(f"sqlite:///{cwd / 'journey.db'}", cwd)
    lines = [order("O1", customer_id="C1"),
             tp("purchase.delivered", "2026-03-02T10:00:00Z", order_id="O1")]
    journey.run("ingest", "-", stdin=b"".join(line(o) + b"\n" for o in lines))
    return journey


@pytest.mark.parametrize("query", QUERIES, ids=" ".join)
def test_a_query_imports_neither_kafka_nor_the_server_nor_the_aggregates(
    small_store: Journey, query: tuple[str, ...],
) -> None:
    code, modules = imported(small_store.cwd, "--db", small_store.db, *query)

    assert code == 0
    assert among(modules, NOT_FOR_A_QUERY) == []


@pytest.mark.parametrize("args", [("--version",), ("timeline",), ("stock", "--lead-time", "x")],
                         ids=" ".join)
def test_the_version_and_a_refused_option_open_no_store(tmp_path: Path,
                                                        args: tuple[str, ...]) -> None:
    code, modules = imported(tmp_path, *args)

    assert code in (0, 2)
    assert among(modules, NOT_WITHOUT_A_STORE) == []
