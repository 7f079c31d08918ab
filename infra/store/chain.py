"""The audit hash chain over the event log: its canonical encoding, links and seals.

Every event row gets a row in ``journey_chain`` in the transaction that appends it::

    hash_i = sha256(hash_prev || record_i)          hash before the first event: 32 zero bytes
    record = int64 position | int64 originator_version
             | uint32 len(id) | uint32 len(topic) | uint32 len(state)   (all big-endian)
             | originator_id (32 lowercase hex digits, ASCII) | topic (UTF-8) | state (bytes)

``hash_prev`` is the hash of the previous *chained* position: PostgreSQL may leave gaps in
notification ids (a rolled-back insert consumes them), so the chain links rows, not numbers.

Seals (``journey_seals``) authenticate the chain with a secret: the last position of every
batch, and the first position at or past every multiple of ``SEAL_EVERY``, get::

    mac = HMAC-SHA256(secret, int64 position || hash_position)

Anyone can recompute the chain from the events; only the holder of the secret can make a
seal, so rewriting the events *and* the chain consistently still breaks the next seal.
The secret is ``JOURNEY_AUDIT_SECRET``; without it a built-in default is used, and seals
then prove nothing against anyone who can read this code: ``audit verify`` never reports
such a store ``ok``.

A store is sealed with one key. Its fingerprint (``key_fingerprint``: the first 16 hex digits
of ``HMAC-SHA256(key, "journey-audit-key-fingerprint")``, which names the key without giving
it away) is recorded in ``journey_audit_key`` with the first seal; a writer whose key has
another fingerprint refuses to append, and ``audit verify`` tells a missing or different
secret from tampering.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable, Sequence
from uuid import UUID

ZERO_HASH = bytes(32)
SEAL_EVERY = 1000
#: Used when JOURNEY_AUDIT_SECRET is not set: public, so such seals only catch accidents.
DEFAULT_SECRET = "journey-audit-default-secret (public: set JOURNEY_AUDIT_SECRET)"

_FINGERPRINT_MESSAGE = b"journey-audit-key-fingerprint"
_HEADER = struct.Struct(">qqIII")
_POSITION = struct.Struct(">q")
_sha256 = hashlib.sha256


def audit_key(secret: str | bytes | None) -> bytes:
    """The HMAC key for a configured secret (``None`` or empty: the public default)."""
    if not secret:
        secret = DEFAULT_SECRET
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def key_fingerprint(key: bytes) -> str:
    """A non-reversible name of an HMAC key: 16 hex digits, safe to print and to store."""
    return hmac.new(key, _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]


#: The fingerprint of the public default key (JOURNEY_AUDIT_SECRET unset).
DEFAULT_FINGERPRINT = key_fingerprint(audit_key(None))


def describe_key(fingerprint: str | None) -> str:
    """A key by its fingerprint, for messages: ``1f0c... (the public default key)``."""
    if fingerprint is None:
        return "none"
    return f"{fingerprint} (the public default key)" if fingerprint == DEFAULT_FINGERPRINT \
        else fingerprint


def oid_text(originator_id: UUID | str) -> str:
    """An originator id as the chain hashes it: 32 lowercase hex digits."""
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def link(prev: bytes, position: int, originator_id: str, version: int, topic: str,
         state: bytes) -> bytes:
    """The chain hash of one event row given the previous row's hash."""
    oid = originator_id.encode()
    top = topic.encode()
    return _sha256(
        prev + _HEADER.pack(position, version, len(oid), len(top), len(state)) + oid + top + state
    ).digest()


def links(prev: bytes, positions: Iterable[int],
          rows: Iterable[tuple[str, int, str, bytes]]) -> list[tuple[int, bytes]]:
    """(position, chain hash) of each (originator_id, version, topic, state) row at its
    position, given the hash before the first: ``link`` over a batch, in one loop."""
    header, sha256 = _HEADER.pack, _sha256
    topics: dict[str, bytes] = {}  # a batch has a few dozen topics
    chain: list[tuple[int, bytes]] = []
    append = chain.append
    for position, (originator_id, version, topic, state) in zip(positions, rows, strict=True):
        top = topics.get(topic)
        if top is None:
            top = topics[topic] = topic.encode()
        oid = originator_id.encode()
        prev = sha256(b"".join((prev, header(position, version, len(oid), len(top), len(state)),
                                oid, top, state))).digest()
        append((position, prev))
    return chain


def batch_seals(key: bytes, previous: int, chain: Sequence[tuple[int, bytes]]
                ) -> list[tuple[int, bytes]]:
    """The seals of a batch's chain rows (not empty) after the chained position ``previous``:
    the first row at or past each multiple of SEAL_EVERY (``crosses_seal_mark``), the last."""
    seals: list[tuple[int, bytes]] = []
    for position, digest in chain:
        if position // SEAL_EVERY > previous // SEAL_EVERY:
            seals.append((position, seal_mac(key, position, digest)))
        previous = position
    last, digest = chain[-1]
    if not seals or seals[-1][0] != last:
        seals.append((last, seal_mac(key, last, digest)))
    return seals


def seal_mac(key: bytes, position: int, chain_hash: bytes) -> bytes:
    return hmac.new(key, _POSITION.pack(position) + chain_hash, _sha256).digest()


def seal_ok(key: bytes, position: int, chain_hash: bytes, mac: bytes) -> bool:
    return hmac.compare_digest(seal_mac(key, position, chain_hash), mac)


def crosses_seal_mark(previous_position: int, position: int) -> bool:
    """Whether ``position`` is the first chained one at or past a multiple of SEAL_EVERY."""
    return position // SEAL_EVERY > previous_position // SEAL_EVERY
