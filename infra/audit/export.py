"""Audit export: stored events, byte for byte, in an Avro object container file; and its check.

``export_events`` writes one Avro record per selected stored event, in log order, with the
exact bytes the store holds (``state``) and their SHA-256, plus metadata decoded from them.
The file is self-describing: the schema (namespace ``journey.audit``, a ``doc`` on every
field) is embedded, blocks are deflate-compressed, and the container's metadata says what
was exported (``journey.*`` keys, see ``FILE_METADATA``). ``fastavro.reader`` alone, or any
Avro reader, opens it; nothing of this engine is needed to read it.

Selection (all given criteria must hold):

``customer``  events whose ``customer_id`` is the customer, plus part movements whose
              ``repair_id`` names one of that customer's repairs (repairs are learned from the
              customer's ``Repair.Requested`` events earlier in the log; the engine refuses a
              movement naming a repair that does not exist yet, so none is missed).
``start``, ``end``  ``occurred_at`` (business time) within ``[start, end]``, both inclusive.

Events without touchpoint fields (``PartStock.Registered``: no occurred_at, no customer)
follow their touchpoint: the engine appends a registration immediately before the movement
that opened the stock record, in the same transaction, and the registration is exported
exactly when that movement is. A registration not followed by an event of its own aggregate
(the engine never writes one) is exported only by an unfiltered export.

The export reads the log in pages up to the head position taken when it starts (later
appends are not part of it; positions below the head never change), so memory stays flat
however large the store. It writes a ``0600`` temporary file (``FILE.*.partial``) beside the
target and moves it into place when complete, so a file under the target name is always a
whole export; only regular files are written, an existing one only with ``force``
(``journey.infra.audit.files``). Given a binary stream instead of a path (``journey export
-o -``: standard output), it writes the container to the stream as it goes.

Each record also carries the store's audit chain hashes (``chain_prev``, ``chain_hash``; see
``journey.infra.store.chain``), and the metadata the chain hash and seal of the head
position, so the file can be checked without the store: ``journey.infra.audit.verify_export``
checks it against the store, or on its own (offline).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import fastavro
from eventsourcing.persistence import Notification

from journey.domain.repairs import Repair
from journey.domain.stock import PartStock
from journey.infra.audit.files import ExportError as ExportError  # raised here; defined there
from journey.infra.audit.files import atomic_output
from journey.infra.store import JourneyApplication, store_url
from journey.infra.store.chain import ZERO_HASH

#: Notifications read per query.
PAGE = 2000

#: Version of the file layout (schema and metadata keys); bumped on incompatible changes.
#: "2" added the chain hashes (fields ``chain_prev``, ``chain_hash``; ``journey.head_*``
#: metadata); files of format "1" still verify against the store.
FORMAT = "2"
FORMATS = ("1", "2")

#: The container's own metadata, besides Avro's ``avro.schema`` and ``avro.codec``.
FILE_METADATA = {
    "journey.format": "version of this file layout",
    "journey.store": "the store exported (its URL; a password is never written)",
    "journey.head_position": "the log position the export read up to (inclusive)",
    "journey.exported_at": "when the export started, RFC 3339 UTC",
    "journey.selection": 'JSON {"customer": ..., "start": ..., "end": ...}; null = no filter',
    "journey.head_hash": "the store's audit chain hash at the head position (hex; '' if none)",
    "journey.head_seal": "the store's HMAC seal of that hash (hex; '' if none): checkable "
                         "only with the store's JOURNEY_AUDIT_SECRET",
    "journey.key_fingerprint": "the fingerprint of the key the store's seals are made with",
}

_TIME = "RFC 3339 in UTC, always with 6 fractional digits and Z (fixed width, sorts as text)"

SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "StoredEvent",
    "namespace": "journey.audit",
    "doc": "One event as stored in the journey engine's event store, in log order. "
           "'state' is the exact stored bytes; the other fields describe it.",
    "fields": [
        {"name": "position", "type": "long",
         "doc": "Notification id: the event's position in the store's log (1, 2, ...)."},
        {"name": "recorded_at", "type": "string",
         "doc": f"When the engine recorded the event (the event's timestamp); {_TIME}."},
        {"name": "originator_id", "type": {"type": "string", "logicalType": "uuid"},
         "doc": "The aggregate the event belongs to (UUID)."},
        {"name": "originator_version", "type": "long",
         "doc": "The event's version within its aggregate (1 = the creating event)."},
        {"name": "topic", "type": "string",
         "doc": "The event class as stored, 'module:Class.Event', e.g. "
                "'domain.orders:Order.Placed'."},
        {"name": "event_type", "type": "string",
         "doc": "The event class's qualified name, e.g. 'Order.Placed'."},
        {"name": "touchpoint_id", "type": ["null", "string"], "default": None,
         "doc": "The touchpoint that caused the event; null for events without one "
                "(stock registrations)."},
        {"name": "customer_id", "type": ["null", "string"], "default": None,
         "doc": "The customer on the touchpoint; null for part movements and registrations."},
        {"name": "occurred_at", "type": ["null", "string"], "default": None,
         "doc": f"Business time of the touchpoint; {_TIME}; null without a touchpoint."},
        {"name": "state", "type": "bytes",
         "doc": "The event's stored state, byte for byte as the store holds it (JSON, UTF-8, "
                "as written by the eventsourcing library's JSON transcoder)."},
        {"name": "state_sha256", "type": "string",
         "doc": "SHA-256 of 'state', lower-case hex."},
        {"name": "chain_prev", "type": ["null", "string"], "default": None,
         "doc": "The store's audit chain hash (hex) of the chained event before this one in "
                "the log (64 zeros before the first); null if the store has no chain row "
                "for this event."},
        {"name": "chain_hash", "type": ["null", "string"], "default": None,
         "doc": "The store's audit chain hash (hex) of this event: SHA-256 of chain_prev's "
                "bytes, then int64 position, int64 originator_version, uint32 lengths of "
                "the originator id (32 hex digits), topic and state (big-endian), then "
                "those three."},
    ],
}

PARSED_SCHEMA = fastavro.parse_schema(SCHEMA)
#: Format "1": the same schema without the chain hashes.
SCHEMA_V1: dict[str, Any] = {**SCHEMA, "fields": SCHEMA["fields"][:-2]}
PARSED_SCHEMAS = {"1": fastavro.parse_schema(SCHEMA_V1), "2": PARSED_SCHEMA}


@dataclass(frozen=True)
class Selection:
    """Which events an export holds; ``None`` criteria select everything."""

    customer: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise ExportError(f"{name} needs a time zone (e.g. 2026-03-01T00:00:00Z)")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ExportError(f"start {rfc3339(self.start)} is after end {rfc3339(self.end)}")

    @property
    def filtered(self) -> bool:
        return self.customer is not None or self.start is not None or self.end is not None

    def as_json(self) -> dict[str, str | None]:
        return {"customer": self.customer,
                "start": None if self.start is None else rfc3339(self.start),
                "end": None if self.end is None else rfc3339(self.end)}

    @classmethod
    def from_json(cls, data: dict[str, str | None]) -> Selection:
        start, end = data.get("start"), data.get("end")
        return cls(data.get("customer"),
                   None if start is None else datetime.fromisoformat(start),
                   None if end is None else datetime.fromisoformat(end))


@dataclass(frozen=True)
class ExportSummary:
    """What ``export_events`` wrote."""

    path: str  # "-" for a stream (standard output)
    records: int  # events in the file
    scanned: int  # events read from the log (all of them up to head_position)
    head_position: int
    selection: dict[str, str | None]
    file_bytes: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# --- export ---------------------------------------------------------------------------------------


def export_events(app: JourneyApplication, out_path: str | os.PathLike[str] | BinaryIO,
                  customer: str | None = None, start: datetime | None = None,
                  end: datetime | None = None, *, force: bool = False) -> ExportSummary:
    """Write the selected stored events of ``app`` to the Avro file ``out_path`` (a new
    regular file; an existing one is replaced only with ``force``), or to a binary stream."""
    started = time.perf_counter()
    selection = Selection(customer, start, end)
    if not isinstance(out_path, str | os.PathLike):
        stream: BinaryIO | None = out_path
        target = Path("-")
    else:
        stream, target = None, Path(out_path)
        if not os.fspath(out_path):
            raise ExportError("'' names no file: give a file name (or - for standard output)")
    head = app.journey_recorder.position()
    head_hash, head_seal = head_anchor(app, head)
    metadata = {
        "journey.format": FORMAT,
        "journey.store": store_url(app.env),
        "journey.head_position": str(head),
        "journey.exported_at": rfc3339(datetime.now(UTC)),
        "journey.selection": json.dumps(selection.as_json(), sort_keys=True),
        "journey.head_hash": head_hash,
        "journey.head_seal": head_seal,
        "journey.key_fingerprint": app.journey_recorder.recorded_fingerprint() or "",
    }
    scan = Scan(app, selection, head)
    if stream is None:
        with atomic_output(target, force=force) as out:
            _write(out, scan, metadata)
            size = out.tell()
    else:
        counted = _Counted(stream)
        try:
            _write(counted, scan, metadata)
            stream.flush()
        except OSError as exc:
            raise ExportError(f"cannot write to the output stream: {exc.strerror or exc}"
                              ) from exc
        size = counted.written
    return ExportSummary(str(target), scan.selected, scan.scanned, head, selection.as_json(),
                         size, round(time.perf_counter() - started, 3))


def head_anchor(app: JourneyApplication, head: int) -> tuple[str, str]:
    """The chain hash and the seal of position ``head`` (hex; '' where there is none)."""
    r = app.journey_recorder
    with r.read_rows() as c:
        c.execute(f"SELECT hash FROM {r.chain_sql} WHERE position = {r.ph}", (head,))
        chained = c.fetchone()
        c.execute(f"SELECT mac FROM {r.seals_sql} WHERE position = {r.ph}", (head,))
        sealed = c.fetchone()
    return ("" if chained is None else bytes(chained[0]).hex(),
            "" if sealed is None else bytes(sealed[0]).hex())


def _write(out: Any, scan: Scan, metadata: dict[str, str]) -> None:
    fastavro.writer(out, PARSED_SCHEMA, _records_or_fail(scan), codec="deflate",
                    metadata=metadata, sync_interval=256 * 1024)


class _Counted:
    """A write-only stream that counts what passes through (a pipe cannot say its size).

    Not seekable, whatever it wraps: fastavro appends to a seekable stream that is not at
    its start (``export -o - >> file``), and an export is always a whole container.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.written = 0

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:
        self.stream.write(data)
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        self.stream.flush()


