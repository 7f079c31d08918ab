"""``journey generate``: a realistic, deterministic workload for demos, tests and benchmarks."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from journey.domain.errors import JourneyError
from journey.infra.cli.app import app, log
from journey.infra.cli.options import count as integer
from journey.infra.cli.options import number

#: The shares ``generate`` takes: from 0 up to, not including, one half.
_SHARE = "expected a share from 0 to 0.5 (0.5 excluded)"


@app.command(epilog="Example: journey generate --customers 500 --seed 7 -o touchpoints.jsonl")
def generate(
    customers: Annotated[int, typer.Option(
        parser=integer("--customers", minimum=0), help="How many customers")] = 1000,
    seed: Annotated[int, typer.Option(
        parser=integer("--seed", -(10**18), "expected an integer of at most 18 digits"),
        help="Random seed; same seed, same bytes")] = 42,
    error_rate: Annotated[float, typer.Option(
        parser=number("--error-rate", 0, 0.5, _SHARE, low_open=False, high_open=True),
        help="Share of service errors, 0 to 0.5")] = 0.05,
    bad_rate: Annotated[float, typer.Option(
        parser=number("--bad-rate", 0, 0.5, _SHARE, low_open=False, high_open=True),
        help="Share of lines that must be rejected, 0 to 0.5")] = 0.01,
    late_rate: Annotated[float, typer.Option(
        parser=number("--late-rate", 0, 0.5, _SHARE, low_open=False, high_open=True),
        help="Share of late-arriving touchpoints, 0 to 0.5")] = 0.02,
    output: Annotated[str, typer.Option("-o", "--output", help="File, or - for stdout")] = "-",
) -> None:
    """Write a realistic, deterministic JSON Lines workload across all five kinds."""
    from journey.infra.workload import WorkloadOptions, write_workload

    options = WorkloadOptions(customers=customers, seed=seed, error_rate=error_rate,
                              bad_rate=bad_rate, late_rate=late_rate)
    if output == "-":
        count = write_workload(options, sys.stdout)
    else:
        try:
            out = open(output, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise JourneyError(f"cannot write {output}: {exc.strerror or exc}") from exc
        with out:
            count = write_workload(options, out)
    log.info("generate.done", lines=count, customers=customers, seed=seed)

