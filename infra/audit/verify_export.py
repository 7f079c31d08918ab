"""An export checked against the store, record by record.

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
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any, BinaryIO

import fastavro
from eventsourcing.persistence import Notification

from journey.infra.audit.export import (
    FORMAT,
    PARSED_SCHEMA,
    ExportError,
    Scan,
    Selection,
    Undecodable,
)
from journey.infra.audit.files import open_regular
from journey.infra.store import JourneyApplication


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


# --- verify ---------------------------------------------------------------------------------------


def verify_export(app: JourneyApplication, path: str | os.PathLike[str], *,
                  stream: BinaryIO | None = None) -> VerifyReport:
    """Check an export against the store: same events, byte for byte; the first mismatch.

    Reads the file once and the store's log up to the file's head position once (streamed,
    like the export). ``ok`` is true when the file holds exactly the events the store selects
    for the file's selection, each identical to the store's (stored fields and bytes, and
    the decoded ones); otherwise ``first_mismatch`` says where and what. ``path`` must be a
    regular file (or a link to one); or ``stream``, a seekable binary stream, is read
    instead and ``path`` only names it in the report.
    """
    started = time.perf_counter()
    report = VerifyReport(path=str(path), ok=False)
    try:
        with nullcontext(stream) if stream is not None else open_regular(os.fspath(path)) as s:
            report.first_mismatch = _verify(app, s, report)
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

    expected = iter(Scan(app, selection, head))
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
            if isinstance(want, Undecodable):
                return Mismatch(_position(want), "store",
                                f"the store's event cannot be decoded: {want.error}")
            return Mismatch(_position(want), "missing",
                            "the store selects this event; the file does not hold it")
        if got is None:
            return None
        if want is not None and _position(want) == got["position"]:
            if isinstance(want, Undecodable):
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
    fastavro.writer(empty, PARSED_SCHEMA, [], codec="deflate")
    empty.seek(0)
    return json.loads(fastavro.reader(empty).metadata["avro.schema"])


_STORED = ("topic", "originator_id", "originator_version", "state", "state_sha256")
_COMPARED = (*_STORED, "recorded_at", "event_type", "touchpoint_id", "customer_id",
             "occurred_at")


def _file_record(raw: Any) -> dict[str, Any]:
    record = {name: raw[name] for name in ("position", *_COMPARED)}
    record["originator_id"] = str(record["originator_id"])  # the uuid logical type
    return record


def _position(item: dict[str, Any] | Undecodable) -> int:
    return item.notification.id if isinstance(item, Undecodable) else int(item["position"])


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


