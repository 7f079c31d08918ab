"""The HTTP intake against ``journey ingest`` of the same lines, in the same run.

One workload (``journey generate``) is ingested twice into fresh SQLite stores: by
``journey ingest FILE`` (one process, timed from start to exit: its start-up is reported
apart), and by ``POST /v1/touchpoints`` to a real ``journey serve`` process, the file sent in
bodies of ``body_lines`` lines by one sequential keep-alive client (timed from the first
request to the last answer; each answer comes with the views current, as ingest's exit does).
Both must end with the same summary. The issue's target: intake >= 0.8x ingest.

Wall time on a shared machine moves with whatever else runs, and the intake needs two
processes (server and client) where ingest needs one; so each door runs ``rounds`` times,
alternating, the best round of each is compared, and the CPU each door's server-side process
used (``journey ingest``; ``journey serve`` from start to exit, start-up included, the client
not) is compared too: that ratio does not depend on the load.

Also here, for every benchmark of the server: ``served``, a real ``journey serve`` process on
a free loopback port, with the CPU it has used.

    python -m benchmarks.http [--customers 2500] [--body-lines 2000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.ingest import JOURNEY, generate, ingest

#: The issue's target: intake throughput at least this share of ``journey ingest``'s.
TARGET = 0.8
#: A benchmarked server logs warnings only.
QUIET = {"JOURNEY_LOG_LEVEL": "warning"}


@dataclass(frozen=True)
class Server:
    """A running ``journey serve``: its base URL and its process."""

    base: str
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the server has used so far (Linux: ``/proc``)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def served(db: str, cwd: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 120.0) -> Iterator[Server]:
    """``journey --db DB serve --port P ARGS...`` on a free loopback port until the block
    ends, once it answers ``/healthz``; its output goes to ``cwd/serve-P.log``. The tests
    of ``journey serve`` run their servers through it too (``tests/http_support.py``)."""
    port = free_port()
    log_path = cwd / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [JOURNEY, "--db", db, "serve", "--port", str(port), *args], cwd=cwd, stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "JOURNEY_LOG_FORMAT": "json", **(env or {})})
        server = Server(f"http://127.0.0.1:{port}", process)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"journey serve exited {process.returncode}: "
                                     f"{log_path.read_text(errors='replace')}")
                try:
                    httpx.get(server.base + "/healthz", timeout=1.0)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"journey serve did not answer within {timeout} s: "
                                         f"{log_path.read_text(errors='replace')}") from None
                    time.sleep(0.05)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _bodies(workload: Path, body_lines: int) -> list[bytes]:
    with workload.open("rb") as f:
        rows = [row for row in f if row.strip()]
    return [b"".join(rows[i:i + body_lines]) for i in range(0, len(rows), body_lines)]


def _start_up(workdir: Path) -> float:
    """Seconds ``journey ingest`` of an empty file takes: the process, imports, the store."""
    empty = workdir / "empty.jsonl"
    empty.write_bytes(b"")
    started = time.perf_counter()
    subprocess.run([JOURNEY, "--db", f"sqlite:///{workdir / 'empty.db'}", "--json", "ingest",
                    str(empty)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # its log line would land amid the table
    return time.perf_counter() - started


def _post_all(base: str, bodies: list[bytes]) -> tuple[float, dict[str, Any]]:
    total: dict[str, Any] = {"read": 0, "accepted": 0, "duplicates": 0, "rejected": 0,
                             "rejected_by_reason": {}}
    with httpx.Client(base_url=base, timeout=600.0) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/v1/touchpoints", content=body,
                                   headers={"Content-Type": "application/x-ndjson"})
            response.raise_for_status()
            answer = response.json()
            for key in ("read", "accepted", "duplicates", "rejected"):
                total[key] += answer[key]
            for reason, count in answer["rejected_by_reason"].items():
                total["rejected_by_reason"][reason] = total["rejected_by_reason"].get(
                    reason, 0) + count
        seconds = time.perf_counter() - started
    total["rejected_by_reason"] = dict(sorted(total["rejected_by_reason"].items()))
    return seconds, total


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _ingest_round(workdir: Path, workload: Path, lines: int, round_: int
                  ) -> tuple[float, float, dict[str, Any]]:
    """``journey ingest`` of the workload into a fresh store: (seconds, CPU s, summary)."""
    cpu = _children_cpu()
    run = ingest("journey ingest", workload, lines, workdir / f"ingest-{round_}.db")
    return run.seconds, _children_cpu() - cpu, run.summary


def _intake_round(workdir: Path, bodies: list[bytes], round_: int
                  ) -> tuple[float, float, dict[str, Any]]:
    """The bodies posted to a fresh ``journey serve``: (seconds, the server's CPU s, summary)."""
    cpu = _children_cpu()
    with served(f"sqlite:///{workdir / f'intake-{round_}.db'}", workdir, env=QUIET) as server:
        seconds, summary = _post_all(server.base, bodies)
    return seconds, _children_cpu() - cpu, summary  # the server was waited for: counted


def intake_vs_ingest(workdir: Path, customers: int = 2500, body_lines: int = 2000,
                     rounds: int = 1) -> dict[str, Any]:
    """Time both doors on one workload of ``customers`` (about 20 lines each) in ``workdir``,
    ``rounds`` times each, alternating; prints a table and returns the figures (``ratio``:
    intake lines/s over ingest's, best rounds; ``cpu_ratio``: ingest's CPU over the server's)."""
    workload, lines = generate(workdir, customers, seed=7)
    print(f"\nintake vs ingest: {lines:,} lines ({workload.stat().st_size / 1e6:.1f} MB), "
          f"bodies of {body_lines:,} lines, one sequential client, best of {rounds}")
    start_up = _start_up(workdir)
    bodies = _bodies(workload, body_lines)
    ingests, intakes = [], []
    for round_ in range(rounds):
        ingests.append(_ingest_round(workdir, workload, lines, round_))
        intakes.append(_intake_round(workdir, bodies, round_))
    for _, _, summary in intakes:
        if summary != ingests[0][2]:
            raise SystemExit(f"the intake decided otherwise: {json.dumps(summary)} != "
                             f"{json.dumps(ingests[0][2])}")
    (ingest_s, ingest_cpu, _), (intake_s, intake_cpu, _) = min(ingests), min(intakes)
    figures = {
        "lines": lines, "bodies": len(bodies), "rounds": rounds,
        "ingest_seconds": ingest_s, "ingest_start_up_seconds": start_up,
        "intake_seconds": intake_s, "ingest_cpu_seconds": ingest_cpu,
        "serve_cpu_seconds": intake_cpu,
        "ratio": ingest_s / intake_s, "cpu_ratio": ingest_cpu / intake_cpu,
    }
    print(f"  {'door':<36}{'seconds':>9}{'lines/s':>10}{'CPU s':>8}")
    print(f"  {'journey ingest (process)':<36}{ingest_s:>9.2f}{lines / ingest_s:>10,.0f}"
          f"{ingest_cpu:>8.1f}")
    print(f"  {'  its start-up (an empty file)':<36}{start_up:>9.2f}")
    print(f"  {'POST /v1/touchpoints (CPU: server)':<36}{intake_s:>9.2f}"
          f"{lines / intake_s:>10,.0f}{intake_cpu:>8.1f}")
    verdict = "met" if figures["ratio"] >= TARGET else "NOT met"
    print(f"  intake / ingest: {figures['ratio']:.2f}x (target >= {TARGET}x: {verdict}); "
          f"by CPU {figures['cpu_ratio']:.2f}x")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2500, help="about 20 lines each")
    parser.add_argument("--body-lines", type=int, default=2000, help="lines per request")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each door")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="journey-intake-bench-") as tmp:
        intake_vs_ingest(Path(tmp), args.customers, args.body_lines, args.rounds)


if __name__ == "__main__":
    main()
