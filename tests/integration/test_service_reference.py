"""Service KPIs, cost of failure demand and invoices (contract 4.6-4.8) against the reference.

The reference (``tests/reference_support.py``, ``ServiceReference``) is written from the
contract alone and shares no code with ``domain/`` or ``projections/``: exact fractions and
decimals, nearest-rank percentiles, half-even rounding. A generated workload with many late
arrivals (and corrections held back behind the ratings they turn into ``after_error``, and
hand-made corners in a month of their own) is ingested in chunks through the installed
``journey`` command on SQLite and PostgreSQL; after every chunk, at the end and after
``journey rebuild`` the documents of ``journey kpis``, ``journey invoices`` and ``journey errors
--contact-cost`` must be the reference's. A hand-built store then checks that late arrivals move
ratings and first completions without a rebuild.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import POSTGRES, _drop_schema, _postgres_url
from tests.reference_support import (
    Arrival,
    Reference,
    ServiceReference,
    accepted_ids_in_store,
    all_rejects,
    arrivals,
    assert_errors_with_cost_match,
    candidate_ids,
    current,
    file_lines,
    generate,
    journey,
    journey_many,
    load,
    parse_instant,
)

CUSTOMERS = 300
SEED = 1313
LATE_RATE = 0.2
CHUNKS = 4
COST = Decimal("12.50")
#: An explicit reference day; the hand-made invoices fall due around it.
DAY = "2026-06-15"
STATUSES = ("paid", "open", "overdue")
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


# --- the workload: generated, corrections held back behind ratings, hand-made corners ---------

def delay_errors_behind_ratings(lines: list[str]) -> tuple[list[str], int]:
    """Move each ``invoice.corrected`` (a billing error) that precedes a rating of the same
    customer, in the file and in business time, to the end: the rating arrives first as
    ``no_error`` and must move to ``after_error`` when the correction arrives."""
    objs: list[dict[str, Any] | None] = []
    seen: dict[str, int] = {}
    for raw in lines:
        try:
            obj = load(raw)
        except ValueError:
            obj = None
        ok = (isinstance(obj, dict) and isinstance(obj.get("touchpoint_id"), str)
              and isinstance(obj.get("occurred_at"), str))
        objs.append(obj if ok else None)
        if ok:
            assert obj is not None
            seen[obj["touchpoint_id"]] = seen.get(obj["touchpoint_id"], 0) + 1
    ratings: dict[str, list[tuple[int, Any]]] = {}
    for index, obj in enumerate(objs):
        if obj and obj.get("type") == "complaint.resolved" and "satisfaction" in obj:
            ratings.setdefault(str(obj.get("customer_id")), []).append(
                (index, parse_instant(obj["occurred_at"])))
    moved = [
        index for index, obj in enumerate(objs)
        if obj and obj.get("type") == "invoice.corrected" and seen[obj["touchpoint_id"]] == 1
        and any(index < r and parse_instant(obj["occurred_at"]) <= at
                for r, at in ratings.get(str(obj.get("customer_id")), []))
    ]
    late = set(moved)
    return [raw for i, raw in enumerate(lines) if i not in late] + [lines[i] for i in moved], \
        len(moved)


def edge(tid: str, type_: str, at: str, **fields: Any) -> str:
    return json.dumps({"touchpoint_id": f"svc-edge-{tid}", "type": type_, "occurred_at": at,
                       **fields})


def edge_lines() -> list[str]:
    """Corners in 2025-11, a month the generator never uses (its data starts in 2026), so the
    month's figures are also known by hand (``EDGE_CASES`` ...). All acceptable, in this order."""
    def c(n: int) -> dict[str, str]:
        return {"customer_id": f"SVC-E{n}"}

    case = {"category": "service"}
    fix = {"fault": "dead", "warranty": False}
    part = {"part_id": "P-SVC", "location": "L-SVC"}
    return [
        # cases: a resolution dated 3 h before its opening (3 h: later minus earlier); 18 s =
        # 0.005 h; a late resolution dated before the first (54 s = 0.015 h, a half-even tie,
        # to 0.02) after a reopening; a case never resolved
        edge("k1", "complaint.opened", "2025-11-10T12:00:00Z", **c(1), case_id="K-E1", **case),
        edge("k1r", "complaint.resolved", "2025-11-10T09:00:00Z", **c(1), case_id="K-E1",
             resolution="ok", satisfaction=5),
        edge("k2", "complaint.opened", "2025-11-10T09:00:00Z", **c(2), case_id="K-E2", **case),
        edge("k2r", "complaint.resolved", "2025-11-10T09:00:18Z", **c(2), case_id="K-E2",
             resolution="ok", satisfaction=3),
        edge("k3", "complaint.opened", "2025-11-11T00:00:00+00:00", **c(3), case_id="K-E3",
             **case),
        edge("k3r1", "complaint.resolved", "2025-11-12T00:00:00Z", **c(3), case_id="K-E3",
             resolution="ok", satisfaction=1, error="crm_glitch"),
        edge("k3o", "complaint.reopened", "2025-11-13T00:00:00Z", **c(3), case_id="K-E3",
             reason="still broken"),
        edge("k3r2", "complaint.resolved", "2025-11-11T01:00:54+01:00", **c(3),
             case_id="K-E3", resolution="ok", satisfaction=4),
        edge("k4", "complaint.opened", "2025-11-20T00:00:00Z", **c(4), case_id="K-E4", **case),
        # errors exactly at a rating (after_error) and a microsecond after one (no_error)
        edge("o1", "purchase.placed", "2025-11-01T00:00:00Z", **c(1), order_id="O-E1",
             currency="EUR", lines=[{"sku": "S", "qty": 1, "unit_price": "1.00"}]),
        edge("o1f", "purchase.delivery_failed", "2025-11-10T09:00:00Z", **c(1),
             order_id="O-E1", reason="away"),
        edge("o2", "purchase.placed", "2025-11-01T00:00:00Z", **c(2), order_id="O-E2",
             currency="EUR", lines=[{"sku": "S", "qty": 1, "unit_price": "1.00"}]),
        edge("o2f", "purchase.delivery_failed", "2025-11-10T09:00:18.000001Z", **c(2),
             order_id="O-E2", reason="away"),
        # repairs: a completion tie (not_fixed first by arrival); a late fixed completion dated
        # before a not_fixed one; 18 s to fix; no fault found; never completed
        edge("r1", "repair.requested", "2025-11-01T08:00:00Z", **c(5), repair_id="R-E1",
             serial="SN-E1", **fix),
        edge("r1a", "repair.completed", "2025-11-03T08:00:00Z", **c(5), repair_id="R-E1",
             outcome="not_fixed"),
        edge("r1b", "repair.completed", "2025-11-03T08:00:00Z", **c(5), repair_id="R-E1",
             outcome="fixed"),
        edge("r2", "repair.requested", "2025-11-01T08:00:00Z", **c(5), repair_id="R-E2",
             serial="SN-E2", **fix),
        edge("r2a", "repair.completed", "2025-11-04T08:00:00Z", **c(5), repair_id="R-E2",
             outcome="not_fixed"),
        edge("r2b", "repair.completed", "2025-11-02T08:00:00Z", **c(5), repair_id="R-E2",
             outcome="fixed"),
        edge("r3", "repair.requested", "2025-11-01T00:00:00Z", **c(5), repair_id="R-E3",
             serial="SN-E3", **fix),
        edge("r3a", "repair.completed", "2025-11-01T00:00:18Z", **c(5), repair_id="R-E3",
             outcome="fixed"),
        edge("r4", "repair.requested", "2025-11-01T00:00:00Z", **c(5), repair_id="R-E4",
             serial="SN-E4", **fix),
        edge("r4a", "repair.completed", "2025-11-01T05:00:00Z", **c(5), repair_id="R-E4",
             outcome="no_fault_found"),
        edge("r5", "repair.requested", "2025-11-01T00:00:00Z", **c(5), repair_id="R-E5",
             serial="SN-E5", **fix),
        # parts: one reservation filled, a stock-out, a stock-out with an upstream error
        edge("p0", "part.received", "2025-11-01T00:00:00Z", **part, qty=1),
        edge("p1", "part.reserved", "2025-11-02T00:00:00Z", **part, qty=1, repair_id="R-E5"),
        edge("p2", "part.reserved", "2025-11-02T01:00:00Z", **part, qty=1, repair_id="R-E5"),
        edge("p3", "part.reserved", "2025-11-02T02:00:00Z", **part, qty=1, repair_id="R-E5",
             error="wms_glitch"),
        # invoices: zero; "-0.00"; overpaid; overdue with reminders; a correction below zero;
        # due on the reference day (open); sums past 10^26 in a second currency
        *invoice_lines(),
    ]


