"""Ingest benchmark (issue 15): ``journey ingest`` against its floor, same files, same run.

Two workloads: the one ``journey generate`` writes (all five kinds, a few bad lines), and a
purchase-heavy one (``benchmarks.purchases``: placed, delivered, invoiced, paid). For each:

- the floor (``benchmarks.floors``): ``json.loads`` + re-serialise + ``executemany`` of the same
  lines into a fresh SQLite file, run before, between and after the ingests: the fastest counts;
- ``journey ingest`` into a fresh SQLite file: a separate process, every view current when it
  returns; its ratio to the floor (target >= 0.25x) and its peak RSS;
- the same into PostgreSQL, its own schema, when JOURNEY_BENCH_POSTGRES (or
  JOURNEY_TEST_POSTGRES) names a database: target >= 10k lines/s, ratio to the same floor.

``--million`` adds ~1M generated lines: peak RSS (target <= 500 MB) and RSS over the run, flat
after the first batches. ``--naive`` adds the first issue's comparison: the same engine with
one save per touchpoint and no cache (target: batched >= 8x). ``--quick`` (make bench-quick) is
the regression guard: ~20k lines per workload, the SQLite ingest three times (the fastest
counts), under a minute here. Rates are wall clock, the ingest's interpreter start included;
CPU seconds are the ingest's with its views follower's. First it prints how much a second
CPU-bound process adds on this machine (``measure.parallel_scaling``): the follower's gain
is bounded by it.

    python -m benchmarks.ingest [--customers 2500] [--purchase-lines 279000] [--quick]
                                [--million] [--naive] [--repeat N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.floors import Floor, sqlite_floor
from benchmarks.measure import parallel_scaling, rss_at, run_measured, sparkline

JOURNEY = str(Path(sys.executable).with_name("journey"))
TARGET_RATIO = 0.25
TARGET_PG_RATE = 10_000
TARGET_RSS_MB = 500
PG_SCHEMA = "bench_ingest_{}"


@dataclass
class Run:
    name: str
    lines: int
    seconds: float
    peak_rss_mb: float
    summary: dict[str, object]
    samples: list[tuple[float, float]] = field(default_factory=list)
    cpu: float = 0.0  # CPU seconds of the ingest and its views follower

    @property
    def rate(self) -> float:
        return self.lines / self.seconds


def count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def generate(workdir: Path, customers: int, seed: int = 1) -> tuple[Path, int]:
    """The ``journey generate`` workload of ``customers`` (about 20 lines each)."""
    path = workdir / f"workload-{customers}-{seed}.jsonl"
    run = run_measured([JOURNEY, "generate", "--customers", str(customers), "--seed", str(seed),
                        "-o", str(path)], env={"JOURNEY_LOG_LEVEL": "warning"})
    if run.returncode != 0:
        raise SystemExit(f"journey generate failed with status {run.returncode}")
    return path, count_lines(path)


def generate_purchases(workdir: Path, lines: int, seed: int = 3) -> tuple[Path, int]:
    """The purchase-heavy workload, written by a process of its own: this one stays small."""
    path = workdir / f"purchases-{lines}-{seed}.jsonl"
    run = run_measured([sys.executable, "-m", "benchmarks.purchases", "--lines", str(lines),
                        "--seed", str(seed), "-o", str(path)])
    if run.returncode != 0:
        raise SystemExit(f"benchmarks.purchases failed with status {run.returncode}")
    return path, count_lines(path)


def ingest(name: str, workload: Path, lines: int, db: Path | str, *extra: str,
           env: dict[str, str] | None = None) -> Run:
    """``journey ingest`` of ``workload`` into ``db`` (a SQLite file, or a store URL)."""
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    command = [JOURNEY, "--db", url, "--json", "ingest", str(workload), *extra]
    run = run_measured(command, env={"JOURNEY_LOG_LEVEL": "warning", **(env or {})})
    if run.returncode != 0:
        raise SystemExit(f"{name}: journey ingest failed with status {run.returncode}")
    return Run(name, lines, run.seconds, run.peak_rss_mb, json.loads(run.stdout), run.samples,
               run.cpu)


def postgres_base() -> str | None:
    return os.environ.get("JOURNEY_BENCH_POSTGRES") or os.environ.get("JOURNEY_TEST_POSTGRES")


def drop_schema(base: str, schema: str) -> None:
    import psycopg  # only with PostgreSQL
    from psycopg.sql import SQL, Identifier

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))


@dataclass
class Row:
    workload: str
    path: str
    lines: int
    seconds: float
    peak_rss_mb: float | None
    floor: Floor | None  # what the ratio is taken against; None: the floor itself
    target: str = ""
    cpu: float | None = None  # CPU seconds, process tree (the floor: not measured)

    @property
    def rate(self) -> float:
        return self.lines / self.seconds

    @property
    def ratio(self) -> float:
        return self.rate / self.floor.rate if self.floor else 1.0


def interleaved(workload: Path, workdir: Path, runs: list[Callable[[], None]]) -> Floor:
    """The floor of ``workload``, run before, between and after ``runs``: the fastest, as the
    noise of a shared machine only ever slows a run down."""
    floors = [sqlite_floor(workload, workdir / "floor.db")]
    for run in runs:
        run()
        floors.append(sqlite_floor(workload, workdir / "floor.db"))
    return min(floors, key=lambda floor: floor.seconds)


def bench_workload(label: str, workload: Path, lines: int, workdir: Path,
                   postgres: str | None, keep: bool, repeat: int = 1
                   ) -> tuple[list[Row], list[Run]]:
    """The floor and the ingest rows of one workload; the SQLite ingest ``repeat`` times, each
    into a fresh file, the fastest counts."""
    sqlite_runs: list[Run] = []
    pg_runs: list[Run] = []

    def sqlite_ingest() -> None:
        db = workdir / f"{label}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        sqlite_runs.append(ingest(f"{label}, SQLite", workload, lines, db))

    def pg_ingest() -> None:
        assert postgres is not None
        schema = PG_SCHEMA.format(label.replace("-", "_"))
        drop_schema(postgres, schema)
        separator = "&" if "?" in postgres else "?"
        pg_runs.append(ingest(f"{label}, PostgreSQL", workload, lines,
                              f"{postgres}{separator}schema={schema}"))
        if not keep:
            drop_schema(postgres, schema)

    floor = interleaved(workload, workdir,
                        [sqlite_ingest] * repeat + ([pg_ingest] if postgres else []))
    runs = [min(sqlite_runs, key=lambda run: run.seconds), *pg_runs]
    best = runs[0]
    rows = [Row(label, "floor: json + executemany", lines, floor.seconds, None, None)]
    name = "journey ingest, SQLite" + (f" (best of {repeat})" if repeat > 1 else "")
    rows.append(Row(label, name, lines, best.seconds, best.peak_rss_mb, floor,
                    f">= {TARGET_RATIO}x", best.cpu))
    for run in pg_runs:
        rows.append(Row(label, "journey ingest, PostgreSQL", lines, run.seconds,
                        run.peak_rss_mb, floor, f">= {TARGET_PG_RATE // 1000}k/s", run.cpu))
    return rows, runs


def print_table(rows: list[Row]) -> None:
    print(f"\n{'workload':12} {'path':34} {'lines':>9} {'seconds':>8} {'CPU s':>6} "
          f"{'lines/s':>8} {'peak RSS MB':>11} {'vs floor':>8}  target")
    for row in rows:
        rss = f"{row.peak_rss_mb:11.0f}" if row.peak_rss_mb is not None else f"{'-':>11}"
        cpu = f"{row.cpu:6.1f}" if row.cpu is not None else f"{'-':>6}"
        print(f"{row.workload:12} {row.path:34} {row.lines:9d} {row.seconds:8.1f} {cpu} "
              f"{row.rate:8.0f} {rss} {row.ratio:7.2f}x  {row.target}")


def print_rss_profile(run: Run) -> None:
    growth = rss_at(run.samples, 1.0) - rss_at(run.samples, 0.1)
    print(f"\n{run.name}: peak RSS {run.peak_rss_mb:.0f} MB (target <= {TARGET_RSS_MB} MB); "
          f"RSS at 10 % {rss_at(run.samples, 0.1):.0f} MB, 50 % {rss_at(run.samples, 0.5):.0f} "
          f"MB, 100 % {rss_at(run.samples, 1.0):.0f} MB ({growth:+.0f} MB from 10 % to the end)")
    print(f"RSS over the run, 0..{run.peak_rss_mb:.0f} MB: {sparkline(run.samples)}")


def print_summaries(runs: list[Run]) -> None:
    print()
    for run in runs:
        s = run.summary
        print(f"{run.name}: read {s.get('read')}, accepted {s.get('accepted')}, "
              f"duplicates {s.get('duplicates')}, rejected {s.get('rejected')}")
    for a, b in itertools.pairwise(runs):
        if a.name.split(",")[0] == b.name.split(",")[0] and a.summary != b.summary:
            print(f"!! {a.name} and {b.name} decided differently")


def naive_row(workload: Path, lines: int, share: float, workdir: Path, batched: Row) -> Row:
    """The first issue's comparison: one save per touchpoint, no cache, on a leading share."""
    naive_lines, naive_file = int(lines * share), workdir / "naive.jsonl"
    with workload.open("rb") as src, naive_file.open("wb") as dst:
        for _, row in zip(range(naive_lines), src, strict=False):
            dst.write(row)
    naive = ingest("naive", naive_file, naive_lines, workdir / "naive.db", "--batch-size", "1",
                   env={"JOURNEY_CACHE_SIZE": "0"})
    return Row(batched.workload, "naive: 1 save/touchpoint", naive_lines, naive.seconds,
               naive.peak_rss_mb, batched.floor, "batched / naive >= 8x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2500,
                        help="generated workload, about 20 lines each (2500: ~51k lines)")
    parser.add_argument("--purchase-lines", type=int, default=279_000)
    parser.add_argument("--quick", action="store_true",
                        help="the regression guard: 1000 customers, 20k purchase lines")
    parser.add_argument("--million", action="store_true",
                        help="also ingest ~1M generated lines: peak RSS and RSS over the run")
    parser.add_argument("--naive", action="store_true",
                        help="also run one save per touchpoint on a share of the workload")
    parser.add_argument("--naive-share", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=1,
                        help="SQLite ingests per workload, the fastest counts (--quick: 3)")
    parser.add_argument("--keep", type=Path, help="keep workloads and stores in this directory")
    args = parser.parse_args()
    if args.quick:
        args.customers, args.purchase_lines = 1000, 20_000
        args.repeat = max(args.repeat, 3)
    postgres = postgres_base()
    print(f"this machine: two CPU-bound processes do {parallel_scaling():.2f}x the work of "
          "one (2.00x: two free cores); the views follow an ingest in a second process",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="journey-bench-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        rows, runs = run_all(args, workdir, postgres)
    print_summaries(runs)
    if args.million:
        print_rss_profile(runs[-1])
    print_table(rows)
    if not postgres:
        print("\n(PostgreSQL rows: set JOURNEY_BENCH_POSTGRES=postgresql://... )")
    guard = ", ".join(f"{r.workload} {r.ratio:.2f}x" for r in rows
                      if r.path.startswith("journey ingest, SQLite"))
    print(f"\ningest / floor, SQLite: {guard} (target >= {TARGET_RATIO}x)")
    naive = [r for r in rows if r.path.startswith("naive")]
    if naive:
        print(f"batched / naive (generated): {rows[1].rate / naive[0].rate:.1f}x (target >= 8x)")


def run_all(args: argparse.Namespace, workdir: Path,
            postgres: str | None) -> tuple[list[Row], list[Run]]:
    rows: list[Row] = []
    runs: list[Run] = []
    generated, generated_lines = generate(workdir, args.customers)
    bought, bought_lines = generate_purchases(workdir, args.purchase_lines)
    for label, path, lines in (("generated", generated, generated_lines),
                               ("purchases", bought, bought_lines)):
        print(f"{label}: {lines} lines, {path.stat().st_size / 1e6:.1f} MB", flush=True)
        more_rows, more_runs = bench_workload(label, path, lines, workdir, postgres,
                                              args.keep is not None, args.repeat)
        rows += more_rows
        runs += more_runs
    if args.naive:
        rows.append(naive_row(generated, generated_lines, args.naive_share, workdir, rows[1]))
    if args.million:
        big, big_lines = generate(workdir, 50_000, seed=2)
        print(f"million: {big_lines} lines, {big.stat().st_size / 1e6:.1f} MB", flush=True)
        more_rows, more_runs = bench_workload("million", big, big_lines, workdir, None,
                                              args.keep is not None)
        rows += more_rows
        more_rows[-1].target += f", RSS <= {TARGET_RSS_MB} MB"
        runs += more_runs
    return rows, runs


if __name__ == "__main__":
    main()
