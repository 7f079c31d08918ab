"""Ingest benchmark: `journey ingest` (batched) against the naive path, same workload, same run.

The naive path is the same engine with one application save per touchpoint and no
aggregate cache (``--batch-size 1``, ``JOURNEY_CACHE_SIZE=0``): what one writes first.
Each run is a fresh SQLite file and a separate ``journey`` process, so peak RSS is its own.

    python -m benchmarks.ingest [--customers 10000] [--million]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

JOURNEY = str(Path(sys.executable).with_name("journey"))


@dataclass
class Run:
    name: str
    lines: int
    seconds: float
    peak_rss_mb: float
    summary: dict[str, object]

    @property
    def rate(self) -> float:
        return self.lines / self.seconds


def generate(workdir: Path, customers: int, seed: int = 1) -> tuple[Path, int]:
    path = workdir / f"workload-{customers}-{seed}.jsonl"
    subprocess.run([JOURNEY, "generate", "--customers", str(customers), "--seed", str(seed),
                    "-o", str(path)], check=True)
    with path.open("rb") as f:
        count = sum(1 for line in f if line.strip())
    return path, count


def ingest(name: str, workload: Path, lines: int, db: Path, *extra: str,
           env: dict[str, str] | None = None) -> Run:
    command = [JOURNEY, "--db", f"sqlite:///{db}", "--json", "ingest", str(workload), *extra]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env={**os.environ, **(env or {})})
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{name}: journey ingest failed with status {status}")
    return Run(name, lines, seconds, usage.ru_maxrss / 1024, json.loads(output))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000, help="about 20 lines each")
    parser.add_argument("--naive-share", type=float, default=1.0,
                        help="run the naive path on this leading share of the workload")
    parser.add_argument("--million", action="store_true",
                        help="also ingest ~1M lines to check peak RSS stays under 500 MB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="journey-bench-") as tmp:
        workdir = Path(tmp)
        workload, lines = generate(workdir, args.customers)
        print(f"workload: {lines} lines, {workload.stat().st_size / 1e6:.1f} MB", flush=True)
        batched = ingest("batched (journey ingest)", workload, lines, workdir / "batched.db")
        naive_file, naive_lines = workload, lines
        if args.naive_share < 1.0:
            naive_lines = int(lines * args.naive_share)
            naive_file = workdir / "naive.jsonl"
            with workload.open("rb") as src, naive_file.open("wb") as dst:
                for _, row in zip(range(naive_lines), src, strict=False):
                    dst.write(row)
        naive = ingest("naive (1 save/touchpoint)", naive_file, naive_lines,
                       workdir / "naive.db", "--batch-size", "1",
                       env={"JOURNEY_CACHE_SIZE": "0"})
        runs = [batched, naive]
        if args.million:
            big, big_lines = generate(workdir, 50_000, seed=2)
            runs.append(ingest("batched, ~1M lines", big, big_lines, workdir / "big.db"))
    print(f"\n{'path':32} {'lines':>9} {'seconds':>9} {'lines/s':>9} {'peak RSS MB':>12}")
    for run in runs:
        print(f"{run.name:32} {run.lines:9d} {run.seconds:9.1f} {run.rate:9.0f} "
              f"{run.peak_rss_mb:12.0f}")
    print(f"\nratio batched / naive: {batched.rate / naive.rate:.1f}x (target >= 8x)")
    print(f"batched summary: {json.dumps(batched.summary)}")


if __name__ == "__main__":
    main()
