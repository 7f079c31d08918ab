"""Service views benchmark (KPIs and invoices), all figures from one run:

- ingest throughput with every view current at return, with the service view (KPIs,
  invoices) and without it: the same engine with that one projection left out, the same
  file, alternating runs, best of ``--repeat``; the ratio is what the new view costs;
- query latency on a ~1M-event SQLite log: ``kpis``, ``invoices`` (the whole document, and
  ``--status overdue``) and ``errors --contact-cost`` in-process (p50/p99 over many asks),
  and each as a fresh ``journey --json`` process (wall clock, start-up included).

    python -m benchmarks.service [--customers 50000] [--ingest-customers 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.measure import run_measured
from benchmarks.views import build_log
from journey.infra.logs import configure_logging
from journey.infra.store import open_store
from journey.infra.views.projector import view_queries

JOURNEY = str(Path(sys.executable).with_name("journey"))

#: The command line with the service projection left out: the engine as it was before it.
WITHOUT_SERVICE = (
    "import sys\n"
    "import journey.projections.tables as tables, journey.projections.views as views\n"
    "del tables.PROJECTIONS['service'], views.VIEWS['service'], views.UPGRADES['service']\n"
    "from journey.infra.cli.main import main\n"
    "sys.argv[0] = 'journey'\n"
    "main()\n"
)


def ingest_seconds(workload: Path, db: Path, with_service: bool) -> tuple[float, float]:
    """One ``journey ingest`` into a fresh SQLite file: (seconds, peak RSS MB)."""
    db.unlink(missing_ok=True)
    head = [JOURNEY] if with_service else [sys.executable, "-c", WITHOUT_SERVICE]
    command = [*head, "--log-level", "warning", "--db", f"sqlite:///{db}", "--json", "ingest",
               str(workload)]
    # Peak RSS sampled over the process tree: a waited child's ru_maxrss carries this
    # process's own peak across fork and exec (see benchmarks.measure).
    run = run_measured(command)
    if run.returncode != 0:
        raise SystemExit(f"journey ingest failed with status {run.returncode}")
    return run.seconds, run.peak_rss_mb


def ingest_ratio(workdir: Path, customers: int, repeat: int) -> None:
    workload = workdir / f"ingest-{customers}.jsonl"
    subprocess.run([JOURNEY, "--log-level", "warning", "generate", "--customers",
                    str(customers), "--seed", "11", "-o", str(workload)], check=True)
    with workload.open("rb") as f:
        lines = sum(1 for line in f if line.strip())
    best: dict[bool, tuple[float, float]] = {}
    for _ in range(repeat):
        for with_service in (False, True):
            seconds, rss = ingest_seconds(workload, workdir / "ingest.db", with_service)
            if with_service not in best or seconds < best[with_service][0]:
                best[with_service] = (seconds, rss)
    print(f"\ningest, SQLite, views current at return: {lines} lines, best of {repeat}")
    print(f"{'path':34} {'seconds':>8} {'lines/s':>9} {'peak RSS MB':>12}")
    for with_service, label in ((False, "without the service view"),
                                (True, "with the service view")):
        seconds, rss = best[with_service]
        print(f"{label:34} {seconds:8.2f} {lines / seconds:9.0f} {rss:12.0f}")
    ratio = best[False][0] / best[True][0]
    print(f"throughput with / without: {ratio:.3f} (the view costs {1 - ratio:.1%}; "
          "target: at most 15 %)")


def latencies(ask: Callable[[], Any], times: int) -> tuple[float, float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        ask()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def query_latency(url: str) -> None:
    app = open_store(url, create=False)
    try:
        with view_queries(app) as views:
            events = app.journey_recorder.position()
            report = views.invoices()
            print(f"\nqueries on a log of {events:,} events "
                  f"({len(report['invoices']):,} invoices, "
                  f"{len(views.kpis()['cases'])} months of cases), in-process:")
            print(f"{'query':34} {'p50 ms':>8} {'p99 ms':>8}")
            cost = Decimal("12.50")
            for label, ask, times in (
                ("kpis", views.kpis, 300),
                ("kpis --from/--to (one quarter)", lambda: views.kpis("2026-01", "2026-03"), 300),
                ("invoices --status overdue", lambda: views.invoices(status="overdue"), 30),
                ("invoices (every invoice)", views.invoices, 10),
                ("errors --contact-cost 12.50", lambda: views.errors(contact_cost=cost), 100),
            ):
                p50, p99 = latencies(ask, times)
                print(f"{label:34} {p50:8.1f} {p99:8.1f}")
    finally:
        app.close()
    print("\nas a fresh `journey --json` process (wall clock, start-up included):")
    for args in (["kpis"], ["invoices", "--status", "overdue"], ["invoices"]):
        started = time.perf_counter()
        subprocess.run([JOURNEY, "--db", url, "--json", *args], check=True,
                       stdout=subprocess.DEVNULL)
        print(f"journey {' '.join(args):26} {(time.perf_counter() - started) * 1000:8.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50_000,
                        help="customers of the query log (50,000: ~1M events)")
    parser.add_argument("--ingest-customers", type=int, default=10_000,
                        help="customers of the ingest comparison (about 20 lines each)")
    parser.add_argument("--repeat", type=int, default=2, help="ingest runs per path")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the log in this folder")
    args = parser.parse_args()
    configure_logging("warning")
    with tempfile.TemporaryDirectory(prefix="journey-bench-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ingest_ratio(Path(tmp), args.ingest_customers, args.repeat)
        query_latency(build_log(workdir, args.customers))


if __name__ == "__main__":
    main()
