"""Tamper evidence: verify the event log against its audit hash chain and HMAC seals.

``verify_log`` streams the events, ``journey_chain`` and ``journey_seals`` in position order
(each by its primary key, ``chunk_size`` rows a query, merged here so rows missing on either
side show up), recomputes the chain from the events (see ``journey.infra.store.chain``) and
checks every seal. It names the first position that is not what was written and what
happened (a seal problem is kept while the chain is checked on to its end; a chain problem
ends the pass):

``altered``        an event row's content (originator, version, topic, state) changed
``reordered``      the row holds (some columns of) another row's content: rows swapped
``deleted``        an event row is gone (its chain row or seal remains, or the chain
                   skips over its position)
``inserted``       an event row no chain row accounts for (forged), at the end or in between
``chain_altered``  a chain row was rewritten or removed while its event is intact
``seal_invalid``   a seal does not authenticate the chain: events and chain rows after
                   ``sealed_up_to`` were rewritten consistently by someone without the
                   secret (or the secret differs from the one the store was written with)
``seal_missing``   a seal the writer always makes (each SEAL_EVERY mark, the head) is gone

A seal proves something only when it is checked with the store's own secret, so
``audit verify`` reports ``ok`` only when the chain is intact **and** every seal was checked
with the configured JOURNEY_AUDIT_SECRET, whose key fingerprint is the one recorded in the
store. Otherwise ``seals`` says why the seals prove nothing (the chain is still checked, and
reported apart as ``chain``):

``verified``       every seal checked with the store's secret authenticates the chain
``invalid``        a seal checked with the key in use failed or is gone (``problem`` names it)
``default-key``    the store is sealed with the public default key: anyone can forge them
``unverified``     no secret is configured, and the store's seals are made with one
``key-mismatch``   the configured secret is not the store's (another key fingerprint)

Everything up to ``sealed_up_to`` is proven to be what the writers wrote (given the secret
is secret). What a chain cannot show is the newest batches being cut off together with
their chain rows and seals: record ``sealed_up_to`` and ``head_hash`` somewhere else (a
ticket, a log shipper) and compare a later report with them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from journey.infra.audit.findings import (
    Finding,
    Row,
    as_bytes,
    chain_altered,
    fields_of,
    find_swap,
    rows_named,
    seal_invalid,
)
from journey.infra.store import JourneyApplication, JourneyRecorderMixin
from journey.infra.store.chain import (
    DEFAULT_FINGERPRINT,
    ZERO_HASH,
    audit_key,
    crosses_seal_mark,
    describe_key,
    key_fingerprint,
    link,
    seal_ok,
)

CHUNK_SIZE = 10_000
#: Exit code of ``audit verify`` when nothing was found altered but the seals prove nothing
#: (``seals``: default-key, unverified, key-mismatch); 1 means a finding (``problem``).
EXIT_UNPROVEN = 3

SEAL_PROBLEMS = frozenset({"seal_invalid", "seal_missing"})
NO_FINGERPRINT_WARNING = (
    "no key fingerprint is recorded in this store (sealed before fingerprints were): its "
    "seals were checked with the configured key; the next append records it"
)



@dataclass
class AuditReport:
    """The outcome of ``verify_log``; ``as_json()`` is the ``audit verify --json`` document."""

    ok: bool
    events: int  # event rows that match the chain (up to a chain problem, if any)
    seconds: float
    first_bad_position: int | None = None
    problem: str | None = None
    detail: str = ""
    sealed_up_to: int = 0  # everything up to here is authenticated by a seal and the secret
    head_hash: str | None = None  # chain hash at sealed_up_to: anchor it elsewhere
    warnings: list[str] = field(default_factory=list)
    chain: str = "intact"  # or "broken": an event row does not match its chain row
    seals: str = "verified"  # see the module's docstring
    recorded_fingerprint: str | None = None  # the store's key, as recorded by its writers
    configured_fingerprint: str | None = None  # JOURNEY_AUDIT_SECRET's (None: not set)
    reason: str | None = None  # one line: why not ok
    expected_head: str | None = None  # --expect-head: a head_hash kept elsewhere
    expected_head_at: int | None = None  # the verified position whose chain hash it is

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """``audit verify``'s: 0 ok, 1 tampering found, 3 the seals prove nothing."""
        return 0 if self.ok else 1 if self.problem is not None else EXIT_UNPROVEN

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "chain": self.chain,
            "seals": self.seals,
            "recorded_fingerprint": self.recorded_fingerprint,
            "configured_fingerprint": self.configured_fingerprint,
            "reason": self.reason,
            "events": self.events,
            "events_per_second": round(self.events_per_second, 1),
            "first_bad_position": self.first_bad_position,
            "problem": self.problem,
            "detail": self.detail,
            "sealed_up_to": self.sealed_up_to,
            "head_hash": self.head_hash,
            "warnings": self.warnings,
        } | ({} if self.expected_head is None else {"expected_head": {
            "hash": self.expected_head, "found_at": self.expected_head_at,
            "events_after": None if self.expected_head_at is None
            else self.events - self.events_at_expected}})

    events_at_expected: int = 0  # verified events up to expected_head_at


