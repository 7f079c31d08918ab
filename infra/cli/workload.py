"""``journey generate``: a realistic, deterministic workload for demos, tests and benchmarks."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from journey.infra.cli.app import app, log


@app.command()
def generate(
    customers: Annotated[int, typer.Option(help="How many customers")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same bytes")] = 42,
    error_rate: Annotated[float, typer.Option(help="Share of service errors")] = 0.05,
    bad_rate: Annotated[float, typer.Option(help="Share of lines that must be rejected")] = 0.01,
    late_rate: Annotated[float, typer.Option(help="Share of late-arriving touchpoints")] = 0.02,
    output: Annotated[str, typer.Option("-o", "--output", help="File, or - for stdout")] = "-",
) -> None:
    """Write a realistic, deterministic JSON Lines workload across all five kinds."""
    from journey.infra.workload import WorkloadOptions, write_workload

    options = WorkloadOptions(customers=customers, seed=seed, error_rate=error_rate,
                              bad_rate=bad_rate, late_rate=late_rate)
    if output == "-":
        count = write_workload(options, sys.stdout)
    else:
        with open(output, "w", encoding="utf-8") as out:
            count = write_workload(options, out)
    log.info("generate.done", lines=count, customers=customers, seed=seed)

