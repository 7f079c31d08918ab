"""``journey serve`` under load, all figures from one run:

- query latency at ~1M events: ``timeline`` (a random customer each time), ``stock`` and
  ``errors`` from N concurrent clients (default 50), each a keep-alive connection, for a
  fixed time: first paced (each client asking ``--rate`` times a second, latency counted
  from when a request was due), then closed loop (each asking again as soon as it has its
  answer: the server's saturation throughput, where latency is clients / throughput);
  p50 / p90 / p99 and requests per second, measured by the client around each request.
  The client is aiohttp: httpx's AsyncClient tops out near 120 requests/s here with the
  client at a whole core (it would measure itself, not the server);
- the intake against ``journey ingest`` of the same lines (``benchmarks.http``).

The server is a real ``journey serve`` process on a loopback port; the client is this
process (asyncio, aiohttp), on the same 2 cores: what the client spends is not the server's.

    python -m benchmarks.serve [--customers 50000] [--clients 50] [--rate 10] [--seconds 10]
                               [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from benchmarks.views import build_log
from tests.http_support import served

#: The issue's target for timeline and stock under 50 clients.
P99_TARGET_MS = 25.0


async def _load(base: str, path_of: Callable[[random.Random], str], clients: int,
                seconds: float, rate: float | None = None) -> tuple[list[float], int]:
    """``clients`` connections asking for ``path_of(rng)`` until ``seconds`` have passed:
    every latency (ms) and the count of answers that were not 200.

    ``rate`` None: each client asks again as soon as it has its answer (closed loop: the
    latency is then the concurrency over the server's throughput). A ``rate``: each client
    asks ``rate`` times a second on a fixed schedule, and a latency counts from the moment
    its request was due (a late answer delays the next request: that wait is counted too,
    so a saturated server cannot hide behind fewer requests)."""
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=30)) as client:
        deadline = time.perf_counter() + seconds

        async def one(seed: int) -> None:
            nonlocal failures
            rng = random.Random(seed)
            due = time.perf_counter() + (rng.random() / rate if rate else 0.0)
            while due < deadline:
                path = path_of(rng)
                now = time.perf_counter()
                if rate and due > now:
                    await asyncio.sleep(due - now)
                started = due if rate else time.perf_counter()
                due = (due + 1 / rate) if rate else time.perf_counter()
                async with client.get(path) as response:
                    await response.read()
                latencies.append((time.perf_counter() - started) * 1000)
                failures += response.status != 200

        await asyncio.gather(*(one(seed) for seed in range(clients)))
    return latencies, failures


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


QUERIES: list[tuple[str, Callable[[int], Callable[[random.Random], str]], bool]] = [
    # the floor: a route that does nothing (the framework and the HTTP stack alone)
    ("GET /healthz (floor: no work)", lambda _n: lambda _rng: "/healthz", False),
    ("GET /v1/customers/{id}/timeline",
     lambda n: lambda rng: f"/v1/customers/CUST-{rng.randint(1, n):07d}/timeline", True),
    ("GET /v1/stock", lambda _n: lambda _rng: "/v1/stock", True),
    ("GET /v1/stock?needs_reorder=true",
     lambda _n: lambda _rng: "/v1/stock?needs_reorder=true", True),
    ("GET /v1/errors", lambda _n: lambda _rng: "/v1/errors", False),
]


def latency(base: str, customers: int, clients: int, seconds: float,
            rate: float | None) -> None:
    mode = ("closed loop: each asks again at once" if rate is None else
            f"each asking {rate:g} times a second, {clients * rate:,.0f} requests/s offered")
    print(f"\nquery latency, {clients} concurrent keep-alive clients ({mode}), "
          f"{seconds:g} s each, measured by the client:")
    print(f"  {'query':<34}{'requests/s':>11}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
          f"{'errors':>8}  target")
    for name, paths, targeted in QUERIES:
        path_of = paths(customers)
        asyncio.run(_load(base, path_of, clients, 1.0, rate))  # warm-up: connections
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        latencies, failures = asyncio.run(_load(base, path_of, clients, seconds, rate))
        wall = time.perf_counter() - started
        used = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = (used.ru_utime - cpu.ru_utime + used.ru_stime - cpu.ru_stime) / wall
        p99 = percentile(latencies, 99)
        verdict = "" if not targeted else (
            f"p99 <= {P99_TARGET_MS:g} ms: {'met' if p99 <= P99_TARGET_MS else 'NOT met'}")
        print(f"  {name:<34}{len(latencies) / wall:>11,.0f}{percentile(latencies, 50):>9.1f}"
              f"{percentile(latencies, 90):>9.1f}{p99:>9.1f}{failures:>8}  {verdict}"
              f"  (client used {client_cpu:.0%} of a core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=10.0,
                        help="requests a second per client in the paced run")
    parser.add_argument("--keep", type=Path, help="a directory to keep the store in")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="journey-serve-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    url = build_log(workdir, args.customers)
    print(f"journey serve benchmark: {args.customers:,} customers, {os.cpu_count()} cores, "
          f"store {url}")
    with served(url, workdir, env={"JOURNEY_LOG_LEVEL": "warning"}, timeout=120) as base:
        latency(base, args.customers, args.clients, args.seconds, args.rate)
        latency(base, args.customers, args.clients, args.seconds, None)
    try:
        from benchmarks.http import intake_vs_ingest
    except ImportError:
        print("\n(intake benchmark: benchmarks.http not present)", file=sys.stderr)
        return
    intake_vs_ingest(workdir)


if __name__ == "__main__":
    main()