def expect_head_hash(value: str) -> str:
    """A head hash as ``--expect-head`` takes it: 64 hex digits (``head_hash`` of a report)."""
    text = value.strip().lower()
    if len(text) != 64 or any(ch not in "0123456789abcdef" for ch in text):
        raise ValueError(f"expected 64 hex digits, the head_hash of an earlier `journey audit "
                         f"verify --json` (got {value!r})")
    return text


def verify_log(app: JourneyApplication, secret: str | None = None, *,
               chunk_size: int = CHUNK_SIZE, expect_head: str | None = None) -> AuditReport:
    """Verify the whole log against the audit chain and seals, streaming it in order.

    ``secret`` keys the seals; ``None`` means the one the store was opened with
    (``JOURNEY_AUDIT_SECRET``, else none: the public default). Rows appended while this
    runs (beyond the heads read at the start) are left for the next run.
    """
    recorder = app.journey_recorder
    if secret is None:
        key, configured = recorder.seal_key, not recorder.seal_key_is_default
    else:
        key, configured = audit_key(secret), bool(secret)
    recorded = recorder.recorded_fingerprint()
    fingerprint = key_fingerprint(key)
    started = time.perf_counter()
    if recorded is not None and recorded != fingerprint:
        verifier = _Verifier(recorder, None, max(1, chunk_size))  # the MACs cannot be checked
        seals = "key-mismatch" if configured else "unverified"
    else:
        verifier = _Verifier(recorder, key, max(1, chunk_size))
        # Nothing recorded and no secret: the default key if the first seal says so.
        verifier.probing = recorded is None and not configured
        seals = "default-key" if fingerprint == DEFAULT_FINGERPRINT else "verified"
    verifier.expect = None if expect_head is None else bytes.fromhex(expect_head)
    report = verifier.run()
    report.seconds = time.perf_counter() - started
    if expect_head is not None:
        _check_anchor(report, verifier, expect_head)
    if verifier.probing_failed:
        seals = "unverified"
    elif verifier.key is not None and report.problem in SEAL_PROBLEMS:
        seals = "invalid"
    elif recorded is None and seals == "verified" and report.events:
        report.warnings.append(NO_FINGERPRINT_WARNING)
    report.seals = seals
    report.recorded_fingerprint = recorded
    report.configured_fingerprint = fingerprint if configured else None
    report.ok = report.problem is None and seals == "verified"
    if seals != "verified" and seals != "invalid":
        report.sealed_up_to, report.head_hash = 0, None  # nothing is authenticated
    if report.problem is not None and report.first_bad_position is None:
        report.reason = f"{report.problem}: {report.detail}"
    elif report.problem is not None:
        report.reason = f"position {report.first_bad_position}: {report.problem}: {report.detail}"
    elif not report.ok:
        report.reason = _unproven(seals, recorded, report.configured_fingerprint)
    return report


def _check_anchor(report: AuditReport, verifier: _Verifier, expected: str) -> None:
    """``--expect-head``: the verified chain must pass through the hash kept elsewhere."""
    report.expected_head, report.expected_head_at = expected, verifier.expect_at
    report.events_at_expected = verifier.events_at_expect
    if verifier.expect_at is None and report.problem is None:
        report.problem = "head_not_found"
        report.detail = (f"the expected head hash {expected} is not the chain hash of any "
                         f"of the {report.events} verified positions: the log was cut off or "
                         "rewritten before it (or the hash is not from this store)")