def invoice_lines() -> list[str]:
    c = {"customer_id": "SVC-E6"}

    def issued(n: int, amount: Any, due: str, currency: str = "EUR") -> str:
        return edge(f"i{n}", "invoice.issued", "2025-11-05T00:00:00Z", **c,
                    invoice_id=f"I-E{n}", amount=amount, currency=currency, due_date=due)

    def then(n: int, tid: str, type_: str, **fields: Any) -> str:
        return edge(f"i{n}{tid}", type_, "2025-11-06T00:00:00Z", **c, invoice_id=f"I-E{n}",
                    **fields)

    huge = "99999999999999999999999999.99"
    return [
        issued(1, 0, "2026-06-01"),
        issued(2, "-0.00", "2026-06-01"),
        issued(3, "100.00", "2026-06-01"), then(3, "p", "invoice.paid", amount=150),
        issued(4, 100, "2026-06-14"), then(4, "p", "invoice.paid", amount=30.25),
        then(4, "m1", "invoice.reminder_sent"), then(4, "m2", "invoice.reminder_sent"),
        issued(5, "20.00", "2026-06-14"),
        then(5, "c", "invoice.corrected", error_type="wrong_amount", amount_delta="-25.00"),
        issued(6, "10.10", DAY), then(6, "c", "invoice.corrected", error_type="tax",
                                      amount_delta=0.9),
        issued(7, huge, "2026-06-14", "USD"), then(7, "p", "invoice.paid", amount="0.01"),
        issued(8, huge, "2026-06-16", "USD"),
    ]


