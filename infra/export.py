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
however large the store. It writes ``FILE.partial`` beside the target and renames it into
place when complete, so a file under the target name is always a whole export.

``verify_export`` reads the file back and runs the same selection over the store up to the
file's head position, comparing record by record: the file holds exactly the events the
store selects (none missing, none added, in log order), and each record matches the store
(topic, originator, version, state bytes and their SHA-256, every decoded field). It also
checks the file's magic, format, schema, head position and selection, and reports the first
mismatch. Not checked: ``journey.store`` and ``journey.exported_at`` (informational: a
restored copy of a store verifies under another URL), and the few bytes of a deflate block
that carry no data (a change there cannot alter a record).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from datetime import time as day_time
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import fastavro
from eventsourcing.persistence import Notification

from journey.domain.errors import JourneyError
from journey.domain.repairs import Repair
from journey.domain.stock import PartStock
from journey.infra.store import JourneyApplication

#: Notifications read per query.
PAGE = 2000

#: Version of the file layout (schema and metadata keys); bumped on incompatible changes.
FORMAT = "1"

#: The container's own metadata, besides Avro's ``avro.schema`` and ``avro.codec``.
FILE_METADATA = {
    "journey.format": "version of this file layout",
    "journey.store": "the store exported (its URL; a password is never written)",
    "journey.head_position": "the log position the export read up to (inclusive)",
    "journey.exported_at": "when the export started, RFC 3339 UTC",
    "journey.selection": 'JSON {"customer": ..., "start": ..., "end": ...}; null = no filter',
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
    ],
}

_PARSED_SCHEMA = fastavro.parse_schema(SCHEMA)


class ExportError(JourneyError):
    """An export cannot be made or read (bad arguments, unreadable store event, I/O)."""


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

    path: str
    records: int  # events in the file
    scanned: int  # events read from the log (all of them up to head_position)
    head_position: int
    selection: dict[str, str | None]
    file_bytes: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Mismatch:
    """Where a file and the store first disagree."""

    position: int | None  # None: not about one event (header, unreadable file, store end)
    field: str  # a record field, or: missing, unexpected, file, store
    detail: str
    in_file: str | None = None
    in_store: str | None = None


@dataclass
class VerifyReport:
    """The outcome of ``verify_export``: ``ok`` when every record matches the store."""

    path: str
    ok: bool
    records: int = 0  # file records checked (up to and including the first mismatch)
    head_position: int | None = None
    selection: dict[str, str | None] | None = None
    store: str | None = None  # the store the file says it came from
    first_mismatch: Mismatch | None = None
    seconds: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["metadata"]
        return data


# --- export ---------------------------------------------------------------------------------------


def export_events(app: JourneyApplication, out_path: str | os.PathLike[str],
                  customer: str | None = None, start: datetime | None = None,
                  end: datetime | None = None) -> ExportSummary:
    """Write the selected stored events of ``app`` to the Avro file ``out_path``."""
    started = time.perf_counter()
    selection = Selection(customer, start, end)
    target = Path(out_path)
    head = app.journey_recorder.position()
    metadata = {
        "journey.format": FORMAT,
        "journey.store": store_url(app),
        "journey.head_position": str(head),
        "journey.exported_at": rfc3339(datetime.now(UTC)),
        "journey.selection": json.dumps(selection.as_json(), sort_keys=True),
    }
    scan = _Scan(app, selection, head)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("wb") as out:
            fastavro.writer(out, _PARSED_SCHEMA, _records_or_fail(scan), codec="deflate",
                            metadata=metadata, sync_interval=256 * 1024)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ExportSummary(str(target), scan.selected, scan.scanned, head, selection.as_json(),
                         target.stat().st_size, round(time.perf_counter() - started, 3))


def _records_or_fail(scan: _Scan) -> Iterator[dict[str, Any]]:
    for item in scan:
        if isinstance(item, _Undecodable):
            raise ExportError(f"cannot decode the stored event at position "
                              f"{item.notification.id}: {item.error}")
        yield item


@dataclass(frozen=True)
class _Undecodable:
    notification: Notification
    error: str


