"""The touchpoint fold behind the timeline and the error-rate views (contract 3 and 4).

One row per accepted touchpoint: who it belongs to on a timeline, its entity, its
error code. Codes that depend on ``occurred_at`` follow late arrivals: a ``fixed``
completion that arrives late turns requests of the same serial within 30 days into
``repeat_repair``; an error that arrives late turns contacts about its entity that
occurred at or after it into failure demand. Both only ever add errors, so each change
is a row update plus counter increments, never a recount.

The fold does no I/O: it asks a ``TouchpointState`` (dicts in tests and rebuilds, the
view tables behind a cache in catch-up) and collects ``TouchpointChanges``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from journey.domain.cases import Case
from journey.domain.repairs import Repair
from journey.projections.classify import TOUCHPOINT_CLASSES, is_repeat
from journey.projections.moments import instant


@dataclass(slots=True)
class TouchpointRow:
    touchpoint_id: str
    seq: int  # notification id of its first event: ties on a timeline go by arrival
    customer_id: str | None  # whose timeline (a part movement: its repair's customer)
    kind: str
    type: str
    occurred_at: str
    occurred_us: int
    month: str
    entity: str
    subject: str | None  # the entity whose error history it is part of (failure demand)
    upstream_error: str | None
    code: str | None
    serial: str | None = None  # repair.requested: candidates for repeat_repair
    repair_id: str | None = None
    demand: str | None = None  # complaint.opened only
    contact_subject: str | None = None
    failure: int | None = None

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.touchpoint_id, self.seq, self.customer_id, self.kind, self.type,
                self.occurred_at, self.occurred_us, self.month, self.entity, self.subject,
                self.upstream_error, self.code, self.serial, self.repair_id, self.demand,
                self.contact_subject, self.failure)


@dataclass(slots=True)
class Pending:
    """A row whose classification a late arrival may still change."""

    touchpoint_id: str
    repair_id: str | None
    occurred_us: int
    kind: str
    month: str
    subject: str | None


class TouchpointState(Protocol):
    """What the fold needs to know beyond the event in hand."""

    def repair(self, repair_id: str) -> tuple[str, str] | None:
        """(customer_id, serial) of a repair."""

    def fixed_completions(self, serial: str) -> list[tuple[str, int]]:
        """(repair_id, occurred_us) of the ``fixed`` completions of a serial."""

    def open_requests(self, serial: str) -> list[Pending]:
        """Requests of a serial without a code yet (may become ``repeat_repair``)."""

    def earliest_error(self, subject: str) -> int | None:
        """occurred_us of the earliest touchpoint with a code on an entity."""

    def open_contacts(self, subject: str) -> list[Pending]:
        """Contacts of unknown demand about an entity, not yet failure demand."""


@dataclass
class TouchpointChanges:
    """What a batch of events changes, ready for one transaction."""

    rows: dict[str, TouchpointRow] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # existing rows newly classified
    failures: set[str] = field(default_factory=set)  # existing contacts now failure
    repairs: list[tuple[str, str, str]] = field(default_factory=list)
    fixed: list[tuple[str, str, int]] = field(default_factory=list)
    rates: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # kind, month, col
    by_code: Counter[str] = field(default_factory=Counter)
    demand: Counter[tuple[str, str]] = field(default_factory=Counter)  # month, col

    def writes(self) -> TouchpointWrites:
        rates: dict[tuple[str, str], list[int]] = {}
        for (kind, month, column), n in self.rates.items():
            rates.setdefault((kind, month), [0, 0])[column == "errors"] += n
        demand: dict[str, list[int]] = {}
        for (month, column), n in self.demand.items():
            demand.setdefault(month, [0, 0])[column == "failure"] += n
        return TouchpointWrites(
            rows=[row.as_tuple() for row in self.rows.values()],
            codes=[(code, tp_id) for tp_id, code in self.codes.items()],
            failures=[(tp_id,) for tp_id in self.failures],
            repairs=self.repairs, fixed=self.fixed,
            rates=[(kind, month, n, e) for (kind, month), (n, e) in rates.items()],
            by_code=list(self.by_code.items()),
            demand=[(month, n, f) for month, (n, f) in demand.items()])


@dataclass(slots=True)
class TouchpointWrites:
    """A batch's changes as plain rows for the view tables (and cheap to pickle)."""

    rows: list[tuple[Any, ...]]  # new view_touchpoints rows
    codes: list[tuple[str, str]]  # (code, touchpoint_id) of existing rows newly classified
    failures: list[tuple[str]]  # (touchpoint_id,) of existing contacts now failure demand
    repairs: list[tuple[str, str, str]]  # repair_id, customer_id, serial
    fixed: list[tuple[str, str, int]]  # serial, repair_id, occurred_us
    rates: list[tuple[str, str, int, int]]  # kind, month, +touchpoints, +errors
    by_code: list[tuple[str, int]]  # code, +count
    demand: list[tuple[str, int, int]]  # month, +contacts, +failure


class MemoryTouchpointState:
    """The whole state in dicts: for unit tests, and for rebuilds that start empty."""

    def __init__(self) -> None:
        self.repairs: dict[str, tuple[str, str]] = {}
        self.fixed: dict[str, list[tuple[str, int]]] = {}
        self.requests: dict[str, list[Pending]] = {}
        self.errors: dict[str, int] = {}
        self.contacts: dict[str, list[Pending]] = {}

    def repair(self, repair_id: str) -> tuple[str, str] | None:
        return self.repairs.get(repair_id)

    def fixed_completions(self, serial: str) -> list[tuple[str, int]]:
        return self.fixed.setdefault(serial, [])

    def open_requests(self, serial: str) -> list[Pending]:
        return self.requests.setdefault(serial, [])

    def earliest_error(self, subject: str) -> int | None:
        return self.errors.get(subject)

    def open_contacts(self, subject: str) -> list[Pending]:
        return self.contacts.setdefault(subject, [])

    # The fold records what it learned through these (a cached state writes them through).

    def learn_repair(self, repair_id: str, customer_id: str, serial: str) -> None:
        self.repairs[repair_id] = (customer_id, serial)

    def learn_error(self, subject: str, occurred_us: int) -> None:
        known = self.errors.get(subject)
        if known is None or occurred_us < known:
            self.errors[subject] = occurred_us


