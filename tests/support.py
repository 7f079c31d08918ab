"""Building touchpoint lines for tests, and reading outcomes back."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from journey.domain.base import Entity
from journey.domain.decide import Decider
from journey.domain.errors import TouchpointRejected
from journey.domain.invoices import Invoice
from journey.infra.store import JourneyApplication, open_store
from journey.infra.store.urls import postgres_connection_args
from journey.schemas.parsing import Parsed, parse_line
from journey.schemas.touchpoint import Touchpoint

_ids = itertools.count(1)

CUSTOMER_TYPES = ("purchase.", "invoice.", "complaint.", "repair.")


def tp(type_: str, at: str = "2026-03-01T10:00:00Z", **fields: Any) -> dict[str, Any]:
    """A touchpoint object with a fresh id; customer C1 unless given (none for part.*)."""
    obj: dict[str, Any] = {
        "touchpoint_id": fields.pop("touchpoint_id", f"tp-{next(_ids)}"),
        "type": type_,
        "occurred_at": at,
    }
    if type_.startswith(CUSTOMER_TYPES):
        obj["customer_id"] = "C1"
    obj.update(fields)
    return obj


def line(obj: dict[str, Any] | str) -> bytes:
    return obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()


# Small builders for the common entities.

def order(order_id: str = "O1", **kw: Any) -> dict[str, Any]:
    return tp("purchase.placed", order_id=order_id, currency="EUR",
              lines=kw.pop("lines", [{"sku": "S1", "qty": 2, "unit_price": "9.99"}]), **kw)


def invoice(invoice_id: str = "I1", **kw: Any) -> dict[str, Any]:
    return tp("invoice.issued", invoice_id=invoice_id, amount="19.98", currency="EUR",
              due_date="2026-03-31", **kw)


def case(case_id: str = "K1", **kw: Any) -> dict[str, Any]:
    return tp("complaint.opened", case_id=case_id, category=kw.pop("category", "billing"), **kw)


def repair(repair_id: str = "R1", **kw: Any) -> dict[str, Any]:
    return tp("repair.requested", repair_id=repair_id, serial=kw.pop("serial", "SN1"),
              fault="no power", warranty=True, **kw)


def part(type_: str, qty: int = 1, part_id: str = "P1", location: str = "WH1",
         **kw: Any) -> dict[str, Any]:
    return tp(f"part.{type_}", part_id=part_id, location=location, qty=qty, **kw)


# Deciding in memory: the real parser and decider over a dict of aggregates (no store).

E = TypeVar("E", bound=Entity)


class Memory:
    """Aggregates in a dict: enough for the decider, nothing persisted."""

    def __init__(self) -> None:
        self.items: dict[UUID, Aggregate] = {}

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        return self.items.get(aggregate_id)

    def decide(self, obj: dict[str, Any]) -> list[Aggregate.Event]:
        """Accept one touchpoint: keep the aggregates it changed, return the events it caused."""
        changed = Decider(self).decide(_validated(obj))
        for aggregate in changed:
            self.items[aggregate.id] = aggregate
        return [event for aggregate in changed for event in aggregate.collect_events()]

    def entity(self, cls: type[E], key: str) -> E:
        """The aggregate of class ``cls`` with key ``key`` (``Order``, "O1"); fails if none."""
        found = self.items.get(cls.id_for(key))
        assert isinstance(found, cls), f"no {cls.__name__} {key!r}"
        return found

    def refusal(self, obj: dict[str, Any]) -> Refused:
        """Why a touchpoint is refused; fails when it is accepted."""
        try:
            Decider(self).decide(_validated(obj))
        except TouchpointRejected as refused:
            return Refused(refused.reason)
        raise AssertionError(f"accepted, expected a refusal: {obj}")


def event_types(events: list[Any]) -> list[type]:
    """The classes of ``events``, in order."""
    return [type(event) for event in events]


@dataclass(frozen=True)
class Refused:
    """A refusal by its contract reason (2.1), e.g. ``Refused("invalid_transition")``."""

    reason: str


def _validated(obj: dict[str, Any]) -> Touchpoint:
    parsed = parse_line(line(obj))
    assert isinstance(parsed, Parsed), parsed
    return parsed.touchpoint


#: What every stored event has besides its own fields.
IDENTITY_FIELDS = frozenset({"originator_id", "originator_version", "timestamp",
                             "originator_topic"})


def event_fields(event: Aggregate.Event) -> dict[str, Any]:
    """An event's fields: the touchpoint envelope and its own, without identity and timestamp."""
    return {name: value for name, value in vars(event).items() if name not in IDENTITY_FIELDS}