#: The hand-computed rows of 2025-11 (the edge month), as 4.6 and 4.8 define them.
EDGE_MONTH = "2025-11"
EDGE_CASES = {"month": EDGE_MONTH, "opened": 4, "resolved": 3, "hours_to_resolve_p50": 0.02,
              "hours_to_resolve_p90": 3.0, "reopened": 1, "reopen_rate": 0.3333}
EDGE_REPAIRS = {"month": EDGE_MONTH, "requested": 5, "completed": 4, "first_time_fixed": 2,
                "first_time_fix_rate": 0.5, "hours_to_fix_p50": 24.0, "hours_to_fix_p90": 48.0}
EDGE_PARTS = {"month": EDGE_MONTH, "reservations": 3, "filled": 1, "fill_rate": 0.3333}
EDGE_SATISFACTION = {  # SVC-E1 (5) and SVC-E3's first (1) after an error; E2 (3), E3 (4) not
    "after_error": {"ratings": 2, "mean": 3.0,
                    "by_score": {"1": 1, "2": 0, "3": 0, "4": 0, "5": 1}},
    "no_error": {"ratings": 2, "mean": 3.5, "by_score": {"1": 0, "2": 0, "3": 1, "4": 1, "5": 0}},
    "all": {"ratings": 4, "mean": 3.25, "by_score": {"1": 1, "2": 0, "3": 1, "4": 1, "5": 1}},
}
EDGE_INVOICES_AT_DAY = {
    "I-E1": ("0.00", "0.00", "0.00", 0, "paid"),
    "I-E2": ("0.00", "0.00", "0.00", 0, "paid"),
    "I-E3": ("100.00", "150.00", "-50.00", 0, "paid"),
    "I-E4": ("100.00", "30.25", "69.75", 2, "overdue"),
    "I-E5": ("-5.00", "0.00", "-5.00", 0, "paid"),
    "I-E6": ("11.00", "0.00", "11.00", 0, "open"),
    "I-E7": ("99999999999999999999999999.99", "0.01", "99999999999999999999999999.98", 0,
             "overdue"),
    "I-E8": ("99999999999999999999999999.99", "0.00", "99999999999999999999999999.99", 0,
             "open"),
}
EDGE_BY_MONTH_AT_DAY = [
    {"month": EDGE_MONTH, "currency": "EUR", "issued": 6, "amount": "206.00", "paid": "180.25",
     "outstanding": "80.75", "overdue": 1, "overdue_amount": "69.75"},
    {"month": EDGE_MONTH, "currency": "USD", "issued": 2,
     "amount": "199999999999999999999999999.98", "paid": "0.01",
     "outstanding": "199999999999999999999999999.97", "overdue": 1,
     "overdue_amount": "99999999999999999999999999.98"},
]


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The lines: generated with late arrivals, corrections held back, the corners first."""
    path = generate(tmp_path_factory.mktemp("service") / "workload.jsonl", CUSTOMERS, SEED,
                    LATE_RATE)
    lines, moved = delay_errors_behind_ratings(file_lines(path))
    assert moved >= 5, moved
    return edge_lines() + lines


# --- what a store answers ---------------------------------------------------------------------

def commands(ref: Reference) -> dict[str, list[str]]:
    """Every document compared: kpis (all, and a range of months), invoices at the default
    and an explicit day and by status, errors with a cost per contact."""
    months = sorted({t.month for t in ref.touchpoints if t.type == "complaint.opened"})
    first, last = months[len(months) // 4], months[-2]
    found = {
        "kpis": ["kpis"],
        f"kpis {first} {last}": ["kpis", "--from", first, "--to", last],
        "kpis edge": ["kpis", "--from", EDGE_MONTH, "--to", EDGE_MONTH],
        "invoices": ["invoices"],
        "invoices overdue": ["invoices", "--status", "overdue"],
        f"invoices {DAY}": ["invoices", "--as-of-day", DAY],
        "errors cost": ["errors", "--contact-cost", str(COST)],
    }
    for status in STATUSES:
        found[f"invoices {DAY} {status}"] = ["invoices", "--as-of-day", DAY, "--status", status]
    return found


def expected(ref: Reference, name: str, command: list[str]) -> dict[str, Any]:
    model = ServiceReference(ref)
    if command[0] == "kpis":
        return model.kpis(*command[2::2]) if len(command) > 1 else model.kpis()
    options = dict(zip(command[1::2], command[2::2], strict=True))
    return model.invoices(options.get("--as-of-day"), options.get("--status"))


def read(db: str, ref: Reference, scratch: Path,
         names: Sequence[str] | None = None) -> dict[str, Any]:
    chosen = {n: c for n, c in commands(ref).items() if names is None or n in names}
    documents = journey_many(db, list(chosen.values()), scratch)
    return {name: current(doc) for name, doc in zip(chosen, documents, strict=True)}


def assert_matches(documents: dict[str, Any], ref: Reference) -> None:
    for name, command in commands(ref).items():
        if name not in documents:
            continue
        if name == "errors cost":
            assert_errors_with_cost_match(json.loads(json.dumps(documents[name])), ref, COST)
            continue
        assert documents[name] == expected(ref, name, command), name


def reference_of(db: str, lines: Sequence[str],
                 rejects: list[dict[str, Any]] | None = None) -> Reference:
    """The reference over what the store decided of ``lines`` (in arrival order)."""
    return Reference.build(arrivals(lines, all_rejects(db) if rejects is None else rejects,
                                    accepted_ids_in_store(db, candidate_ids(lines))))


@dataclass
class Served:
    """A store that took the workload in chunks, and what it answered along the way."""

    db: str
    ref: Reference
    documents: dict[str, Any]
    along_the_way: list[tuple[Reference, dict[str, Any]]] = field(default_factory=list)


def store_for(kind: str, directory: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{directory / 'journey.db'}", None
    if not POSTGRES:
        pytest.skip("JOURNEY_TEST_POSTGRES is not set (CI sets it; no PostgreSQL here)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    return _postgres_url(schema), schema


@pytest.fixture(scope="module", params=STORES)
def served(request: pytest.FixtureRequest, workload: list[str],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp(f"served-{request.param}")
    db, schema = store_for(request.param, directory)
    size = -(-len(workload) // CHUNKS)
    along = []
    try:
        for n in range(CHUNKS):
            chunk = directory / f"chunk-{n}.jsonl"
            chunk.write_text("".join(f"{raw}\n" for raw in workload[n * size:(n + 1) * size]),
                             encoding="utf-8")
            if n == CHUNKS - 1:
                journey(db, "ingest", str(chunk))
                continue
            # one process: the chunk in, then what the reference needs and two documents
            _, rejects, kpis, invoices = journey_many(db, [
                ["ingest", str(chunk)], ["rejects", "--all"], ["kpis"], ["invoices"]],
                directory)
            along.append((reference_of(db, workload[:(n + 1) * size], rejects["rejects"]),
                          {"kpis": current(kpis), "invoices": current(invoices)}))
        ref = reference_of(db, workload)
        yield Served(db, ref, read(db, ref, directory), along)
    finally:
        if schema is not None:
            _drop_schema(schema)


# --- the tests -------------------------------------------------------------------------------

def test_the_workload_has_what_the_figures_need(served: Served) -> None:
    model = ServiceReference(served.ref)
    ratings = model.ratings()
    assert sum(after for _, after in ratings) >= 10
    assert sum(not after for _, after in ratings) >= 10
    # ratings that are after an error only through an error that arrived after them
    first_error_arrival: dict[str, list[tuple[Any, int]]] = {}
    for t in served.ref.touchpoints:
        if t.code is not None and "customer_id" in t.obj:
            first_error_arrival.setdefault(t.obj["customer_id"], []).append((t.at, t.arrival))
    late_moved = [
        t for t, after in ratings if after and all(
            arrival > t.arrival for at, arrival in first_error_arrival.get(
                t.obj["customer_id"], []) if at <= t.at)
    ]
    assert len(late_moved) >= 3
    invoices = model.invoices(DAY)["invoices"]
    assert {row["status"] for row in invoices} == set(STATUSES)
    assert len({row["currency"] for row in invoices}) >= 2
    assert any(row["failure"] for row in served.ref.errors()["failure_demand"])


def test_every_figure_matches_the_reference_after_chunked_ingests(served: Served) -> None:
    assert len(served.along_the_way) == CHUNKS - 1
    for ref, documents in served.along_the_way:
        assert_matches(documents, ref)
    assert_matches(served.documents, served.ref)


def test_the_hand_made_month_has_the_hand_computed_figures(served: Served) -> None:
    kpis = served.documents["kpis"]
    assert kpis["cases"][0] == EDGE_CASES
    assert kpis["repairs"][0] == EDGE_REPAIRS
    assert kpis["parts"][0] == EDGE_PARTS
    assert served.documents["kpis edge"] == {"cases": [EDGE_CASES], "repairs": [EDGE_REPAIRS],
                                             "parts": [EDGE_PARTS],
                                             "satisfaction": EDGE_SATISFACTION}
    at_day = served.documents[f"invoices {DAY}"]
    assert at_day["as_of_day"] == DAY
    rows = {row["invoice_id"]: row for row in at_day["invoices"]}
    assert {i: (rows[i]["amount"], rows[i]["paid"], rows[i]["balance"], rows[i]["reminders"],
                rows[i]["status"]) for i in EDGE_INVOICES_AT_DAY} == EDGE_INVOICES_AT_DAY
    assert at_day["by_month"][:2] == EDGE_BY_MONTH_AT_DAY
    # the default reference day is the UTC date of the latest accepted occurred_at
    latest = max(t.at for t in served.ref.touchpoints)
    assert served.documents["invoices"]["as_of_day"] == latest.date().isoformat()


def assert_same_tables(replay: dict[str, Any]) -> None:
    """``journey audit replay``: every view table, rebuilt from the log, equals the live one
    row by row (the service view's tables among them)."""
    assert replay["ok"] is True, replay
    service = [name for name in replay["tables"] if name.startswith("view_service")]
    assert service, sorted(replay["tables"])
    assert all(replay["tables"][name]["ok"] for name in replay["tables"])


def test_a_rebuild_gives_the_same_tables_and_documents(served: Served, tmp_path: Path) -> None:
    (replay,) = journey_many(served.db, [["audit", "replay"]], tmp_path)
    assert_same_tables(replay)
    journey(served.db, "rebuild")
    assert read(served.db, served.ref, tmp_path) == served.documents


# --- late arrivals, by hand -------------------------------------------------------------------

def _tp(tid: str, type_: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"touchpoint_id": tid, "type": type_, "occurred_at": at, **fields}


class Sender:
    """Ingests hand-made touchpoints with ``journey ingest FILE`` (all must be accepted) and
    reads ``journey kpis`` right after, in one process."""

    def __init__(self, db: str, scratch: Path) -> None:
        self.db = db
        self.scratch = scratch
        self.sent: list[dict[str, Any]] = []
        self.kpis: dict[str, Any] = {}

    def __call__(self, *objs: dict[str, Any]) -> None:
        path = self.scratch / f"step-{len(self.sent)}.jsonl"
        path.write_text("".join(json.dumps(o) + "\n" for o in objs), encoding="utf-8")
        summary, kpis = journey_many(self.db, [["ingest", str(path)], ["kpis"]], self.scratch)
        assert (summary["accepted"], summary["rejected"]) == (len(objs), 0), summary
        self.sent.extend(objs)
        self.kpis = current(kpis)

    def reference(self) -> Reference:
        return Reference.build([Arrival(obj=load(json.dumps(o))) for o in self.sent])

    def groups(self) -> dict[str, tuple[int, Any]]:
        return {name: (g["ratings"], g["mean"]) for name, g in self.kpis["satisfaction"].items()}

    def repairs(self, month: str) -> dict[str, Any]:
        rows: list[dict[str, Any]] = [r for r in self.kpis["repairs"] if r["month"] == month]
        assert len(rows) == 1, rows
        return rows[0]


def test_late_arrivals_move_ratings_and_first_completions_without_a_rebuild(
        store_url: str, tmp_path: Path) -> None:
    db = store_url
    send = Sender(db, tmp_path)
    fix = {"fault": "no power", "warranty": False}
    # C1 rates 4 with no error before; C2 rates 2 and meets an error only afterwards
    send(
          _tp("a1", "complaint.opened", "2026-03-01T10:00:00Z", customer_id="C1",
              case_id="K1", category="billing"),
          _tp("a2", "complaint.resolved", "2026-03-05T10:00:00Z", customer_id="C1",
              case_id="K1", resolution="ok", satisfaction=4),
          _tp("b1", "purchase.placed", "2026-02-01T10:00:00Z", customer_id="C2",
              order_id="O2", currency="EUR", lines=[{"sku": "S", "qty": 1, "unit_price": 1}]),
          _tp("b2", "complaint.opened", "2026-03-01T10:00:00Z", customer_id="C2",
              case_id="K2", category="billing"),
          _tp("b3", "complaint.resolved", "2026-03-05T10:00:00Z", customer_id="C2",
              case_id="K2", resolution="ok", satisfaction=2),
          _tp("b4", "purchase.delivery_failed", "2026-03-05T10:00:00.000001Z",
              customer_id="C2", order_id="O2", reason="away"))
    assert send.groups() == {"after_error": (0, None), "no_error": (2, 3.0), "all": (2, 3.0)}

    # a late error of C1 dated before the rating: the rating is after an error now
    send(
          _tp("a3", "purchase.placed", "2026-02-01T10:00:00Z", customer_id="C1",
              order_id="O1", currency="EUR", lines=[{"sku": "S", "qty": 1, "unit_price": 1}]),
          _tp("a4", "purchase.delivery_failed", "2026-03-02T10:00:00Z", customer_id="C1",
              order_id="O1", reason="away"))
    assert send.groups() == {"after_error": (1, 4.0), "no_error": (1, 2.0), "all": (2, 3.0)}

    # C3's repair of serial SN9 and a rating; C4's earlier repair of SN9 is fixed, but the
    # completion arrives last: C3's request becomes a repeat_repair, an error before its rating
    send(
          _tp("c1", "repair.requested", "2026-04-20T10:00:00Z", customer_id="C3",
              repair_id="R3", serial="SN9", **fix),
          _tp("c2", "complaint.opened", "2026-04-21T10:00:00Z", customer_id="C3",
              case_id="K3", category="repair", subject={"type": "repair", "id": "R3"}),
          _tp("c3", "complaint.resolved", "2026-04-22T10:00:00Z", customer_id="C3",
              case_id="K3", resolution="ok", satisfaction=5),
          _tp("d1", "repair.requested", "2026-03-25T10:00:00Z", customer_id="C4",
              repair_id="R4", serial="SN9", **fix))
    assert send.groups() == {"after_error": (1, 4.0), "no_error": (2, 3.5), "all": (3, 3.67)}
    send(_tp("d2", "repair.completed", "2026-04-05T10:00:00Z", customer_id="C4",
                  repair_id="R4", outcome="fixed"))
    assert send.groups() == {"after_error": (2, 4.5), "no_error": (1, 2.0), "all": (3, 3.67)}

    # a not_fixed completion, then a fixed one dated before it: the first completion now
    send(
          _tp("e1", "repair.requested", "2026-05-01T10:00:00Z", customer_id="C5",
              repair_id="R5", serial="SN5", **fix),
          _tp("e2", "repair.completed", "2026-05-10T10:00:00Z", customer_id="C5",
              repair_id="R5", outcome="not_fixed"))
    assert send.repairs("2026-05") == {
        "month": "2026-05", "requested": 1, "completed": 1, "first_time_fixed": 0,
        "first_time_fix_rate": 0.0, "hours_to_fix_p50": None, "hours_to_fix_p90": None}
    send(_tp("e3", "repair.completed", "2026-05-05T10:00:00Z", customer_id="C5",
                  repair_id="R5", outcome="fixed"))
    assert send.repairs("2026-05") == {
        "month": "2026-05", "requested": 1, "completed": 1, "first_time_fixed": 1,
        "first_time_fix_rate": 1.0, "hours_to_fix_p50": 96.0, "hours_to_fix_p90": 96.0}
    assert send.repairs("2026-03")["first_time_fixed"] == 1  # R4: its only completion

    # and the whole document is the reference's, live and rebuilt
    assert send.kpis == ServiceReference(send.reference()).kpis()
    replay, _, rebuilt = journey_many(db, [["audit", "replay"], ["rebuild", "kpis"], ["kpis"]],
                                      tmp_path)
    assert_same_tables(replay)
    assert current(rebuilt) == send.kpis
