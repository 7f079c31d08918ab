"""Avro single-object encoding of the published events, from the ``.avsc`` files alone.

A message value is ``C3 01`` + the 8-byte CRC-64-AVRO fingerprint (little-endian) of the
writer schema's parsing canonical form + the Avro binary body, as the Avro specification's
"single object encoding" says. Any Avro client holding ``schemas/avro/*.avsc`` can therefore
decode a value without a registry server; this module is the engine's own client, and it
imports nothing else of the engine so a subscriber may copy it with the schema files.

Files: ``avro/<Name>.avsc`` is the current schema of record ``journey.events.<Name>``;
``avro/released/<Name>/<N>.avsc`` is its release ``N``, kept unchanged once published (a test
gates every change to a current schema on reading data written with each release). Values
written with a release's schema still decode: ``decode`` knows every release's fingerprint and
resolves such a body to the current schema.

Logical types sit inside the field's type (``{"type": {"type": "long", "logicalType":
"timestamp-micros"}}``, uuids ``{"type": "string", "logicalType": "uuid"}``, dates ``{"type":
"int", "logicalType": "date"}``), where the specification puts them and where the Java, C#,
Rust and Python implementations all read them.

The fingerprint is the specification's: CRC-64-AVRO of the parsing canonical form, which strips
``logicalType`` (Java and fastavro agree). The Python ``avro`` package 1.12 keeps an annotated
primitive as ``{"type": "long"}`` in its canonical form, so for these schemas its
``Schema.fingerprint()`` differs; given the schema without ``logicalType``
(``without_logical_types``) it agrees.

Everything is parsed once, at import; ``encode`` and ``decode`` only look up and run fastavro.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, Final

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint as _crc64_hex
from fastavro.schema import to_parsing_canonical_form

#: Where the ``.avsc`` files live.
SCHEMA_DIR: Final = Path(__file__).with_name("avro")
RELEASED_DIR: Final = SCHEMA_DIR / "released"
#: The namespace of every published record.
NAMESPACE: Final = "journey.events"
#: The two marker bytes of Avro single-object encoding (format version 1).
MAGIC: Final = b"\xc3\x01"
#: Marker plus fingerprint: the body starts here.
HEADER_SIZE: Final = 10


class AvroCodecError(ValueError):
    """A value cannot be encoded or decoded with the published schemas."""


class AvroEncodeError(AvroCodecError):
    """A record does not fit its schema, or the schema is unknown."""


class AvroDecodeError(AvroCodecError):
    """Bytes are not a single-object encoded value of a known schema (or are cut short)."""


@dataclass(frozen=True, slots=True)
class _Schema:
    """One parsed ``.avsc``: with and without its logical types, and its fingerprint."""

    full_name: str
    parsed: dict[str, Any]
    plain: dict[str, Any]
    fingerprint: bytes
    text: str


@dataclass(frozen=True, slots=True)
class _Reader:
    """How to read a body with a given fingerprint: its writer schema, and the current schema
    to resolve it to when the writer is an older release (``None`` when it is current)."""

    full_name: str
    writer: _Schema
    reader: _Schema | None


def without_logical_types(node: Any) -> Any:
    """The same schema minus ``logicalType``: same bytes, same canonical form, base values
    (and what to hand the official Python ``avro`` package to fingerprint: see above)."""
    if isinstance(node, dict):
        return {k: without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [without_logical_types(v) for v in node]
    return node


def with_logical_types(node: Any) -> Any:
    """A schema with every logical type inside its type, as the ``.avsc`` files have it.

    Earlier copies of the files (a subscriber may still hold one) annotated the field
    instead (``"type": "long", "logicalType": "timestamp-micros"``), which other
    implementations ignore; here such an annotation moves into the type. Both forms have
    the same bytes and the same canonical form, hence the same fingerprint.
    """
    if isinstance(node, list):
        return [with_logical_types(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: with_logical_types(v) for k, v in node.items()}
    if isinstance(out.get("fields"), list):
        for field_ in out["fields"]:
            logical = field_.pop("logicalType", None)
            if logical is not None and isinstance(field_.get("type"), str):
                field_["type"] = {"type": field_["type"], "logicalType": logical}
    return out


def _parse(path: Path, expected_name: str) -> _Schema:
    """Parse one ``.avsc``; the record it defines must be ``journey.events.<expected_name>``."""
    text = path.read_text(encoding="utf-8")
    try:
        raw = with_logical_types(json.loads(text))
        parsed = parse_schema(raw)
        plain = parse_schema(without_logical_types(raw))
    except (ValueError, TypeError, KeyError) as exc:
        raise AvroCodecError(f"{path}: not a valid Avro schema: {exc}") from exc
    if not isinstance(parsed, dict) or not isinstance(plain, dict):
        raise AvroCodecError(f"{path}: a published schema must be a record")
    if parsed.get("name") != f"{NAMESPACE}.{expected_name}":
        raise AvroCodecError(f"{path}: defines {parsed.get('name')!r}, expected "
                             f"{NAMESPACE}.{expected_name}")
    canonical = to_parsing_canonical_form(parsed)
    print_ = bytes.fromhex(_crc64_hex(canonical, "CRC-64-AVRO"))
    return _Schema(parsed["name"], parsed, plain, print_, text)


def _load() -> tuple[dict[str, _Schema], dict[bytes, _Reader], dict[str, dict[int, str]]]:
    current: dict[str, _Schema] = {}
    readers: dict[bytes, _Reader] = {}
    released: dict[str, dict[int, str]] = {}
    for path in sorted(SCHEMA_DIR.glob("*.avsc")):
        schema = _parse(path, path.stem)
        current[schema.full_name] = current[path.stem] = schema
        readers[schema.fingerprint] = _Reader(schema.full_name, schema, None)
        released[schema.full_name] = {}
    for path in sorted(RELEASED_DIR.glob("*/*.avsc")):
        now = current.get(path.parent.name)
        if now is None or not path.stem.isdigit():
            raise AvroCodecError(f"{path}: a release must be released/<Name>/<N>.avsc of a "
                                 "current schema <Name>.avsc")
        old = _parse(path, path.parent.name)
        released[now.full_name][int(path.stem)] = old.text
        readers.setdefault(old.fingerprint, _Reader(now.full_name, old, now))
    return current, readers, released


_CURRENT, _READERS, _RELEASED = _load()
_NAMES: Final = tuple(sorted({s.full_name for s in _CURRENT.values()}))


def names() -> tuple[str, ...]:
    """The full names of all published records, e.g. ``journey.events.OrderPlaced``."""
    return _NAMES


def _current(name: str, error: type[AvroCodecError] = AvroCodecError) -> _Schema:
    try:
        return _CURRENT[name]
    except KeyError:
        raise error(f"no schema named {name!r}") from None


def schema(name: str) -> dict[str, Any]:
    """The parsed (fastavro) current schema of a record, by full or short name."""
    return _current(name).parsed


def schema_text(name: str) -> str:
    """The current ``.avsc`` file's text, for other Avro libraries."""
    return _current(name).text