def _records_or_fail(scan: Scan) -> Iterator[dict[str, Any]]:
    for item in scan:
        if isinstance(item, Undecodable):
            raise ExportError(f"cannot decode the stored event at position "
                              f"{item.notification.id}: {item.error}")
        yield item


@dataclass(frozen=True)
class Undecodable:
    notification: Notification
    error: str


class Scan:
    """The selected events of the log up to ``head``, as file records, in log order.

    An event the mapper cannot decode is yielded as ``Undecodable`` (the export stops on
    it; the verification reports it).
    """

    def __init__(self, app: JourneyApplication, selection: Selection, head: int) -> None:
        self.app = app
        self.selection = selection
        self.head = head
        self.repairs: set[str] = set()  # the customer's repairs seen so far
        self.scanned = 0
        self.selected = 0

    def __iter__(self) -> Iterator[dict[str, Any] | Undecodable]:
        to_domain_event = self.app.mapper.to_domain_event
        held: tuple[dict[str, Any], object] | None = None  # a registration, until its movement
        position = 1
        while position <= self.head:
            page = self.app.recorder.select_notifications(position, PAGE, stop=self.head)
            if not page:
                break
            chain = _ChainPage(self.app, position, page[-1].id)
            for n in page:
                self.scanned += 1
                links = chain.links(n.id)
                try:
                    event: Any = to_domain_event(n)
                    record = _record(n, event, links)  # a field the event lacks: undecodable
                except Exception as exc:  # any decoding failure of one stored event
                    yield Undecodable(n, f"{type(exc).__name__}: {exc}")
                    continue
                if not self.selection.filtered:
                    self.selected += 1
                    yield record
                    continue
                if getattr(event, "occurred_at", None) is None:
                    # No touchpoint of its own: it goes with the next event (its movement).
                    # One held before it was an orphan, left out by a filtered export.
                    held = (record, n.originator_id)
                    continue
                chosen = self._selects(event)
                if held is not None:
                    if chosen and held[1] == n.originator_id:
                        self.selected += 1
                        yield held[0]
                    held = None
                if chosen:
                    self.selected += 1
                    yield record
            position = page[-1].id + 1

    def _selects(self, event: Any) -> bool:
        s = self.selection
        if s.customer is not None:
            if event.customer_id == s.customer:
                if isinstance(event, Repair.Requested):  # learned whatever its time
                    self.repairs.add(event.repair_id)
            elif not (isinstance(event, PartStock.Movement)
                      and getattr(event, "repair_id", None) in self.repairs):
                return False
        if s.start is not None and event.occurred_at < s.start:
            return False
        return s.end is None or event.occurred_at <= s.end