# An ``invoice.issued`` event as the engine stored it before ``Invoice.Issued`` version 2.

#: The topic v1 rows carry (the engine's modules were top-level packages then).
V1_TOPIC = "domain.invoices:Invoice.Issued"

#: An ``invoice.issued`` event exactly as the engine stored it before version 2.
V1_STATE = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2025-11-03T09:15:02.123456+00:00"},'
    b'"originator_topic":"domain.invoices:Invoice","touchpoint_id":"tp-legacy-1",'
    b'"occurred_at":{"_type_":"datetime_iso","_data_":"2025-11-02T23:30:00+00:00"},'
    b'"customer_id":"C1","channel":"email","source":"billing","error":null,'
    b'"invoice_id":"I-OLD","amount":{"_type_":"decimal_str","_data_":"120.00"},'
    b'"currency":"EUR","due_date":{"_type_":"date_iso","_data_":"2025-12-02"},'
    b'"order_id":null}'
)


def v1_row(state: bytes = V1_STATE, key: str = "I-OLD") -> StoredEvent:
    """The v1 event as a stored row: no ``class_version``, no ``terms_days``."""
    return StoredEvent(originator_id=Invoice.id_for(key), originator_version=1, topic=V1_TOPIC,
                       state=state)


@contextmanager
def behind_the_engines_back(app: JourneyApplication) -> Iterator[Any]:
    """A write transaction on a connection of the test's own, as an intruder or a careless
    operator would open one: nothing of the engine checks what it does."""
    env = app.env
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        connection = sqlite3.connect(env["SQLITE_DBNAME"])
        try:
            with connection:
                yield connection.cursor()
        finally:
            connection.close()
        return
    import psycopg

    with (
        psycopg.connect(**postgres_connection_args(env)) as connection,
        connection.transaction(),
        connection.cursor() as cursor,
    ):
        yield cursor


JOURNEY = str(Path(sys.executable).with_name("journey"))


class Journey:
    """Runs the installed `journey` command as a user would."""

    def __init__(self, db: str, cwd: Path) -> None:
        self.db = db
        self.cwd = cwd

    def run(self, *args: str, stdin: bytes | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            [JOURNEY, "--db", self.db, *args], input=stdin, capture_output=True, cwd=self.cwd,
            env={**os.environ, "JOURNEY_LOG_FORMAT": "json", **(env or {})}, timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"journey {' '.join(args)} failed: {result.stderr.decode()}")
        return result

    def json(self, *args: str, stdin: bytes | None = None) -> Any:
        result = self.run(*args, "--json", stdin=stdin)
        return json.loads(result.stdout)


def store_digest(url: str) -> dict[str, object]:
    """What must be equal: every event (minus its record time) in log order, every
    accepted touchpoint, the rejects with their reasons in arrival order."""
    app: JourneyApplication = open_store(url)
    try:
        events = hashlib.sha256()
        notifications = app.recorder.select_notifications(start=1, limit=10**9)
        for n in notifications:
            state = json.loads(n.state)
            state.pop("timestamp", None)
            events.update(f"{n.originator_id}|{n.originator_version}|{n.topic}|".encode())
            events.update(json.dumps(state, sort_keys=True).encode())
        recorder = app.journey_recorder
        rejects, after = [], 0
        while page := recorder.rejects(after=after):
            rejects.extend((r.touchpoint_id, r.reason, r.detail, r.raw) for r in page)
            after = page[-1].seq
        return {
            "events": events.hexdigest(),
            "counts": recorder.counts(),
            "rejects": hashlib.sha256(repr(rejects).encode()).hexdigest(),
        }
    finally:
        app.close()


def all_views(app: JourneyApplication) -> dict[str, Any]:
    """Every view's answer (each customer's timeline too), to compare two stores' views."""
    from journey.infra.views.live import view_queries

    with view_queries(app) as views:
        customers = views.customers(top=100_000)
        return {
            "errors": views.errors(),
            "stock": views.stock(),
            "customers": customers,
            "timelines": {c["customer_id"]: views.timeline(c["customer_id"])
                          for c in customers["customers"]},
            "kpis": views.kpis(),  # the service view: ratings follow errors in any order
            "invoices": views.invoices(),
        }
