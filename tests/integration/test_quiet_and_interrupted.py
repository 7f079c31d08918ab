"""A quiet library, log lines without stale context, and Ctrl-C that says what was kept:
fresh interpreters, the real CLI, a real SIGINT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from journey.infra.workload import WorkloadOptions, write_workload
from tests.support import JOURNEY, Journey, line, order, tp

#: The README's Python API, its ingest part verbatim (it prints nothing itself).
README_INGEST = """
import journey

app = journey.open_store("sqlite:///journey.db")
projector = journey.Projector(app)
with open("touchpoints.jsonl", "rb") as f:
    summary = journey.Ingestor(app).ingest(
        journey.LineSource(f, name="touchpoints.jsonl"),
        settle=projector.catch_up,
    )
projector.catch_up()
app.close()
"""

REJECTED = b"\n".join([b"not json", line(tp("purchase.delivered", order_id="O-none")),
                       b'{"touchpoint_id": "tp-x", "type": "nope"}'] * 50) + b"\n"


def python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=env)


def test_the_python_api_prints_nothing_while_it_rejects(tmp_path: Path) -> None:
    (tmp_path / "touchpoints.jsonl").write_bytes(REJECTED)

    result = python(README_INGEST, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""


def test_an_application_that_sets_up_logging_gets_the_engine_s_lines(tmp_path: Path) -> None:
    (tmp_path / "touchpoints.jsonl").write_bytes(REJECTED)

    result = python("import logging; logging.basicConfig(level=logging.DEBUG)\n"
                    + README_INGEST, tmp_path)

    rejected = [ln for ln in result.stderr.splitlines()
                if ln.startswith("DEBUG:journey.ingest:event=touchpoint.rejected")]
    assert len(rejected) == 150
    assert "source=touchpoints.jsonl:2" in rejected[1]
    assert result.stdout == ""


def test_an_application_s_own_structlog_configuration_is_kept(tmp_path: Path) -> None:
    code = ("import structlog; structlog.configure(processors=[structlog.processors."
            "JSONRenderer()])\nimport journey.infra.ingest\n"
            "assert structlog.get_config()['logger_factory'].__class__.__name__ == "
            "'PrintLoggerFactory'\nstructlog.get_logger('x').info('mine')")

    result = python(code, tmp_path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"event": "mine"}


def test_a_log_line_after_an_invalid_line_does_not_name_its_touchpoint(
        sqlite_url: str, tmp_path: Path) -> None:
    journey = Journey(sqlite_url, tmp_path)
    body = line(order("O1")) + b"\n" + b'{"touchpoint_id": "tp-stale", "type": "nope"}\n'

    result = journey.run("ingest", "-", stdin=body, env={"JOURNEY_LOG_LEVEL": "debug"})

    logs = [json.loads(ln) for ln in result.stderr.decode().splitlines()]
    rejected = [e for e in logs if e["event"] == "touchpoint.rejected"]
    assert [(e["touchpoint_id"], e["source"]) for e in rejected] == [("tp-stale", "-:2")]
    after = logs[logs.index(rejected[0]) + 1:]
    assert [e["event"] for e in after if e["event"] == "ingest.done"] == ["ingest.done"]
    assert all("touchpoint_id" not in e and "source" not in e for e in after), after


def _sigint_when_stopped(args: list[str], failpoint: str, cwd: Path
                         ) -> subprocess.CompletedProcess[bytes]:
    """Run ``journey``, stop it at ``failpoint``, then Ctrl-C it as a terminal would."""
    process = subprocess.Popen(
        [JOURNEY, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "JOURNEY_FAILPOINTS": failpoint, "JOURNEY_LOG_LEVEL": "warning",
             "JOURNEY_VIEW_BATCH_SIZE": "300"},
        # A shell's background job gets SIGINT ignored, and so would its children.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _, status = os.waitpid(process.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), "never reached " + failpoint
        process.send_signal(signal.SIGINT)  # pending while stopped, delivered on SIGCONT
        process.send_signal(signal.SIGCONT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_ctrl_c_during_ingest_says_what_is_stored_and_the_rerun_resumes(
        store_url: str, tmp_path: Path) -> None:
    source = tmp_path / "touchpoints.jsonl"
    with source.open("w", encoding="utf-8") as out:
        write_workload(WorkloadOptions(customers=120, seed=5), out)
    clean = Journey(f"sqlite:///{tmp_path / 'clean.db'}", tmp_path)
    clean_summary = clean.json("ingest", "touchpoints.jsonl")
    journey = Journey(store_url, tmp_path)

    interrupted = _sigint_when_stopped(
        ["--db", store_url, "ingest", "touchpoints.jsonl", "--batch-size", "200"],
        "ingest.between_batches=3:stop", tmp_path)

    assert interrupted.returncode == 130
    assert interrupted.stderr.decode().splitlines() == [
        "journey: interrupted: 600 lines of touchpoints.jsonl are stored; run the same "
        "command to resume"]
    assert interrupted.stdout == b""
    assert journey.json("ingest", "touchpoints.jsonl") == clean_summary
    assert journey.json("rejects", "--all") == clean.json("rejects", "--all")  # provenance too


def test_ctrl_c_during_project_says_where_the_views_are(store_url: str, tmp_path: Path
                                                         ) -> None:
    source = tmp_path / "w.jsonl"
    with source.open("w", encoding="utf-8") as out:
        write_workload(WorkloadOptions(customers=60, seed=9), out)
    journey = Journey(store_url, tmp_path)
    journey.run("ingest", "w.jsonl", "--no-views")

    interrupted = _sigint_when_stopped(["--db", store_url, "project"],
                                       "views.after_commit=1:stop", tmp_path)

    assert interrupted.returncode == 130
    message = interrupted.stderr.decode().splitlines()
    assert len(message) == 1
    found = re.fullmatch(r"journey: interrupted: the views are stored up to log position "
                         r"([\d,]+) of ([\d,]+); run the same command to resume", message[0])
    assert found, message
    at, head = (int(n.replace(",", "")) for n in found.groups())
    assert 0 < at < head
    resumed = journey.json("project")
    assert set(resumed["lag"].values()) == {0}
    assert resumed["events"] == head - at  # resumed where the views were, not from the start
