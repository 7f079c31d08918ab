"""A batch's rows into PostgreSQL by ``COPY ... FROM STDIN (FORMAT binary)``, encoded here.

An ``executemany`` costs a statement per row (~75 µs a row all told with psycopg's
pure-Python build, server included; a third of that with its C build); ``COPY`` takes a
batch in one statement, and its binary form is a few ``struct`` packs per row. Text goes
as UTF-8, so the database must be a UTF-8 one (any character a touchpoint holds needs it;
another encoding would get UTF-8 bytes as its own). The format
(PostgreSQL's "Binary Format" of COPY): a signature and two int32 (flags, header extension),
then per row an int16 field count and per field an int32 length (-1: NULL) and the value
in the type's binary send form; an int16 -1 ends the data.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

from journey.infra.store.rows import AcceptedRow, RejectRow, text_column

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # the signature, flags 0, no header extension
TRAILER = b"\xff\xff"
NULL = b"\xff\xff\xff\xff"

_INT4 = struct.Struct(">i")
_FIELD_INT8 = struct.Struct(">iq")  # the length (8) and the value
_FIELD_INT4 = struct.Struct(">ii")
#: An event row: 4 fields, the uuid's length and 16 bytes, the version's length and value,
#: then the topic's length (the topic and the state follow).
_EVENT_HEAD = struct.Struct(">hi16siqi")
_EVENT_HEAD_TEXT_ID = struct.Struct(">hi")  # with a text originator_id: count, id length

#: A field's encoder: the value (``None``: NULL) to its length-prefixed bytes.
Field = Callable[[Any], bytes]


def text(value: str | None) -> bytes:
    if value is None:
        return NULL
    data = value.encode()
    return _INT4.pack(len(data)) + data


def bytea(value: bytes | None) -> bytes:
    if value is None:
        return NULL
    return _INT4.pack(len(value)) + bytes(value)


def int4(value: int | None) -> bytes:
    return NULL if value is None else _FIELD_INT4.pack(4, value)


def copy_data(rows: Iterable[Sequence[Any]], fields: Sequence[Field]) -> bytes:
    """The whole COPY stream (signature, rows, trailer) of ``rows``, each field encoded by
    the encoder at its place in ``fields``."""
    count = struct.pack(">h", len(fields))
    parts = [SIGNATURE]
    for row in rows:
        parts.append(count)
        parts.extend(encode(value) for encode, value in zip(fields, row, strict=True))
    parts.append(TRAILER)
    return b"".join(parts)


def event_data(events: Iterable[tuple[UUID | str, int, str, bytes]], uuid_ids: bool) -> bytes:
    """COPY stream of (originator_id, originator_version, topic, state) rows for the events
    table; ``uuid_ids``: its originator_id column is a ``uuid`` (else ``text``), each id a
    UUID or its 32 hex digits."""
    parts = [SIGNATURE]
    append = parts.append
    if uuid_ids:
        head = _EVENT_HEAD.pack
        for oid, version, topic, state in events:
            topic_bytes = topic.encode()
            raw = oid.bytes if isinstance(oid, UUID) else bytes.fromhex(oid)
            if len(raw) != 16:  # struct would pad it
                raise ValueError(f"not a uuid's 32 hex digits: {oid!r}")
            append(head(4, 16, raw, 8, version, len(topic_bytes)))
            append(topic_bytes)
            append(_INT4.pack(len(state)))
            append(state)
    else:
        for oid, version, topic, state in events:
            oid_bytes = str(oid).encode()
            append(_EVENT_HEAD_TEXT_ID.pack(4, len(oid_bytes)) + oid_bytes
                   + _FIELD_INT8.pack(8, version) + text(topic) + bytea(state))
    append(TRAILER)
    return b"".join(parts)


#: The columns COPY writes, and their encoders, of the engine's per-batch tables.
ACCEPTED_COLUMNS = "(touchpoint_id, content_hash, type, recorded_at, source)"
ACCEPTED_FIELDS: tuple[Field, ...] = (text, bytea, text, text, text)
REJECT_COLUMNS = "(touchpoint_id, reason, detail, raw, recorded_at, source, accepted_before)"
REJECT_FIELDS: tuple[Field, ...] = (text, text, text, bytea, text, text, int4)
CHAIN_COLUMNS = "(position, hash)"


_ACCEPTED_HEAD = struct.Struct(">hi")  # 5 fields, the touchpoint_id's length
_HASH_FIELD = struct.Struct(">i32s")  # a 32-byte content hash with its length


def accepted_data(rows: Iterable[AcceptedRow], now: str) -> bytes:
    """COPY stream of accepted touchpoints (``ACCEPTED_COLUMNS``), recorded at ``now``: the
    bulk of a batch's rows besides its events, so packed without a call per field."""
    head, int4_, hash_field = _ACCEPTED_HEAD.pack, _INT4.pack, _HASH_FIELD.pack
    now_field = text(now)
    parts = [SIGNATURE]
    append = parts.append
    for a in rows:
        tid, kind, digest = a.touchpoint_id.encode(), a.type.encode(), a.content_hash
        append(head(5, len(tid)) + tid
               + (hash_field(32, digest) if len(digest) == 32 else bytea(digest))
               + int4_(len(kind)) + kind + now_field + text(text_column(a.source)))
    append(TRAILER)
    return b"".join(parts)


_CHAIN_ROW = struct.Struct(">hiqi32s")  # 2 fields: a position, a 32-byte hash


def chain_data(chain: Iterable[tuple[int, bytes]]) -> bytes:
    """COPY stream of the chain's rows (``CHAIN_COLUMNS``): (position, 32-byte hash)."""
    row = _CHAIN_ROW.pack
    return b"".join((SIGNATURE, *(row(2, 8, p, 32, h) for p, h in chain), TRAILER))


def reject_data(rows: Iterable[RejectRow], now: str) -> bytes:
    # Text columns (PostgreSQL's refuse NUL) get a visible stand-in; raw keeps the bytes.
    return copy_data(((text_column(r.touchpoint_id), r.reason, text_column(r.detail), r.raw,
                       now, text_column(r.source), int(r.accepted_before)) for r in rows),
                     REJECT_FIELDS)
