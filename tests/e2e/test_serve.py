"""``journey serve`` as a person runs it: a token made with ``journey token create``, a real
server on a loopback port answering exactly what ``journey ... --json`` prints for the same
store, the refusal to listen beyond loopback without tokens, and how it stops."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.http_support import free_port, served
from tests.support import JOURNEY, Journey


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Journey:
    """A store with a small generated workload (every kind, some rejects)."""
    workdir = tmp_path_factory.mktemp("serve-queries")
    journey = Journey(f"sqlite:///{workdir / 'journey.db'}", workdir)
    journey.run("generate", "--customers", "40", "--seed", "11", "-o", "in.jsonl")
    journey.run("ingest", "in.jsonl")
    return journey


@pytest.fixture(scope="module")
def token(journey: Journey) -> str:
    """An analyst-and-auditor token, its hash appended to tokens.txt by the command."""
    made = journey.run("token", "create", "tests", "--role", "analyst", "--role", "auditor",
                       "--file", "tokens.txt")
    assert b"added to tokens.txt" in made.stderr
    return made.stdout.decode().strip()


@pytest.fixture(scope="module")
def client(journey: Journey, token: str) -> Iterator[httpx.Client]:
    """One server for the module, with the tokens file; a client holding the token."""
    env = {"JOURNEY_TOKENS_FILE": str(journey.cwd / "tokens.txt")}
    with served(journey.db, journey.cwd, env=env) as base, httpx.Client(
            base_url=base, timeout=60.0, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def test_token_create_writes_a_private_file_of_hashes(journey: Journey, token: str) -> None:
    lines = (journey.cwd / "tokens.txt").read_text().splitlines()

    assert (journey.cwd / "tokens.txt").stat().st_mode & 0o777 == 0o600
    assert len(lines) == 1 and lines[0].startswith("tests analyst,auditor ")
    assert token.startswith("jt_") and token not in lines[0]


#: (path, query, the command's arguments): the same question both ways.
SAME = [
    ("/v1/errors", {"kind": "repair", "contact_cost": "12.50"},
     ("errors", "--kind", "repair", "--contact-cost", "12.50")),
    ("/v1/stock", {"needs_reorder": "true", "lead_time": "10"},
     ("stock", "--needs-reorder", "--lead-time", "10")),
    ("/v1/kpis", {"from": "2026-02", "as_of": "2026-06"},  # replayed from the log
     ("kpis", "--from", "2026-02", "--as-of", "2026-06")),
    ("/v1/rejects", {"all": "true", "reason": ["invalid_json", "unknown_type"]},  # streamed
     ("rejects", "--all", "--reason", "invalid_json", "--reason", "unknown_type")),
]


@pytest.mark.parametrize(("path", "query", "command"), SAME, ids=[s[0] for s in SAME])
def test_each_answer_is_what_the_command_prints(client: httpx.Client, journey: Journey,
                                                path: str, query: dict[str, Any],
                                                command: tuple[str, ...]) -> None:
    response = client.get(path, params=query)

    assert response.status_code == 200, response.text
    assert response.json() == journey.json(*command)


def test_a_timeline_is_what_the_command_prints(client: httpx.Client, journey: Journey) -> None:
    worst = client.get("/v1/customers", params={"top": "1"}).json()["customers"][0]
    customer = worst["customer_id"]

    timeline = client.get(f"/v1/customers/{customer}/timeline")

    assert timeline.json() == journey.json("timeline", customer)
    assert timeline.headers["X-Journey-Log-Head"] == str(
        timeline.json()["freshness"]["log_head"])


def test_without_a_token_the_server_says_401(client: httpx.Client) -> None:
    response = httpx.get(str(client.base_url).rstrip("/") + "/v1/stock")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_beyond_loopback_without_tokens_it_refuses_to_listen(journey: Journey) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_TOKENS")}
    result = subprocess.run([JOURNEY, "--db", journey.db, "serve", "--host", "0.0.0.0",
                             "--port", str(free_port())], capture_output=True, text=True,
                            timeout=60, cwd=journey.cwd, env=env)

    assert result.returncode == 2
    assert result.stderr == ('journey: error: --host: listening beyond loopback needs '
                             'tokens: set JOURNEY_TOKENS_FILE (journey token create NAME --role '
                             'ROLE --file tokens.txt makes one) or JOURNEY_TOKENS (got '
                             '"0.0.0.0")\n')


def test_it_prints_where_it_listens_and_stops_on_ctrl_c(journey: Journey) -> None:
    port = free_port()
    process = subprocess.Popen([JOURNEY, "--db", journey.db, "serve", "--port", str(port)],
                               cwd=journey.cwd, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "JOURNEY_LOG_FORMAT": "json"})
    try:
        assert process.stderr is not None
        lines = [process.stderr.readline() for _ in range(2)]
        deadline = time.monotonic() + 30
        while httpx.get(f"http://127.0.0.1:{port}/healthz").status_code != 200:
            assert time.monotonic() < deadline
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=30)[1]
    finally:
        process.kill()
        process.wait()

    assert lines == [f"journey: serving {journey.db} on http://127.0.0.1:{port}/\n",
                     f"  dashboard  http://127.0.0.1:{port}/\n"]
    assert process.returncode == 130
    assert rest.splitlines()[-1] == ("journey: interrupted: the server stopped after answering "
                                     "the requests in flight; every request it answered is "
                                     "stored")
    assert "Traceback" not in rest
