"""The JSON Schema (draft 2020-12) of one touchpoint line, generated from the pydantic models.

``touchpoint_json_schema()`` builds it from ``TOUCHPOINT_TYPES``: a ``oneOf`` of the 24 types,
discriminated by ``type``, each closed (``additionalProperties: false``, as the models forbid
extras). The field types of ``schemas.fields`` say what JSON Schema can express about them. The
committed copy, ``schemas/touchpoint.schema.json``, is regenerated with::

    python -m journey.schemas.jsonschema > schemas/touchpoint.schema.json

(``tests/unit/test_json_schema.py`` fails when the two differ). The schema is an aid for
upstream systems; the engine (``schemas.parsing.parse_line``) stays the authority.

What the schema expresses (contract 1): the JSON type of every field (strings, JSON integers,
booleans, objects, arrays; ``null`` is never a value), required and optional fields per type, no
other fields, ``customer_id`` absent on ``part.*``, the identifier lengths and the
``touchpoint_id`` and ``error`` alphabets, no control character in identifiers and ``source``
and no NUL in free text (``not: {pattern}``, an unanchored search), enumerations, ``currency``,
the engine's integer ranges (``qty`` 1 to 10^8, satisfaction 1-5, ``qty`` of ``part.adjusted``
from -10^8 to 10^8 and not 0), 1-500 lines, text maxima, the form of ``occurred_at`` (offset
mandatory) and ``due_date`` with the range of each part (years 1900-9000), money as a number or
a decimal string with its sign rule and magnitude (below 10^26), and, for a decimal string, at
most 2 decimals.

What it cannot express, so a line valid under the schema may still be rejected:

* the reason and its precedence (``invalid_json``, then ``unknown_type``, then ``invalid``): a
  schema only says valid or not, and ``unknown_type`` shows as a ``oneOf`` failure;
* anything about the text of the line: not UTF-8, NaN or Infinity, nesting too deep, integers
  beyond 4300 digits, lone surrogate escapes, a key given twice in one object, a line above
  ``MAX_LINE_BYTES`` (1 MiB): a validator only sees the parsed value;
* at most 2 decimals of money written as a JSON number (``19.999``): only decimal strings;
* that an integer is written as one: JSON Schema counts ``1.0`` as an integer, the engine does
  not;
* the calendar: the length of each month and leap years (``2024-02-30``), and that
  ``occurred_at`` stays within years 1900-9000 once converted to UTC; validators that assert
  ``format`` (``date``, ``date-time``) catch the first, which 2020-12 leaves optional;
* ``to_location`` differing from ``location`` (no comparison between two values);
* every rule across touchpoints (contract 2 and 3): duplicates, entities, lifecycles, stock
  (its ceilings too: ``journey.domain.stock``).

Patterns follow ECMA-262, where ``$`` ends the string; a validator that evaluates them with
Python's ``re`` (python-jsonschema does) also lets a final line feed through (``"EUR\\n"``).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Final, Union

from pydantic import Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from journey.schemas.touchpoint import TOUCHPOINT_TYPES

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID: Final = "urn:journey-engine:contract:v1.1:touchpoint"

_DESCRIPTION = (
    "One touchpoint of the touchpoint contract v1.1, section 1 (unchanged since v1): a JSON "
    "object, one per line of a JSON Lines file or one per Kafka message value. Generated from "
    "the engine's models (journey.schemas.jsonschema); rules that JSON Schema cannot express "
    "(duplicate keys, the decimals of a JSON number, calendar dates, to_location != location, "
    "everything across touchpoints) are listed in docs/contract.md."
)


class _ContractSchema(GenerateJsonSchema):
    """pydantic's generator, minus two things that would mislead an integrator."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        # An optional field defaults to None in Python, which means "left out": null itself
        # is refused, so a "default": null would misstate the contract.
        if "default" in schema and schema["default"] is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False  # "Touchpoint Id" for touchpoint_id says nothing the name does not


def touchpoint_json_schema() -> dict[str, Any]:
    """The JSON Schema of one touchpoint line (a new dict on each call)."""
    models = tuple(TOUCHPOINT_TYPES.values())
    union: Any = Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007
    generated = TypeAdapter(union).json_schema(
        mode="validation", schema_generator=_ContractSchema
    )
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_ID,
        "title": "Touchpoint",
        "description": _DESCRIPTION,
        # Said once more before the oneOf, so that a validator names the unknown type plainly.
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(TOUCHPOINT_TYPES)}},
        **generated,
    }


def touchpoint_json_schema_text() -> str:
    """The schema as committed: indented, keys sorted, ASCII, one trailing newline."""
    return json.dumps(touchpoint_json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    """Print the schema on stdout (the module docstring shows how to regenerate the file)."""
    sys.stdout.write(touchpoint_json_schema_text())


if __name__ == "__main__":
    main()