def fingerprint(name: str) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint of the current schema, as it appears in values."""
    return _current(name).fingerprint


def released(name: str) -> dict[int, str]:
    """Every release of a record's schema: release number -> ``.avsc`` text, oldest first."""
    return dict(sorted(_RELEASED[_current(name).full_name].items()))


def encode(name: str, record: dict[str, Any], *, logical: bool = True) -> bytes:
    """Single-object encode ``record`` with the current schema ``name`` (full or short).

    Keys the schema does not name are ignored; a missing or ill-typed field is an error.
    ``logical=True`` takes logical-type fields as Python values (``datetime``, ``date``,
    ``UUID``); ``logical=False`` takes their Avro base values (int microseconds, int days,
    uuid text): the same bytes, and fastavro skips its per-field conversions (~40 % faster).
    """
    schema = _current(name, AvroEncodeError)
    out = BytesIO()
    out.write(MAGIC)
    out.write(schema.fingerprint)
    try:
        schemaless_writer(out, schema.parsed if logical else schema.plain, record)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise AvroEncodeError(f"{schema.full_name}: record does not fit the schema: "
                              f"{exc!r}") from exc
    return out.getvalue()


def decode(data: bytes, *, logical: bool = True) -> tuple[str, dict[str, Any]]:
    """(full name, record) of a single-object encoded value, in the current schema's shape.

    A value written with an older release of the schema is resolved to the current one.
    ``logical=False`` leaves logical-type fields as their Avro base values (see ``encode``).
    """
    if data[:2] != MAGIC:
        raise AvroDecodeError(f"not Avro single-object encoding: starts {bytes(data[:2])!r}, "
                              "expected b'\\xc3\\x01'")
    if len(data) < HEADER_SIZE:
        raise AvroDecodeError(f"truncated header: {len(data)} bytes, expected at least "
                              f"{HEADER_SIZE}")
    found = _READERS.get(bytes(data[2:HEADER_SIZE]))
    if found is None:
        raise AvroDecodeError(f"unknown schema fingerprint {bytes(data[2:HEADER_SIZE]).hex()}")
    writer = found.writer.parsed if logical else found.writer.plain
    reader = None if found.reader is None else (
        found.reader.parsed if logical else found.reader.plain)
    body = BytesIO(data)
    body.seek(HEADER_SIZE)
    try:
        record = schemaless_reader(body, writer, reader)
    except Exception as exc:  # bad bytes raise EOFError, ValueError, UnicodeError, ... alike
        raise AvroDecodeError(f"{found.full_name}: body does not decode (truncated or "
                              f"corrupt): {exc!r}") from exc
    if body.tell() != len(data):
        raise AvroDecodeError(f"{found.full_name}: {len(data) - body.tell()} bytes after "
                              "the record")
    if not isinstance(record, dict):
        raise AvroDecodeError(f"{found.full_name}: decoded to {type(record).__name__}")
    return found.full_name, record
