"""``journey schema``: the contract's machine-readable forms."""

from __future__ import annotations

import sys

import typer

from journey.infra.cli.app import app

schema_app = typer.Typer(help="The contract's machine-readable schemas.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


@schema_app.command("touchpoint",
                    epilog="Example: journey schema touchpoint > touchpoint.schema.json")
def touchpoint_schema() -> None:
    """Print the JSON Schema (draft 2020-12) of one touchpoint line, generated from the models.

    It is also shipped as ``schemas/touchpoint.schema.json``. It checks the shape of a line;
    the rules it cannot express (precedence of reasons, rules across touchpoints) are listed
    in docs/contract.md.
    """
    from journey.schemas.jsonschema import touchpoint_json_schema_text

    sys.stdout.write(touchpoint_json_schema_text())