class _Scan:
    """The selected events of the log up to ``head``, as file records, in log order.

    An event the mapper cannot decode is yielded as ``_Undecodable`` (the export stops on
    it; the verification reports it).
    """

    def __init__(self, app: JourneyApplication, selection: Selection, head: int) -> None:
        self.app = app
        self.selection = selection
        self.head = head
        self.repairs: set[str] = set()  # the customer's repairs seen so far
        self.scanned = 0
        self.selected = 0

    def __iter__(self) -> Iterator[dict[str, Any] | _Undecodable]:
        to_domain_event = self.app.mapper.to_domain_event
        held: tuple[dict[str, Any], object] | None = None  # a registration, until its movement
        position = 1
        while position <= self.head:
            page = self.app.recorder.select_notifications(position, PAGE, stop=self.head)
            if not page:
                break
            for n in page:
                self.scanned += 1
                try:
                    event: Any = to_domain_event(n)
                except Exception as exc:  # any decoding failure of one stored event
                    yield _Undecodable(n, f"{type(exc).__name__}: {exc}")
                    continue
                if not self.selection.filtered:
                    self.selected += 1
                    yield _record(n, event)
                    continue
                if getattr(event, "occurred_at", None) is None:
                    # No touchpoint of its own: it goes with the next event (its movement).
                    # One held before it was an orphan, left out by a filtered export.
                    held = (_record(n, event), n.originator_id)
                    continue
                chosen = self._selects(event)
                if held is not None:
                    if chosen and held[1] == n.originator_id:
                        self.selected += 1
                        yield held[0]
                    held = None
                if chosen:
                    self.selected += 1
                    yield _record(n, event)
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


def _record(n: Notification, event: Any) -> dict[str, Any]:
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
    }


# --- verify ---------------------------------------------------------------------------------------


def verify_export(app: JourneyApplication, path: str | os.PathLike[str]) -> VerifyReport:
    """Check an export against the store: same events, byte for byte; the first mismatch.

    Reads the file once and the store's log up to the file's head position once (streamed,
    like the export). ``ok`` is true when the file holds exactly the events the store selects
    for the file's selection, each identical to the store's (stored fields and bytes, and
    the decoded ones); otherwise ``first_mismatch`` says where and what.
    """
    started = time.perf_counter()
    report = VerifyReport(path=str(path), ok=False)
    try:
        with open(path, "rb") as stream:
            report.first_mismatch = _verify(app, stream, report)
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    report.ok = report.first_mismatch is None
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _verify(app: JourneyApplication, stream: Any, report: VerifyReport) -> Mismatch | None:
    try:
        if stream.read(4) != b"Obj\x01":
            raise ValueError("it does not start with Avro's magic bytes")
        stream.seek(0)
        reader = fastavro.reader(stream)
        metadata = {k: v.decode() if isinstance(v, bytes) else str(v)
                    for k, v in reader.metadata.items()}
    except Exception as exc:  # whatever a damaged header makes the reader raise
        return Mismatch(None, "file", f"not a readable Avro container file: {exc}")
    report.metadata = metadata
    report.store = metadata.get("journey.store")
    try:
        if metadata.get("journey.format") != FORMAT:
            raise ValueError(f"journey.format is {metadata.get('journey.format')!r}, "
                             f"expected {FORMAT!r}")
        if json.loads(metadata["avro.schema"]) != _embedded_schema():
            raise ValueError("its schema is not the export schema")
        head = int(metadata["journey.head_position"])
        selection = Selection.from_json(json.loads(metadata["journey.selection"]))
    except (KeyError, ValueError, TypeError, AttributeError, ExportError) as exc:
        return Mismatch(None, "file", f"not a journey export (metadata): {exc}")
    report.head_position, report.selection = head, selection.as_json()
    store_head = app.journey_recorder.position()
    if store_head < head:
        return Mismatch(None, "store", f"the store's log ends at {store_head}, before the "
                        f"export's head position {head}")

    expected = iter(_Scan(app, selection, head))
    want = next(expected, None)
    last = 0
    while True:
        try:
            raw = next(reader, None)
            got = None if raw is None else _file_record(raw)
        except Exception as exc:  # damaged block: zlib, decoding, sync marker, schema
            return Mismatch(None, "file", f"unreadable after {report.records} records "
                            f"(last position {last}): {type(exc).__name__}: {exc}")
        if got is not None:
            report.records += 1
            problem = _inconsistent(got, last, head)
            if problem is not None:
                return problem
            last = got["position"]
        # Events the store selects before the next file record are missing from the file.
        while want is not None and (got is None or _position(want) < got["position"]):
            if isinstance(want, _Undecodable):
                return Mismatch(_position(want), "store",
                                f"the store's event cannot be decoded: {want.error}")
            return Mismatch(_position(want), "missing",
                            "the store selects this event; the file does not hold it")
        if got is None:
            return None
        if want is not None and _position(want) == got["position"]:
            if isinstance(want, _Undecodable):
                found = _first_difference(got, _stored_fields(want.notification), _STORED)
                return found or Mismatch(got["position"], "store",
                                         f"the store's event cannot be decoded: {want.error}")
            found = _first_difference(got, want, _COMPARED)
            if found is not None:
                return found
            want = next(expected, None)
            continue
        return _unexpected(app, got)


