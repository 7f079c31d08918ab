"""``journey generate`` (a realistic, deterministic workload for demos, tests and benchmarks)
and ``journey schema`` (the contract's machine-readable form)."""

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


schema_app = typer.Typer(help="The contract's machine-readable schemas.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


@schema_app.command("touchpoint")
def touchpoint_schema() -> None:
    """Print the JSON Schema (draft 2020-12) of one touchpoint line, generated from the models.

    It is also shipped as ``schemas/touchpoint.schema.json``. It checks the shape of a line;
    the rules it cannot express (precedence of reasons, rules across touchpoints) are listed
    in docs/contract.md.
    """
    from journey.schemas.jsonschema import touchpoint_json_schema_text

    sys.stdout.write(touchpoint_json_schema_text())
