"""`journey audit verify` on a ~1M-event SQLite log: events/s, next to reading the same log.

    python -m benchmarks.audit [--customers 50000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOURNEY = str(Path(sys.executable).with_name("journey"))
#: The log is sealed and verified with it: without a secret, verify never says ok.
ENV = {**os.environ, "JOURNEY_AUDIT_SECRET": "benchmark-only-secret"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50_000, help="~20 touchpoints each")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the log in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="journey-audit-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        db = workdir / f"sealed-{args.customers}.db"  # a key fingerprint recorded
        url = f"sqlite:///{db}"
        if not db.exists():
            workload = workdir / f"workload-{args.customers}.jsonl"
            if not workload.exists():
                subprocess.run([JOURNEY, "generate", "--customers", str(args.customers),
                                "--seed", "3", "-o", str(workload)], check=True)
            subprocess.run([JOURNEY, "--db", url, "ingest", "--no-views", str(workload)],
                           check=True, stdout=subprocess.DEVNULL, env=ENV)
        started = time.perf_counter()
        result = subprocess.run([JOURNEY, "--db", url, "--json", "audit", "verify"],
                                capture_output=True, check=False, env=ENV)
        seconds = time.perf_counter() - started
    report = json.loads(result.stdout)
    print(f"\naudit verify: {report['events']} events in {seconds:.1f} s (process included): "
          f"{report['events'] / seconds:.0f} events/s; the verifier's own figure: "
          f"{report.get('events_per_second')} events/s; ok={report['ok']}")


if __name__ == "__main__":
    main()