@cache
def _embedded_schema() -> Any:
    """The schema as ``export_events`` embeds it (fastavro's canonical JSON of ``SCHEMA``)."""
    empty = io.BytesIO()
    fastavro.writer(empty, _PARSED_SCHEMA, [], codec="deflate")
    empty.seek(0)
    return json.loads(fastavro.reader(empty).metadata["avro.schema"])


_STORED = ("topic", "originator_id", "originator_version", "state", "state_sha256")
_COMPARED = (*_STORED, "recorded_at", "event_type", "touchpoint_id", "customer_id",
             "occurred_at")


def _file_record(raw: Any) -> dict[str, Any]:
    record = {name: raw[name] for name in ("position", *_COMPARED)}
    record["originator_id"] = str(record["originator_id"])  # the uuid logical type
    return record


def _position(item: dict[str, Any] | _Undecodable) -> int:
    return item.notification.id if isinstance(item, _Undecodable) else int(item["position"])


def _inconsistent(got: dict[str, Any], last: int, head: int) -> Mismatch | None:
    """What is wrong with a file record on its own: its hash, its place."""
    position = got["position"]
    if hashlib.sha256(got["state"]).hexdigest() != got["state_sha256"]:
        return Mismatch(position, "state_sha256",
                        "the record's state does not hash to its state_sha256 "
                        "(the file was changed)", got["state_sha256"],
                        hashlib.sha256(got["state"]).hexdigest())
    if position <= last:
        return Mismatch(position, "position", f"out of log order (after position {last})")
    if position > head:
        return Mismatch(position, "position", f"beyond the export's head position {head}")
    return None


def _stored_fields(n: Notification) -> dict[str, Any]:
    state = bytes(n.state)
    return {"position": n.id, "topic": n.topic, "originator_id": str(n.originator_id),
            "originator_version": n.originator_version, "state": state,
            "state_sha256": hashlib.sha256(state).hexdigest()}


def _first_difference(got: dict[str, Any], want: dict[str, Any],
                      names: tuple[str, ...]) -> Mismatch | None:
    for name in names:
        if got[name] != want[name]:
            detail = f"{name} differs between the file and the store"
            if name == "state":
                at = next((i for i, (a, b) in enumerate(zip(got[name], want[name], strict=False))
                           if a != b), min(len(got[name]), len(want[name])))
                detail = (f"stored bytes differ from byte {at} (file {len(got[name])} bytes, "
                          f"store {len(want[name])} bytes)")
            return Mismatch(got["position"], name, detail, _shown(got[name]),
                            _shown(want[name]))
    return None


def _unexpected(app: JourneyApplication, got: dict[str, Any]) -> Mismatch:
    """A file record the store's selection does not produce: say why."""
    position = got["position"]
    found = app.recorder.select_notifications(position, 1, stop=position)
    if not found:
        return Mismatch(position, "unexpected", "the store has no event at this position")
    return _first_difference(got, _stored_fields(found[0]), _STORED) or Mismatch(
        position, "unexpected", "the store's event at this position is not in the "
        "file's selection")


def _shown(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return f"sha256:{hashlib.sha256(value).hexdigest()}"
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


# --- helpers --------------------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """``2026-03-01T08:00:00.000000Z``: UTC, fixed width (so the text sorts like the time)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_bound(text: str, *, end: bool = False) -> datetime:
    """A ``--from``/``--to`` value: RFC 3339 with an offset, or a date ``YYYY-MM-DD``.

    A date means its first microsecond in UTC, or with ``end=True`` its last (the bounds are
    inclusive, so ``--to 2026-03-31`` includes all of March 31st).
    """
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, day_time.max if end else day_time.min, UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ExportError(f"{text!r} is neither a date YYYY-MM-DD nor an RFC 3339 time") from None
    if moment.utcoffset() is None:
        raise ExportError(f"{text!r} needs a time zone offset, e.g. Z or +01:00")
    return moment


def store_url(app: JourneyApplication) -> str:
    """The URL of ``app``'s store, never with a password."""
    env = app.env
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        user = quote(env.get("POSTGRES_USER") or "postgres", safe="")
        host = env.get("POSTGRES_HOST") or "127.0.0.1"
        port = env.get("POSTGRES_PORT") or "5432"
        dbname = quote(env.get("POSTGRES_DBNAME") or "postgres", safe="")
        schema = env.get("POSTGRES_SCHEMA") or "public"
        return f"postgresql://{user}@{host}:{port}/{dbname}?schema={quote(schema, safe='')}"
    return f"sqlite:///{env.get('SQLITE_DBNAME')}"