def _unproven(seals: str, recorded: str | None, configured: str | None) -> str:
    store_key = "" if recorded is None else f" (key {describe_key(recorded)})"
    if seals == "default-key":
        return (f"this store is sealed with the public default key ({DEFAULT_FINGERPRINT}): "
                "anyone who can write to the database can forge its seals; give a store its "
                "JOURNEY_AUDIT_SECRET before its first write")
    if seals == "key-mismatch":
        return (f"JOURNEY_AUDIT_SECRET (key {configured}) is not the secret this store's seals "
                f"are made with{store_key}: they cannot be checked")
    return (f"JOURNEY_AUDIT_SECRET is not set: this store's seals{store_key} are made with a "
            "secret and cannot be checked without it")


class _Verifier:
    def __init__(self, recorder: JourneyRecorderMixin, key: bytes | None,
                 chunk_size: int) -> None:
        self.recorder = recorder
        self.key = key  # None: the MACs are not checked (only that the seals exist)
        self.chunk_size = chunk_size
        self.events = 0
        self.sealed_up_to = 0
        self.sealed_hash: bytes | None = None
        #: The key is only a guess (the public default): a first seal it fails means the
        #: store has a secret, so the MACs go unchecked rather than reported as tampering.
        self.probing = False
        self.probing_failed = False
        self.seal_finding: Finding | None = None
        self.expect: bytes | None = None  # --expect-head, and where the chain passed it
        self.expect_at: int | None = None
        self.events_at_expect = 0

    def run(self) -> AuditReport:
        rows = self._rows()
        chain_finding = self._scan(rows)
        finding = self.seal_finding or chain_finding
        report = AuditReport(True, self.events, 0.0, sealed_up_to=self.sealed_up_to,
                             head_hash=self._head_hash())
        if chain_finding is not None:
            report.chain = "broken"
        if finding is not None:
            report.first_bad_position = finding.position
            report.problem, report.detail = finding.problem, finding.detail
        return report

    def _head_hash(self) -> str | None:
        return None if self.sealed_hash is None else self.sealed_hash.hex()

    # --- the pass over the log --------------------------------------------------------------

    def _scan(self, rows: Iterator[Row]) -> Finding | None:
        """The first chain problem (the pass stops there); the first seal problem is kept
        in ``seal_finding`` and the pass goes on checking the chain."""
        prev, prev_pos = ZERO_HASH, 0  # the last verified chained position and its hash
        last_seal = 0
        for row in rows:
            pos, chain = row.position, row.chain
            if row.has_event and chain is not None:
                event = row.event
                if event is None or link(prev, pos, *event) != chain:
                    return self._mismatch(row, prev, prev_pos, rows)
                self.events += 1
                if chain == self.expect:
                    self.expect_at, self.events_at_expect = pos, self.events
            elif chain is not None:
                return Finding(pos, "deleted", f"position {pos} is in the audit chain but its "
                                "event row is missing from the log")
            elif row.has_event:
                return self._unchained(row, prev, prev_pos, rows)
            else:
                first = prev_pos + 1
                return Finding(first, "deleted", f"position {pos} was sealed but neither its "
                                f"event nor its chain row exists: {rows_named(first, pos)} "
                                "deleted with their chain rows")
            if row.mac is not None:
                last_seal = pos
                self._seal(pos, chain, row.mac)
            elif crosses_seal_mark(prev_pos, pos):
                self._seal_finding(pos, "seal_missing", f"the seal of position {pos} (first "
                                   "position of its SEAL_EVERY block) was deleted")
            prev, prev_pos = chain, pos
        if prev_pos and last_seal != prev_pos:
            self._seal_finding(prev_pos, "seal_missing", f"the seal of the last position "
                               f"{prev_pos} was deleted (every batch seals its last position)")
        return None

    def _seal(self, pos: int, chain: bytes, mac: bytes) -> None:
        if self.key is None or self.seal_finding is not None:
            return
        if seal_ok(self.key, pos, chain, mac):
            self.probing = False  # the store is sealed with this key
            self.sealed_up_to, self.sealed_hash = pos, chain
        elif self.probing:
            self.probing, self.probing_failed, self.key = False, True, None
        else:
            self._seal_finding(pos, "seal_invalid", seal_invalid(pos, self.sealed_up_to))

    def _seal_finding(self, pos: int, problem: str, detail: str) -> None:
        if self.seal_finding is None:
            self.seal_finding = Finding(pos, problem, detail)

    def _mismatch(self, row: Row, prev: bytes, prev_pos: int, rows: Iterator[Row]
                  ) -> Finding:
        """An event row and its chain row disagree: which one changed?"""
        pos, event, chain = row.position, row.event, row.chain
        assert chain is not None
        if event is None:
            return Finding(pos, "altered", f"event row {pos} has a column of the wrong type "
                            "(NULL, text for a number, ...): it was altered")
        recomputed = link(prev, pos, *event)
        nxt = next(rows, None)
        if nxt is not None and nxt.event is not None and nxt.chain is not None:
            if link(recomputed, nxt.position, *nxt.event) == nxt.chain:
                return chain_altered(pos)  # the event is what the next link was made from
        elif (row.mac is not None and self.key is not None
              and seal_ok(self.key, pos, recomputed, row.mac)):
            return chain_altered(pos)  # the event is what its seal was made from
        # The event changed. Into (columns of) another row that changed too? That one
        # is the other half of a swap; finding it also proves this chain row authentic.
        swapped = find_swap(pos, event, prev, chain, nxt, rows)
        if swapped is not None:
            return swapped
        if pos > prev_pos + 1:
            first = prev_pos + 1
            return Finding(first, "deleted", f"position {pos} does not follow on from "
                            f"position {prev_pos}: {rows_named(first, pos - 1)} deleted with "
                            f"their chain rows (or row {pos} was altered)")
        return Finding(pos, "altered", f"event row {pos} differs from what was appended "
                        "(originator, version, topic or state changed)")

    def _unchained(self, row: Row, prev: bytes, prev_pos: int, rows: Iterator[Row]
                   ) -> Finding:
        """An event row without a chain row: forged, or its chain row was removed."""
        pos = row.position
        nxt = next(rows, None)
        if (row.event is not None and nxt is not None and nxt.event is not None
                and nxt.chain is not None
                and link(link(prev, pos, *row.event), nxt.position, *nxt.event) == nxt.chain):
            return Finding(pos, "chain_altered", f"the chain row of position {pos} was "
                            "deleted; the event row itself is the one that was appended")
        detail = f"event row {pos} has no chain row: it was inserted, not appended"
        if prev_pos == 0 and nxt is not None:
            detail += " (or the store holds events from before the audit chain existed)"
        return Finding(pos, "inserted", detail)

    # --- reading ----------------------------------------------------------------------------

    def _rows(self) -> Iterator[Row]:
        """Every position up to the heads read at the start, merged from the three tables."""
        r = self.recorder
        with r.read_rows() as c:
            # One statement: one snapshot of the three heads.
            c.execute(f"SELECT (SELECT MAX({r.position_sql}) FROM {r.events_sql}) AS e, "
                      f"(SELECT MAX(position) FROM {r.chain_sql}) AS h, "
                      f"(SELECT MAX(position) FROM {r.seals_sql}) AS s")
            heads = c.fetchone()
        bound = max(int(h or 0) for h in heads)
        events = self._stream(
            f"SELECT {r.position_sql}, originator_id, originator_version, topic, state "
            f"FROM {r.events_sql} WHERE {r.position_sql} > {r.ph} AND {r.position_sql} <= {r.ph} "
            f"ORDER BY {r.position_sql} LIMIT {r.ph}", bound)
        chain = self._stream(
            f"SELECT position, hash FROM {r.chain_sql} WHERE position > {r.ph} "
            f"AND position <= {r.ph} ORDER BY position LIMIT {r.ph}", bound)
        seals = self._stream(
            f"SELECT position, mac FROM {r.seals_sql} WHERE position > {r.ph} "
            f"AND position <= {r.ph} ORDER BY position LIMIT {r.ph}", bound)
        end = sys.maxsize
        e, h, s = next(events, None), next(chain, None), next(seals, None)
        while e is not None or h is not None or s is not None:
            pos = min(end if e is None else e[0], end if h is None else h[0],
                      end if s is None else s[0])
            row = Row(pos, False, None, None, None)
            if e is not None and e[0] == pos:
                row.has_event, row.event = True, fields_of(e)
                e = next(events, None)
            if h is not None and h[0] == pos:
                row.chain = as_bytes(h[1])
                h = next(chain, None)
            if s is not None and s[0] == pos:
                row.mac = as_bytes(s[1])
                s = next(seals, None)
            yield row

    def _stream(self, sql: str, bound: int) -> Iterator[tuple[Any, ...]]:
        """Rows of a keyset-paged query, one short read transaction per chunk."""
        after = 0
        while True:
            with self.recorder.read_rows() as c:
                c.execute(sql, (after, bound, self.chunk_size))
                chunk = c.fetchall()
            yield from chunk
            if len(chunk) < self.chunk_size:
                return
            after = int(chunk[-1][0])

