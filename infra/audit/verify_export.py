"""An export checked against the store, record by record, or on its own (offline).

With a store, ``verify_export`` reads the file back and runs the same selection over the
store up to the file's head position, comparing record by record: the file holds exactly
the events the store selects (none missing, none added, in log order), and each record
matches the store (topic, originator, version, state bytes and their SHA-256, every decoded
field, the chain hashes), and the file's head hash is the store's. It also checks the
file's magic, format, schema, head position and selection, and reports the first mismatch.
Not checked: ``journey.store`` and ``journey.exported_at`` (informational: a restored copy
of a store verifies under another URL), and the few bytes of a deflate block that carry no
data (a change there cannot alter a record).

Offline (no store; format "2" files), the file is checked against itself:

- every record's state hashes to its ``state_sha256``, and its content hashes, after its
  ``chain_prev``, to its ``chain_hash`` (the chain's own encoding): an edit that does not
  recompute both is caught;
- records follow in log order, none beyond the head position;
- a whole-log export (no selection) must form one unbroken chain: each record's
  ``chain_prev`` is the ``chain_hash`` of the record before it (the zero hash for the
  first) and the last one's is ``journey.head_hash``. A record removed, added, reordered or
  changed (even with every hash recomputed after it) breaks this or changes the head hash;
- the head seal, when the store's secret is configured (``JOURNEY_AUDIT_SECRET``, the key
  whose fingerprint the file names): it authenticates ``journey.head_hash``.

What offline verification cannot prove: that the events are the store's (anyone can
recompute SHA-256 hashes, so a forger who rewrites a file and all of its hashes is caught
only by the head seal, with the secret, or by comparing ``head_hash`` with a value kept
elsewhere); and, for a selection (a customer, a period), that no selected event is missing
or that the records belong together: their chain neighbours are not in the file. Verify
against the store for that. Format "1" files carry no chain hashes: offline, only their
records' SHA-256 and order are checked.
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
from uuid import UUID

import fastavro
from eventsourcing.persistence import Notification

from journey.infra.audit.export import (
    FORMATS,
    PARSED_SCHEMAS,
    ExportError,
    Scan,
    Selection,
    Undecodable,
    head_anchor,
)
from journey.infra.audit.files import open_regular
from journey.infra.store import JourneyApplication, store_url
from journey.infra.store.chain import ZERO_HASH, link, seal_ok


@dataclass(frozen=True)
class Mismatch:
    """Where a file and the store first disagree."""

    position: int | None  # None: not about one event (header, unreadable file, store end)
    field: str  # a record field, or: missing, unexpected, file, store
    detail: str
    in_file: str | None = None
    in_store: str | None = None

    def __str__(self) -> str:
        where = "the file" if self.position is None else f"position {self.position}"
        text = f"{where}: {self.field}: {self.detail}"
        if self.in_file is not None or self.in_store is not None:
            text += f" (in the file: {self.in_file}; in the store: {self.in_store})"
        return text


@dataclass
class VerifyReport:
    """The outcome of ``verify_export``: ``ok`` when no check found a mismatch."""

    path: str
    ok: bool
    offline: bool = False  # checked without a store: the file against itself
    store: str | None = None  # the store checked (None: offline)
    exported_from: str | None = None  # the store the file says it came from
    format: str | None = None
    records: int = 0  # file records checked (up to and including the first mismatch)
    head_position: int | None = None
    head_hash: str | None = None  # the file's journey.head_hash (None: it has none)
    selection: dict[str, str | None] | None = None
    chain_checked: int = 0  # records whose chain_hash was recomputed from their content
    chain_linked: bool = False  # the records form one chain from the log's start to head_hash
    head_seal: str = "absent"  # verified, unchecked (no or another secret), absent
    first_mismatch: Mismatch | None = None
    seconds: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["metadata"]
        return data

    def lines(self) -> list[str]:
        """What was checked and what matched, in words (``verify-export``'s output)."""
        against = (f"against the store {self.store}" if not self.offline else
                   "offline: the file against itself (no store given: --db or JOURNEY_DB)")
        out = [f"checked {self.path} {against}"]
        if self.format is not None:
            what = _selection_text(self.selection)
            out.append(f"file: format {self.format}, exported from {self.exported_from or '?'}"
                       f", {what}, up to log position {self.head_position}")
        out.append(f"records: {self.records} read" + (
            "" if self.ok else " (up to the first mismatch)"))
        if self.ok and not self.offline:
            out.append("matched: every record is the store's event byte for byte, and the "
                       "store selects no other event up to the head position")
        if self.ok and self.offline:
            out.append("matched: every record's state hashes to its state_sha256")
        if self.format == "2" and (self.ok or self.chain_checked):
            out.append(f"chain: {self.chain_checked} of {self.records} records hash to their "
                       "chain_hash" + ("; they form one unbroken chain from the log's start "
                                       f"to the head hash {self.head_hash}"
                                       if self.chain_linked else ""))
        if self.head_seal != "absent" or self.format == "2":
            out.append(f"head seal: {_SEAL_WORDS[self.head_seal]}")
        if self.offline and self.ok and self.chain_linked and self.head_seal == "verified":
            out.append("proven: the seal authenticates the head hash and every record chains "
                       f"up to it: this is the store's log up to position {self.head_position}")
        elif self.offline and self.ok:
            out.append("not proven offline: " + (
                "that these are the store's events (compare the head hash with one kept "
                "elsewhere, or check the seal with the store's secret)"
                if self.chain_linked else "that the file holds every selected event and "
                "that they are the store's; verify against the store (--db) for that"))
        out.append("ok" if self.ok else f"MISMATCH at {self.first_mismatch}")
        return out


_SEAL_WORDS = {
    "verified": "verified with the configured secret: the head hash is the store's",
    "unchecked": "not checked (JOURNEY_AUDIT_SECRET is not the store's key, or not set)",
    "absent": "none in the file",
    "invalid": "INVALID with the configured secret",
}


def _selection_text(selection: dict[str, str | None] | None) -> str:
    chosen = {k: v for k, v in (selection or {}).items() if v is not None}
    if not chosen:
        return "the whole log"
    return "selection " + ", ".join(f"{k} {v}" for k, v in chosen.items())


# --- verify ---------------------------------------------------------------------------------------


def verify_export(app: JourneyApplication | None, path: str | os.PathLike[str], *,
                  stream: BinaryIO | None = None, secret_key: bytes | None = None
                  ) -> VerifyReport:
    """Check an export against the store: same events, byte for byte; the first mismatch.

    ``app`` ``None``: offline, the file against itself (see the module's docstring);
    ``secret_key`` (the HMAC key of the store's secret, if known) checks the head seal.

    Reads the file once and the store's log up to the file's head position once (streamed,
    like the export). ``ok`` is true when the file holds exactly the events the store selects
    for the file's selection, each identical to the store's (stored fields and bytes, and
    the decoded ones); otherwise ``first_mismatch`` says where and what. ``path`` must be a
    regular file (or a link to one); or ``stream``, a seekable binary stream, is read
    instead and ``path`` only names it in the report.
    """
    started = time.perf_counter()
    report = VerifyReport(path=str(path), ok=False, offline=app is None,
                          store=None if app is None else store_url(app.env))
    try:
        with nullcontext(stream) if stream is not None else open_regular(os.fspath(path)) as s:
            report.first_mismatch = _verify(app, s, report, secret_key)
    except OSError as exc:
        raise ExportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    report.ok = report.first_mismatch is None
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _verify(app: JourneyApplication | None, stream: Any, report: VerifyReport,
            secret_key: bytes | None) -> Mismatch | None:
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
    report.exported_from = metadata.get("journey.store")
    try:
        form = metadata.get("journey.format")
        if form not in FORMATS:
            raise ValueError(f"journey.format is {form!r}, expected one of {FORMATS}")
        if json.loads(metadata["avro.schema"]) != _embedded_schema(form):
            raise ValueError("its schema is not the export schema")
        head = int(metadata["journey.head_position"])
        selection = Selection.from_json(json.loads(metadata["journey.selection"]))
    except (KeyError, ValueError, TypeError, AttributeError, ExportError) as exc:
        return Mismatch(None, "file", f"not a journey export (metadata): {exc}")
    report.format, report.head_position, report.selection = form, head, selection.as_json()
    report.head_hash = metadata.get("journey.head_hash") or None
    chain = _ChainCheck(form == "2" and not selection.filtered)
    seal = _head_seal(metadata, head, secret_key, report)
    if seal is not None:
        return seal
    if app is None:
        return _verify_offline(reader, report, head, chain)
    store_head = app.journey_recorder.position()
    if store_head < head:
        return Mismatch(None, "store", f"the store's log ends at {store_head}, before the "
                        f"export's head position {head}")
    if form == "2" and (report.head_hash or "") != head_anchor(app, head)[0]:
        return Mismatch(None, "head_hash", "the file's head hash is not the store's chain "
                        f"hash at position {head}", report.head_hash, head_anchor(app, head)[0])

    compared = _COMPARED if form == "2" else _COMPARED_V1
    expected = iter(Scan(app, selection, head))
    want = next(expected, None)
    last = 0
    while True:
        got, unreadable = _next_record(reader, report, last)
        if unreadable is not None:
            return unreadable
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
            return chain.end(report)
        if want is not None and _position(want) == got["position"]:
            if isinstance(want, Undecodable):
                found = _first_difference(got, _stored_fields(want.notification), _STORED)
                return found or Mismatch(got["position"], "store",
                                         f"the store's event cannot be decoded: {want.error}")
            found = _first_difference(got, want, compared) or chain.check(got, report)
            if found is not None:
                return found
            want = next(expected, None)
            continue
        return _unexpected(app, got)


def _next_record(reader: Any, report: VerifyReport, last: int
                 ) -> tuple[dict[str, Any] | None, Mismatch | None]:
    """The file's next record (``None`` at its end), or why the file cannot be read on."""
    try:
        raw = next(reader, None)
        return (None if raw is None else _file_record(raw)), None
    except Exception as exc:  # damaged block: zlib, decoding, sync marker, schema
        return None, Mismatch(None, "file", f"unreadable after {report.records} records "
                              f"(last position {last}): {type(exc).__name__}: {exc}")


def _verify_offline(reader: Any, report: VerifyReport, head: int, chain: _ChainCheck
                    ) -> Mismatch | None:
    """The file against itself: hashes, order, chain links (see the module's docstring)."""
    last = 0
    while True:
        got, unreadable = _next_record(reader, report, last)
        if unreadable is not None:
            return unreadable
        if got is None:
            return chain.end(report)
        report.records += 1
        problem = _inconsistent(got, last, head) or chain.check(got, report)
        if problem is not None:
            return problem
        last = got["position"]


class _ChainCheck:
    """Each record's chain hash recomputed from its content; for a whole-log export, each
    record linked to the one before it, and the last one to the head hash."""

    def __init__(self, linked: bool) -> None:
        self.linked = linked
        self.prev: str | None = ZERO_HASH.hex()

    def check(self, got: dict[str, Any], report: VerifyReport) -> Mismatch | None:
        prev, own = got.get("chain_prev"), got.get("chain_hash")
        position = got["position"]
        if own is None or prev is None:
            if self.linked:  # a whole-log export of format 2 chains every event it holds
                return Mismatch(position, "chain_hash", "the record carries no chain hash, "
                                "though every event of a whole-log export is chained: it was "
                                "added to the file or altered")
            return None  # format 1, or a selection
        try:
            recomputed = link(bytes.fromhex(prev), position, UUID(got["originator_id"]).hex,
                              got["originator_version"], got["topic"], got["state"]).hex()
        except ValueError as exc:
            return Mismatch(position, "chain_hash", f"not a chain hash: {exc}", own)
        if recomputed != own:
            return Mismatch(position, "chain_hash", "the record's content does not hash to its "
                            "chain_hash: it was changed after the export", own, recomputed)
        if self.linked and prev != self.prev:
            return Mismatch(position, "chain_prev", "the record does not follow on from the "
                            "record before it in the file: events were removed, added or "
                            "reordered, or one before it was changed", prev, self.prev)
        self.prev = own
        report.chain_checked += 1
        return None

    def end(self, report: VerifyReport) -> Mismatch | None:
        if not self.linked or not report.chain_checked or (
                report.chain_checked != report.records):
            return None
        if self.prev != (report.head_hash or None):
            return Mismatch(None, "head_hash", "the last record's chain hash is not the "
                            "file's head hash: records at the end were removed or changed",
                            report.head_hash, self.prev)
        report.chain_linked = True
        return None


def _head_seal(metadata: dict[str, str], head: int, key: bytes | None,
               report: VerifyReport) -> Mismatch | None:
    """Check the file's head seal with the configured secret, when it is the store's."""
    seal, hashed = metadata.get("journey.head_seal"), metadata.get("journey.head_hash")
    if key is None or metadata.get("journey.format") != "2":
        if seal and hashed:
            report.head_seal = "unchecked"
        return None
    # A secret is configured: the seal is checked with it, whatever the file says of its key
    # (a rewriter could strip the seal or change the fingerprint to dodge the check).
    if not seal or not hashed:
        report.head_seal = "absent"
        return Mismatch(None, "head_seal", "the file carries no head seal to check with the "
                        "configured secret: it was stripped from the file", hashed)
    try:
        good = seal_ok(key, head, bytes.fromhex(hashed), bytes.fromhex(seal))
    except ValueError:
        good = False
    if not good:
        report.head_seal = "invalid"
        return Mismatch(None, "head_seal", "the head seal does not authenticate the file's "
                        "head hash with the configured secret: the file was rewritten, or "
                        "the secret is not the store's", hashed)
    report.head_seal = "verified"
    return None


@cache
def _embedded_schema(form: str) -> Any:
    """The schema as ``export_events`` embeds it (fastavro's canonical JSON), per format."""
    empty = io.BytesIO()
    fastavro.writer(empty, PARSED_SCHEMAS[form], [], codec="deflate")
    empty.seek(0)
    return json.loads(fastavro.reader(empty).metadata["avro.schema"])


_STORED = ("topic", "originator_id", "originator_version", "state", "state_sha256")
_COMPARED_V1 = (*_STORED, "recorded_at", "event_type", "touchpoint_id", "customer_id",
                "occurred_at")
_COMPARED = (*_COMPARED_V1, "chain_prev", "chain_hash")


def _file_record(raw: Any) -> dict[str, Any]:
    record = {name: raw.get(name) for name in ("position", *_COMPARED)}
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


