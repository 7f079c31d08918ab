"""Views benchmark on a ~1M-event SQLite log, all figures from one run:

- rebuild of all views (events/s; at this size it folds in a worker process), next to
  (a) the same folds with one transaction per event (the shape of eventsourcing's
      ProjectionRunner, which cannot follow a SQLite log) on a leading slice, and
  (b) the raw rate of reading and decoding the same log with the library's mapper;
  and, for reference, reading with the views' own decoder (orjson, only what views read);
- query latency at that size: timeline p99, errors, stock.

    python -m benchmarks.views [--customers 50000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from journey.infra.logs import configure_logging
from journey.infra.store import open_store
from journey.infra.views.decoder import ViewDecoder
from journey.infra.views.projector import Projector, view_queries

JOURNEY = str(Path(sys.executable).with_name("journey"))


def build_log(workdir: Path, customers: int) -> str:
    db = workdir / f"log-{customers}.db"
    url = f"sqlite:///{db}"
    if not db.exists():
        workload = workdir / f"workload-{customers}.jsonl"
        subprocess.run([JOURNEY, "generate", "--customers", str(customers), "--seed", "3",
                        "-o", str(workload)], check=True)
        subprocess.run([JOURNEY, "--db", url, "--json", "ingest", str(workload)], check=True,
                       stdout=subprocess.DEVNULL)
    return url


def raw_read_decode(url: str) -> tuple[int, float]:
    app = open_store(url)
    decode, recorder = app.mapper.to_domain_event, app.recorder
    started, count, start = time.perf_counter(), 0, 1
    while batch := recorder.select_notifications(start=start, limit=5000):
        for notification in batch:
            decode(notification)
        count += len(batch)
        start = batch[-1].id + 1
    seconds = time.perf_counter() - started
    app.close()
    return count, seconds


def views_read_decode(url: str) -> tuple[int, float]:
    app = open_store(url)
    decode = ViewDecoder(app)
    started, count = time.perf_counter(), 0
    for batch in app.journey_recorder.read_log_batches(0, 5000):
        for entry in batch:
            decode(entry)
        count += len(batch)
    seconds = time.perf_counter() - started
    app.close()
    return count, seconds


def rebuild(url: str, worker_min_events: int = 50_000) -> tuple[int, float]:
    app = open_store(url)
    started = time.perf_counter()
    done = Projector(app, worker_min_events=worker_min_events).rebuild(["stock", "touchpoints"])
    seconds = time.perf_counter() - started
    app.close()
    return done, seconds


def per_event_transactions(url: str, events: int) -> tuple[int, float]:
    """The same folds, one transaction (and tracking update) per event, into fresh tables."""
    app = open_store(url)
    projector = Projector(app, batch_size=1, worker_min_events=sys.maxsize)
    recorder = app.journey_recorder
    original = recorder.read_log
    seen = [0]

    def limited(c: object, after: int, limit: int) -> list:  # type: ignore[type-arg]
        if seen[0] >= events:
            return []
        seen[0] += 1
        return original(c, after, limit)

    recorder.read_log = limited  # type: ignore[method-assign]
    started = time.perf_counter()
    try:
        projector.rebuild(["stock", "touchpoints"], swap=False)
    finally:
        seconds = time.perf_counter() - started
        app.close()
    return seen[0], seconds


def latencies(url: str) -> dict[str, list[float]]:
    app = open_store(url)
    with app.journey_recorder.read_rows() as c:
        c.execute("SELECT DISTINCT customer_id FROM view_touchpoints LIMIT 20000")
        customers = [row[0] for row in c.fetchall() if row[0]]
        c.execute("SELECT part_id FROM view_stock")
        parts = [row[0] for row in c.fetchall()]
    rng = random.Random(7)
    timings: dict[str, list[float]] = {"timeline": [], "errors": [], "stock": [],
                                       "stock --part": []}
    with view_queries(app) as views:
        for _ in range(1000):
            customer = rng.choice(customers)
            started = time.perf_counter()
            views.timeline(customer)
            timings["timeline"].append(time.perf_counter() - started)
        for name, call in (("errors", views.errors), ("stock", views.stock),
                           ("stock --part", lambda: views.stock(part_id=rng.choice(parts)))):
            for _ in range(200):
                started = time.perf_counter()
                call()
                timings[name].append(time.perf_counter() - started)
    app.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50_000, help="~20 touchpoints each")
    parser.add_argument("--per-event-slice", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the log in this folder")
    args = parser.parse_args()
    configure_logging("warning")
    with tempfile.TemporaryDirectory(prefix="journey-views-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        url = build_log(workdir, args.customers)
        read_n, read_s = raw_read_decode(url)
        own_n, own_s = views_read_decode(url)
        slice_n, slice_s = per_event_transactions(url, args.per_event_slice)
        here_n, here_s = rebuild(url, worker_min_events=sys.maxsize)
        rebuild_n, rebuild_s = rebuild(url)
        timings = latencies(url)
    rows = [("read + decode the log (b)", read_n, read_s),
            ("read + the views' decoder", own_n, own_s),
            ("rebuild all views", rebuild_n, rebuild_s),
            ("  the same, folding in-process", here_n, here_s),
            ("1 transaction per event (a)", slice_n, slice_s)]
    print(f"\n{'path':34} {'events':>9} {'seconds':>8} {'events/s':>9}")
    for name, n, s in rows:
        print(f"{name:34} {n:9d} {s:8.1f} {n / s:9.0f}")
    rebuild_rate = rebuild_n / rebuild_s
    print(f"\nrebuild / per-event transactions: {rebuild_rate / (slice_n / slice_s):.1f}x "
          "(target >= 10x)")
    print(f"rebuild / read+decode:            {rebuild_rate / (read_n / read_s):.2f}x "
          "(target >= 0.5x)")
    print(f"rebuild / read + views' decoder:  {rebuild_rate / (own_n / own_s):.2f}x")
    print(f"\n{'query':14} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, values in timings.items():
        ms = sorted(v * 1000 for v in values)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        print(f"{name:14} {len(ms):5d} {statistics.median(ms):8.2f} {p99:8.2f} {ms[-1]:8.2f}")


if __name__ == "__main__":
    main()
