"""``journey serve`` under load, all figures from one run:

- query latency at ~1M events: ``timeline`` (a random customer each time), ``stock`` and
  ``errors`` from N concurrent clients (default 50), each a keep-alive connection, for a
  fixed time: first paced (each client asking ``--rate`` times a second, latency counted
  from when a request was due), then closed loop (each asking again as soon as it has its
  answer: the server's saturation throughput, where the mean latency is clients over
  throughput); p50 / p99 / max and requests per second, measured by the client from the
  moment a request is due (paced) or sent (closed loop) to the last byte of its answer;
- the intake against ``journey ingest`` of the same lines (``benchmarks.http``).

The server is a real ``journey serve`` process on a loopback port; the clients are
``--client-processes`` processes (aiohttp on uvloop, the clients shared out between them) on
the same cores: what the clients spend is CPU the server does not get, so each row says how
much CPU the clients used (share of one core) and the server (microseconds per answer, the
figure that does not move with the machine's load). aiohttp, not httpx: httpx's AsyncClient
tops out near 120 requests/s here with the client at a whole core (it would measure itself,
not the server). A latency ends when the whole body is in, as sent (gzipped for a client
that takes gzip, as aiohttp says it does), before the client decodes it.

    python -m benchmarks.serve [--customers 50000] [--clients 50] [--rate 10] [--seconds 10]
                               [--client-processes 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.pool
import os
import random
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import uvloop

from benchmarks.http import QUIET, Server, intake_vs_ingest, served
from benchmarks.views import build_log

#: The issue's target for timeline and stock under 50 clients.
P99_TARGET_MS = 25.0

PathOf = Callable[[random.Random], str]
T = TypeVar("T")


def _timeline(customers: int) -> PathOf:
    return lambda rng: f"/v1/customers/CUST-{rng.randint(1, customers):07d}/timeline"


#: (name, path maker, whether the issue's target applies)
QUERIES: list[tuple[str, Callable[[int], PathOf], bool]] = [
    # a route that does nothing, the long way (FastAPI's routing, middlewares and handler):
    # what the views' answers cost before they took the short way (``infra.http.hot``)
    ("GET /healthz (FastAPI, no work)", lambda _n: lambda _rng: "/healthz", False),
    ("GET /v1/customers/{id}/timeline", _timeline, True),
    ("GET /v1/stock", lambda _n: lambda _rng: "/v1/stock", True),
    ("GET /v1/stock?needs_reorder=true",
     lambda _n: lambda _rng: "/v1/stock?needs_reorder=true", True),
    ("GET /v1/errors", lambda _n: lambda _rng: "/v1/errors", False),
]


async def _load(base: str, path_of: PathOf, clients: int, seeds: range, until: float,
                rate: float | None = None) -> tuple[list[float], int]:
    """``clients`` connections asking for ``path_of(rng)`` until ``until`` (``perf_counter``):
    every latency (ms) and the count of answers that were not 200.

    ``rate`` None: each client asks again as soon as it has its answer (closed loop: the
    latency is then the concurrency over the server's throughput). A ``rate``: each client
    asks ``rate`` times a second on a fixed schedule, and a latency counts from the moment
    its request was due (a late answer delays the next request: that wait is counted too,
    so a saturated server cannot hide behind fewer requests)."""
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=clients)
    # The body as it comes (gzipped for a client that takes gzip): a latency ends when the
    # whole body is in, before the client decodes it (as before it parses the JSON).
    async with aiohttp.ClientSession(base, connector=connector, auto_decompress=False,
                                     timeout=aiohttp.ClientTimeout(total=30)) as client:

        async def one(seed: int) -> None:
            nonlocal failures
            rng = random.Random(seed)
            due = time.perf_counter() + (rng.random() / rate if rate else 0.0)
            while due < until:
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

        await asyncio.gather(*(one(seed) for seed in seeds))
    return latencies, failures


def _client(base: str, query: int, customers: int, seeds: range, start_at: float,
            seconds: float, rate: float | None) -> tuple[list[float], int, float]:
    """One client process: its share of the clients, from ``start_at`` (``time.time()``, the
    same moment in every process) for ``seconds``; (latencies, failures, CPU seconds)."""
    path_of = QUERIES[query][1](customers)
    run(_load(base, path_of, len(seeds), seeds, time.perf_counter() + 0.5, rate))
    time.sleep(max(0.0, start_at - time.time()))  # warmed up: now all together
    cpu = time.process_time()
    until = time.perf_counter() + seconds
    latencies, failures = run(_load(base, path_of, len(seeds), seeds, until, rate))
    return latencies, failures, time.process_time() - cpu


def run(load: Coroutine[Any, Any, T]) -> T:
    """``load`` on uvloop's event loop (as the server's): the client's own cost is CPU
    the server does not get, on the same cores."""
    return uvloop.run(load)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _shares(clients: int, processes: int) -> list[range]:
    """The clients' seeds, shared out between ``processes`` processes."""
    cuts = [clients * i // processes for i in range(processes + 1)]
    return [range(cuts[i], cuts[i + 1]) for i in range(processes) if cuts[i + 1] > cuts[i]]


def latency(server: Server, customers: int, clients: int, seconds: float, rate: float | None,
            pool: multiprocessing.pool.Pool, processes: int, only: Sequence[str] = ()
            ) -> dict[str, dict[str, float]]:
    """One table: each query (``only`` these names, if given) under ``clients`` clients
    (paced at ``rate``, or closed loop); returns its figures by query name."""
    mode = ("closed loop: each asks again at once" if rate is None else
            f"each asking {rate:g} times a second, {clients * rate:,.0f} requests/s offered")
    print(f"\nquery latency, {clients} concurrent keep-alive clients in {processes} "
          f"process{'es' if processes > 1 else ''} ({mode}), {seconds:g} s each, measured "
          "by the client:")
    print(f"  {'query':<34}{'requests/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
          f"{'non-200':>8}{'clients CPU':>12}{'server µs/req':>14}  target")
    figures = {}
    for index, (name, _, targeted) in enumerate(QUERIES):
        if only and name not in only:
            continue
        start_at = time.time() + 1.5  # after every process's warm-up
        jobs = [pool.apply_async(_client, (server.base, index, customers, share, start_at,
                                           seconds, rate))
                for share in _shares(clients, processes)]
        time.sleep(max(0.0, start_at - time.time()))
        server_cpu = server.cpu_seconds()
        results = [job.get() for job in jobs]
        server_cpu = server.cpu_seconds() - server_cpu
        latencies = [ms for result in results for ms in result[0]]
        failures = sum(result[1] for result in results)
        clients_cpu = sum(result[2] for result in results) / seconds
        p99 = percentile(latencies, 99)
        row = {"rps": len(latencies) / seconds, "p50": percentile(latencies, 50), "p99": p99,
               "max": max(latencies), "failures": failures, "clients_cpu": clients_cpu,
               "server_us": server_cpu / len(latencies) * 1e6}
        figures[name] = row
        verdict = "" if not targeted else (
            f"p99 <= {P99_TARGET_MS:g} ms: "
            f"{'met' if p99 <= P99_TARGET_MS and not failures else 'NOT met'}")
        print(f"  {name:<34}{row['rps']:>11,.0f}{row['p50']:>8.1f}{p99:>8.1f}"
              f"{row['max']:>8.1f}{failures:>8}{clients_cpu:>11.0%} {row['server_us']:>13,.0f}"
              f"  {verdict}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=10.0,
                        help="requests a second per client in the paced run")
    parser.add_argument("--client-processes", type=int, default=2,
                        help="processes the clients are shared out between")
    parser.add_argument("--keep", type=Path, help="a directory to keep the store in")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="journey-serve-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    url = build_log(workdir, args.customers)
    print(f"journey serve benchmark: {args.customers:,} customers, {os.cpu_count()} cores, "
          f"store {url}")
    processes = max(1, args.client_processes)
    with (served(url, workdir, env=QUIET) as server,
          multiprocessing.get_context("spawn").Pool(processes) as pool):
        latency(server, args.customers, args.clients, args.seconds, args.rate, pool, processes)
        latency(server, args.customers, args.clients, args.seconds, None, pool, processes)
    intake_vs_ingest(workdir)


if __name__ == "__main__":
    main()
