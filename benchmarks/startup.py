"""Start-up benchmark: how long a short command takes from the shell, all figures from one run.

Each row is the median wall clock of ``--runs`` fresh processes (the last run's output
discarded), side by side with ``python -c pass``, the floor no Python command goes below:

- ``journey timeline C-1 --json`` on a small store (20 customers, built once here);
- ``journey --version`` (the command line's registrations, no store);
- ``import journey.infra.cli.main`` alone (the imports every command pays).

    python -m benchmarks.startup [--runs 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOURNEY = str(Path(sys.executable).with_name("journey"))
#: The issue's target for a query on a small store (issue 15), milliseconds.
TARGET_MS = 300


def build_store(workdir: Path) -> str:
    """A small store (20 customers, ~400 touchpoints) with its views current."""
    db = workdir / "startup.db"
    url = f"sqlite:///{db}"
    if not db.exists():
        workload = workdir / "startup.jsonl"
        subprocess.run([JOURNEY, "generate", "--customers", "20", "--seed", "1",
                        "-o", str(workload)], check=True, stderr=subprocess.DEVNULL)
        subprocess.run([JOURNEY, "--db", url, "--json", "ingest", str(workload)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return url


def median_ms(command: list[str], runs: int) -> float:
    """The median wall clock of ``runs`` fresh processes, after one warm-up run."""
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # warm the file cache
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="processes per row (median)")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the store in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="journey-startup-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        url = build_store(workdir)
        floor = median_ms([sys.executable, "-c", "pass"], args.runs)
        rows = [
            ("journey timeline C-1", median_ms(
                [JOURNEY, "--db", url, "--json", "timeline", "C-1"], args.runs)),
            ("journey --version", median_ms([JOURNEY, "--version"], args.runs)),
            ("import journey.infra.cli.main", median_ms(
                [sys.executable, "-c", "import journey.infra.cli.main"], args.runs)),
        ]
    print(f"\n{'command':32} {'median ms':>10} {'x floor':>8}")
    print(f"{'python -c pass (floor)':32} {floor:10.0f} {1:8.1f}")
    for name, ms in rows:
        print(f"{name:32} {ms:10.0f} {ms / floor:8.1f}")
    timeline = rows[0][1]
    print(f"\njourney timeline C-1: {timeline:.0f} ms (target <= {TARGET_MS} ms: "
          f"{'met' if timeline <= TARGET_MS else 'NOT met'})")


if __name__ == "__main__":
    main()
