"""A command measured as a user runs it: wall time, and RSS sampled while it runs.

RSS is read from ``/proc/PID/status`` every ``interval`` seconds for the process and every
process it started (a view folder in a second process counts): VmRSS summed over them, and
each one's VmHWM (its own peak since it started). The peak reported is the larger of the
sampled sum and the largest VmHWM seen. Not ``ru_maxrss``: Linux carries the parent's peak
into a child across fork and exec, so a large benchmark process would show as the child's.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


def _memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid``, KiB; zeros for a process gone or a zombie."""
    rss = hwm = 0
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, hwm


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            stat = (PROC / entry.name / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return parents


def tree_memory_kib(root: int) -> tuple[int, int]:
    """VmRSS summed over ``root`` and all its descendants, and the largest VmHWM, KiB."""
    parents = _parents()
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    memory = [_memory_kib(pid) for pid in tree]
    return sum(rss for rss, _ in memory), max(hwm for _, hwm in memory)


@dataclass
class Measured:
    seconds: float
    returncode: int
    stdout: bytes
    peak_rss_mb: float
    #: (seconds since start, RSS MB of the process tree), one every ``interval``
    samples: list[tuple[float, float]] = field(default_factory=list)
    #: CPU seconds (user + system) of the process and the children it waited for
    cpu: float = 0.0


def run_measured(command: list[str], env: dict[str, str] | None = None,
                 interval: float = 0.5) -> Measured:
    """Run ``command`` to its end (stdout captured, stderr passed on), sampling its RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE,
                               env={**os.environ, **(env or {})})
    samples: list[tuple[float, float]] = []
    hwm_kib = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            rss, hwm = tree_memory_kib(process.pid)
            hwm_kib[0] = max(hwm_kib[0], hwm)
            if rss:
                samples.append((time.perf_counter() - started, rss / 1024))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert process.stdout is not None
    stdout = process.stdout.read()
    done.set()  # before the wait: a reaped pid may be reused
    sampler.join()
    hwm_kib[0] = max(hwm_kib[0], tree_memory_kib(process.pid)[1])  # its output is written
    process.stdout.close()
    # wait4: the process's own CPU with its waited-for children's (a views follower's).
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    peak = max([hwm_kib[0] / 1024, *(mb for _, mb in samples)])
    return Measured(seconds, process.returncode, stdout, peak, samples,
                    usage.ru_utime + usage.ru_stime)


def _spin(count: int) -> None:
    total = 0
    for i in range(count):
        total += i


def parallel_scaling(count: int = 20_000_000) -> float:
    """How much a second CPU-bound process adds: the pure-Python work two processes do
    per second at once over what one does alone (2.0: two free cores; a VM whose two
    vCPUs share a core, or a busy host, shows less). A design that uses the second core
    (the views' follower of an ingest) can gain at most this."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")

    def wall(processes: int) -> float:
        started = time.perf_counter()
        workers = [context.Process(target=_spin, args=(count,)) for _ in range(processes)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return time.perf_counter() - started

    wall(1)  # the interpreter's files in the page cache
    alone, both = min(wall(1), wall(1)), min(wall(2), wall(2))
    return 2 * alone / both


def rss_at(samples: list[tuple[float, float]], share: float) -> float:
    """RSS MB at ``share`` (0..1) of the run: the sample nearest that moment."""
    if not samples:
        return 0.0
    end = samples[-1][0]
    return min(samples, key=lambda s: abs(s[0] - share * end))[1]


def sparkline(samples: list[tuple[float, float]], width: int = 40) -> str:
    """RSS over the run, ``width`` columns (each the highest sample of its slice), from 0 MB."""
    if not samples:
        return ""
    bars = "▁▂▃▄▅▆▇█"
    peak = max(mb for _, mb in samples) or 1.0
    end = samples[-1][0] or 1.0
    columns = [0.0] * width
    for at, mb in samples:
        i = min(width - 1, int(at / end * width))
        columns[i] = max(columns[i], mb)
    for i in range(1, width):  # a slice without a sample shows its neighbour
        columns[i] = columns[i] or columns[i - 1]
    return "".join(bars[min(len(bars) - 1, int(mb / peak * len(bars)))] for mb in columns)
