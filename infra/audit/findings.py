"""What ``audit verify`` finds, and how: the rows it merges, the findings it names, the
search for the other half of a swapped row (see ``journey.infra.audit.verify``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from journey.infra.store.chain import link

#: After a mismatch, how many later rows that fail too are tried as the other half of a swap.
SWAP_CANDIDATES = 1000

FIELDS = ("originator_id", "originator_version", "topic", "state")

Fields = tuple[str, int, str, bytes]


@dataclass(slots=True)
class Row:
    """One position: its event (canonical fields, or ``None`` if unreadable), chain, seal."""

    position: int
    has_event: bool
    event: Fields | None
    chain: bytes | None
    mac: bytes | None


@dataclass(slots=True)
class Finding:
    position: int
    problem: str
    detail: str


def fields_of(row: tuple[Any, ...]) -> Fields | None:
    """An event row as the chain hashes it; ``None`` if a column has the wrong type."""
    _, oid, version, topic, state = row
    if isinstance(oid, UUID):
        oid = oid.hex
    if isinstance(state, memoryview):
        state = bytes(state)
    if (not isinstance(oid, str) or type(version) is not int or not isinstance(topic, str)
            or not isinstance(state, bytes)):
        return None
    return oid, version, topic, state


def as_bytes(value: Any) -> bytes | None:
    return bytes(value) if isinstance(value, bytes | memoryview | bytearray) else None


def rows_named(first: int, last: int) -> str:
    return f"row {first} was" if first == last else f"rows {first}..{last} (some or all) were"


def chain_altered(pos: int) -> Finding:
    return Finding(pos, "chain_altered", f"the chain row of position {pos} was rewritten; "
                    "the event row itself is the one that was appended")


def seal_invalid(pos: int, sealed_up_to: int) -> str:
    return (f"the seal of position {pos} does not authenticate the chain: events and chain "
            f"rows in {sealed_up_to + 1}..{pos} were rewritten consistently by someone "
            "without the secret (or JOURNEY_AUDIT_SECRET differs from the writers')")


def find_swap(pos: int, event: Fields, prev: bytes, chain: bytes, nxt: Row | None,
               rows: Iterator[Row]) -> Finding | None:
    """If row ``pos`` holds columns of a later row that no longer matches the chain either,
    it was swapped (reordered) with that row. ``chain`` is ``pos``'s authentic hash."""
    stored_prev = chain
    candidates = 0
    for row in chain_rows([nxt] if nxt is not None else [], rows):
        other, other_chain = row.event, row.chain
        if other is None or other_chain is None:
            stored_prev = other_chain or stored_prev
            continue
        if link(stored_prev, row.position, *other) != other_chain:
            candidates += 1
            if candidates > SWAP_CANDIDATES:
                return None
            for mask in range(1, 1 << len(FIELDS)):
                pick = [other if mask >> i & 1 else event for i in range(len(FIELDS))]
                if link(prev, pos, pick[0][0], pick[1][1], pick[2][2], pick[3][3]) == chain:
                    names = ", ".join(n for i, n in enumerate(FIELDS) if mask >> i & 1)
                    return Finding(pos, "reordered", f"event row {pos} holds the {names} "
                                    f"of row {row.position} (rows swapped)")
        stored_prev = other_chain
    return None


def chain_rows(first: list[Row], rows: Iterator[Row]) -> Iterator[Row]:
    yield from first
    yield from rows