class _ChainPage:
    """The store's chain rows for positions ``first..last``: each event's hash and the hash
    of the chained position before it (the chain links rows, not numbers)."""

    def __init__(self, app: JourneyApplication, first: int, last: int) -> None:
        r = app.journey_recorder
        with r.read_rows() as c:
            c.execute(f"SELECT hash FROM {r.chain_sql} WHERE position < {r.ph} "
                      "ORDER BY position DESC LIMIT 1", (first,))
            before = c.fetchone()
            c.execute(f"SELECT position, hash FROM {r.chain_sql} WHERE position >= {r.ph} "
                      f"AND position <= {r.ph} ORDER BY position", (first, last))
            self.rows = [(int(p), bytes(h)) for p, h in c.fetchall()]
        self.prev = ZERO_HASH if before is None else bytes(before[0])
        self.i = 0

    def links(self, position: int) -> tuple[str | None, str | None]:
        """(chain_prev, chain_hash) of the event at ``position``, in increasing order."""
        while self.i < len(self.rows) and self.rows[self.i][0] < position:
            self.prev = self.rows[self.i][1]  # a chained position without its event
            self.i += 1
        if self.i < len(self.rows) and self.rows[self.i][0] == position:
            prev, own = self.prev, self.rows[self.i][1]
            self.prev, self.i = own, self.i + 1
            return prev.hex(), own.hex()
        return None, None


def _record(n: Notification, event: Any,
            links: tuple[str | None, str | None] = (None, None)) -> dict[str, Any]:
    state = bytes(n.state)
    occurred = getattr(event, "occurred_at", None)
    return {
        "position": n.id,
        "recorded_at": rfc3339(event.timestamp),
        "originator_id": str(n.originator_id),
        "originator_version": n.originator_version,
        "topic": n.topic,
        "event_type": type(event).__qualname__,
        "touchpoint_id": getattr(event, "touchpoint_id", None),
        "customer_id": getattr(event, "customer_id", None),
        "occurred_at": None if occurred is None else rfc3339(occurred),
        "state": state,
        "state_sha256": hashlib.sha256(state).hexdigest(),
        "chain_prev": links[0],
        "chain_hash": links[1],
    }


# --- helpers ------------------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """``2026-03-01T08:00:00.000000Z``: UTC, fixed width (so the text sorts like the time)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