class TouchpointFold:
    """Folds stored events, in log order, into touchpoint rows and counters."""

    def __init__(self, state: MemoryTouchpointState) -> None:
        self.state = state
        self.changes = TouchpointChanges()
        self.handlers: dict[type, Callable[[Any, TouchpointRow], None]] = {
            Repair.Requested: self._requested, Repair.Completed: self._completed,
            Case.Opened: self._contact}

    def apply(self, event: Any, seq: int) -> None:
        cls = type(event)
        touchpoint = TOUCHPOINT_CLASSES.get(cls)
        if touchpoint is None:
            return
        kind = touchpoint.kind
        occurred_at, occurred_us, month = instant(event.occurred_at)
        entity = touchpoint.entity(event)
        code = touchpoint.code(event)
        # Positional: the hot path (see the field order of TouchpointRow).
        row = TouchpointRow(event.touchpoint_id, seq, event.customer_id, kind, touchpoint.type,
                            occurred_at, occurred_us, month, entity, entity, event.error, code)
        if kind == "part":
            row.subject = None
            repair_id = getattr(event, "repair_id", None)
            if repair_id is not None:
                row.repair_id = repair_id
                row.subject = f"repair:{repair_id}"
                known = self.state.repair(repair_id)
                row.customer_id = known[0] if known else None
        changes = self.changes
        changes.rows[row.touchpoint_id] = row
        changes.rates[(kind, month, "touchpoints")] += 1
        handler = self.handlers.get(cls)
        if handler is not None:
            handler(event, row)
        if row.code is not None:
            self._error(row.subject, occurred_us, kind, month, row.code)

    def _requested(self, event: Repair.Requested, row: TouchpointRow) -> None:
        assert event.customer_id is not None
        row.serial, row.repair_id = event.serial, event.repair_id
        self.state.learn_repair(event.repair_id, event.customer_id, event.serial)
        self.changes.repairs.append((event.repair_id, event.customer_id, event.serial))
        if row.code is not None:
            return
        for repair_id, fixed_us in self.state.fixed_completions(event.serial):
            if repair_id != event.repair_id and is_repeat(row.occurred_us, fixed_us):
                row.code = "repeat_repair"
                return
        self.state.open_requests(event.serial).append(
            Pending(row.touchpoint_id, event.repair_id, row.occurred_us, row.kind, row.month,
                    row.subject))

    def _completed(self, event: Repair.Completed, row: TouchpointRow) -> None:
        if event.outcome != "fixed":
            return
        known = self.state.repair(event.repair_id)
        if known is None:  # the write side guarantees the request came first
            return
        serial = known[1]
        self.state.fixed_completions(serial).append((event.repair_id, row.occurred_us))
        self.changes.fixed.append((serial, event.repair_id, row.occurred_us))
        requests = self.state.open_requests(serial)
        still_open = []
        for pending in requests:
            if pending.repair_id != event.repair_id and is_repeat(pending.occurred_us,
                                                                  row.occurred_us):
                self._classify(pending, "repeat_repair")
                self._error(pending.subject, pending.occurred_us, pending.kind, pending.month,
                            "repeat_repair")
            else:
                still_open.append(pending)
        requests[:] = still_open

    def _classify(self, pending: Pending, code: str) -> None:
        new_row = self.changes.rows.get(pending.touchpoint_id)
        if new_row is not None:
            new_row.code = code
        else:
            self.changes.codes[pending.touchpoint_id] = code

    def _contact(self, event: Case.Opened, row: TouchpointRow) -> None:
        row.demand = event.demand
        subject = event.subject
        row.contact_subject = None if subject is None else f"{subject['type']}:{subject['id']}"
        self.changes.demand[(row.month, "contacts")] += 1
        failure = event.demand == "failure"
        if event.demand == "unknown" and row.contact_subject is not None:
            earliest = self.state.earliest_error(row.contact_subject)
            failure = earliest is not None and earliest <= row.occurred_us
            if not failure:
                self.state.open_contacts(row.contact_subject).append(
                    Pending(row.touchpoint_id, None, row.occurred_us, row.kind, row.month,
                            row.contact_subject))
        row.failure = int(failure)
        if failure:
            self.changes.demand[(row.month, "failure")] += 1

    def _error(self, subject: str | None, occurred_us: int, kind: str, month: str,
               code: str) -> None:
        """A touchpoint has (or newly got) a code: count it, and let contacts follow."""
        self.changes.rates[(kind, month, "errors")] += 1
        self.changes.by_code[code] += 1
        if subject is None:
            return
        self.state.learn_error(subject, occurred_us)
        contacts = self.state.open_contacts(subject)
        if not contacts:
            return
        still_open = []
        for contact in contacts:
            if contact.occurred_us >= occurred_us:
                self._fail(contact)
            else:
                still_open.append(contact)
        contacts[:] = still_open

    def _fail(self, contact: Pending) -> None:
        new_row = self.changes.rows.get(contact.touchpoint_id)
        if new_row is not None:
            new_row.failure = 1
        else:
            self.changes.failures.add(contact.touchpoint_id)
        self.changes.demand[(contact.month, "failure")] += 1

