"""The views (contract sections 3 and 4) against an independent, brute-force reference model.

The reference below is written from the contract (docs/contract.md) alone: it reads the
accepted touchpoints of a generated workload in arrival order and recomputes every error
code, the error rates, the failure demand, the stock levels and the customer timelines from
scratch, with no code shared with ``domain/`` or ``projections/``. The engine is driven
through the installed ``journey`` command exactly as an operator would.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.reference_support import (
    Reference,
    Views,
    accepted_ids_in_store,
    all_rejects,
    arrivals,
    assert_errors_match,
    assert_stock_matches,
    assert_timelines_match,
    candidate_ids,
    code_differences,
    file_lines,
    generate,
    instant_or_none,
    journey,
    parse_instant,
    read_views,
)

CUSTOMERS = 500
SEED = 20260301
LATE_CUSTOMERS = 400
LATE_SEED = 7
LATE_RATE = 0.2
CHUNKS = 5
TIMELINE_CUSTOMERS = 20


# --- workloads -----------------------------------------------------------------------------

@dataclass
class Ingested:
    """A workload ingested in one go, with what the engine reports and the reference."""

    path: Path
    db: str
    summary: dict[str, Any]
    ref: Reference
    customers: list[str]
    views: Views


def ingest_once(directory: Path, customers: int, seed: int, late_rate: float | None = None,
                reorder: Callable[[Path], int] | None = None,
                extra_customers: Sequence[str] = ()) -> Ingested:
    path = generate(directory / "workload.jsonl", customers, seed, late_rate)
    if reorder is not None:
        assert reorder(path) > 0
    db = f"sqlite:///{directory / 'journey.db'}"
    summary = journey(db, "ingest", str(path))
    lines = file_lines(path)
    rejects = all_rejects(db)
    decided = arrivals(lines, rejects, accepted_ids_in_store(db, candidate_ids(lines)))
    ref = Reference.build(decided)
    assert summary["accepted"] == len(ref.touchpoints)
    assert summary["rejected"] == len(rejects)
    assert summary["read"] == summary["accepted"] + summary["duplicates"] + summary["rejected"]
    chosen = sorted({*ref.interesting_customers(TIMELINE_CUSTOMERS), *extra_customers})
    return Ingested(path, db, summary, ref, chosen, read_views(db, chosen, directory))


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingested]:
    yield ingest_once(tmp_path_factory.mktemp("single"), CUSTOMERS, SEED)


def assert_matches_reference(run: Ingested) -> None:
    ref = run.ref
    assert ref.stock.violations == []
    assert code_differences(run.views.timelines, ref) == []
    assert_errors_match(run.views.errors, ref.errors())
    assert_stock_matches(run.views.stock, ref.stock.items())
    assert_timelines_match(run.views.timelines, ref)


# --- the tests -----------------------------------------------------------------------------

def test_one_ingest_of_a_generated_workload_matches_the_reference_views(
        workload: Ingested) -> None:
    codes = Counter(t.code for t in workload.ref.touchpoints)
    # The workload exercises every rule the reference models.
    for code in ("delivery_failed", "case_reopened", "repair_not_fixed", "repeat_repair",
                 "stock_out"):
        assert codes[code] > 0, code
    assert len(workload.customers) == TIMELINE_CUSTOMERS
    assert_matches_reference(workload)


def test_five_incremental_ingests_and_a_rebuild_give_the_views_of_one_ingest(
        workload: Ingested, tmp_path: Path) -> None:
    lines = workload.path.read_bytes().splitlines(keepends=True)
    size = -(-len(lines) // CHUNKS)
    db = f"sqlite:///{tmp_path / 'chunked.db'}"
    totals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for n in range(CHUNKS):
        chunk = tmp_path / f"chunk-{n}.jsonl"
        chunk.write_bytes(b"".join(lines[n * size:(n + 1) * size]))
        summary = journey(db, "ingest", str(chunk))
        totals.update({k: summary[k] for k in ("read", "accepted", "duplicates", "rejected")})
        reasons.update(summary["rejected_by_reason"])
    single = workload.summary
    assert dict(totals) == {k: single[k] for k in ("read", "accepted", "duplicates", "rejected")}
    assert dict(reasons) == single["rejected_by_reason"]

    chunked = read_views(db, workload.customers, tmp_path)
    assert chunked.errors == workload.views.errors
    assert chunked.stock == workload.views.stock
    assert chunked.timelines == workload.views.timelines

    journey(db, "rebuild")
    rebuilt = read_views(db, workload.customers, tmp_path)
    assert rebuilt.errors == workload.views.errors
    assert rebuilt.stock == workload.views.stock
    assert rebuilt.timelines == workload.views.timelines


def delay_invoice_corrections(path: Path) -> int:
    """Move each ``invoice.corrected`` that precedes an unknown-demand contact about its invoice
    (in the file and in business time) to the end of the file: the contact arrives first and
    becomes failure demand only when the late correction does. Returns how many moved."""
    lines = file_lines(path)
    objs: list[dict[str, Any] | None] = []
    for raw in lines:
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        ok = isinstance(obj, dict) and instant_or_none(obj.get("occurred_at")) is not None
        objs.append(obj if ok else None)
    contacts: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
    for index, obj in enumerate(objs):
        subject = obj and obj.get("subject")
        if (obj and obj.get("type") == "complaint.opened" and isinstance(subject, dict)
                and subject.get("type") == "invoice"
                and obj.get("demand", "unknown") == "unknown"):
            contacts[subject["id"]].append((index, parse_instant(obj["occurred_at"])))
    moved = [
        index for index, obj in enumerate(objs)
        if obj and obj.get("type") == "invoice.corrected"
        and any(index < c and parse_instant(obj["occurred_at"]) <= at
                for c, at in contacts.get(obj.get("invoice_id"), []))
    ]
    late = set(moved)
    keep = [raw for index, raw in enumerate(lines) if index not in late]
    path.write_text("".join(f"{raw}\n" for raw in keep + [lines[i] for i in moved]),
                    encoding="utf-8")
    return len(moved)


EDGE_CUSTOMER = "EDGE-C1"


def edge_touchpoints() -> list[dict[str, Any]]:
    """Hand-made touchpoints for the corners a random workload rarely hits, all acceptable:
    the 30-day window's inclusive edge, a fractional second, an offset that moves a contact
    into the previous UTC month, an arrival-order tie, failure demand through a part movement
    only, an upstream error on a stock-out, and stock rows that end at zero."""
    c = {"customer_id": EDGE_CUSTOMER}
    fixed_at = "2026-06-12T08:00:00.5Z"

    def tp(tid: str, type_: str, at: str, **fields: Any) -> dict[str, Any]:
        return {"touchpoint_id": f"edge-{tid}", "type": type_, "occurred_at": at, **fields}

    repair = {"serial": "SN-EDGE", "fault": "no power", "warranty": False}
    part = {"part_id": "P-EDGE", "location": "EDGE-L1"}
    return [
        tp("r1", "repair.requested", "2026-06-10T08:00:00Z", **c, repair_id="R-EDGE-1", **repair),
        # part.reserved on a pair with no stock: stock-outs; the second carries an upstream error
        tp("m1", "part.reserved", "2026-06-11T08:00:00Z", **part, qty=2, repair_id="R-EDGE-1"),
        tp("m2", "part.reserved", "2026-06-11T09:00:00Z", **part, qty=1, repair_id="R-EDGE-1",
           error="wms_glitch"),
        tp("r1-done", "repair.completed", fixed_at, **c, repair_id="R-EDGE-1", outcome="fixed"),
        # exactly 30 x 24 h after the fixed completion (written with an offset): a repeat
        tp("r2", "repair.requested", "2026-07-12T10:00:00.5+02:00", **c,
           repair_id="R-EDGE-2", **repair),
        # one second later than the window: not a repeat
        tp("r3", "repair.requested", "2026-07-12T08:00:01.5Z", **c, repair_id="R-EDGE-3",
           **repair),
        # contacts about R-EDGE-1: a second before its first stock-out (not failure), at the
        # same instant (failure: the error's occurred_at <= the contact's)
        tp("k2", "complaint.opened", "2026-06-11T07:59:59Z", **c, case_id="K-EDGE-2",
           category="repair", subject={"type": "repair", "id": "R-EDGE-1"}),
        tp("k3", "complaint.opened", "2026-06-11T08:00:00Z", **c, case_id="K-EDGE-3",
           category="repair", subject={"type": "repair", "id": "R-EDGE-1"}, demand="unknown"),
        # same instant, arrival order against id order; the offset puts it in 2026-06 UTC
        tp("tie-b", "complaint.opened", "2026-07-01T01:30:00+02:00", **c, case_id="K-EDGE-1",
           category="service"),
        tp("tie-a", "complaint.contact_logged", "2026-06-30T23:30:00Z", **c, case_id="K-EDGE-1",
           direction="inbound"),
        # stock: received, transferred away, counted down to zero; rows at zero stay
        tp("m3", "part.received", "2026-06-13T08:00:00Z", **part, qty=1),
        tp("m4", "part.transferred", "2026-06-13T09:00:00Z", **part, to_location="EDGE-L2",
           qty=1),
        tp("m5", "part.adjusted", "2026-06-13T10:00:00Z", part_id="P-EDGE",
           location="EDGE-L2", qty=-1, reason="count"),
    ]


def late_and_edge(path: Path) -> int:
    """Delay invoice corrections behind their contacts, then append the edge touchpoints."""
    moved = delay_invoice_corrections(path)
    with path.open("a", encoding="utf-8") as out:
        for obj in edge_touchpoints():
            out.write(json.dumps(obj) + "\n")
    return moved


def test_a_workload_with_many_late_arrivals_still_matches_the_reference(
        tmp_path: Path) -> None:
    run = ingest_once(tmp_path, LATE_CUSTOMERS, LATE_SEED, LATE_RATE, reorder=late_and_edge,
                      extra_customers=[EDGE_CUSTOMER])
    ref = run.ref
    # Late arrivals really happen: fixed completions arriving after requests they make repeats,
    # and errors arriving after contacts they make failure demand.
    assert len(ref.late_repeat_repairs()) >= 3
    assert len(ref.late_failure_contacts()) >= 3
    # Every edge touchpoint is acceptable (contract 2) and lands where the reference says.
    codes = {t.id: t.code for t in ref.touchpoints}
    assert {e["touchpoint_id"] for e in edge_touchpoints()} <= set(codes)
    assert (codes["edge-m1"], codes["edge-m2"]) == ("stock_out", "wms_glitch")
    assert (codes["edge-r2"], codes["edge-r3"]) == ("repeat_repair", None)
    assert_matches_reference(run)
