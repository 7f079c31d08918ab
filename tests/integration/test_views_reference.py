"""The views (contract sections 3 and 4) against an independent, brute-force reference model.

The reference below is written from the contract (docs/contract.md) alone: it reads the
accepted touchpoints of a generated workload in arrival order and recomputes every error
code, the error rates, the failure demand, the stock levels and the customer timelines from
scratch, with no code shared with ``domain/`` or ``projections/``. The engine is driven
through the installed ``journey`` command exactly as an operator would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from math import floor
from pathlib import Path
from typing import Any

import pytest

from journey.infra.store import open_store
from tests.support import JOURNEY

TIMEOUT = 300  # seconds per command: generous, a whole workload takes a few seconds

CUSTOMERS = 500
SEED = 20260301
LATE_CUSTOMERS = 400
LATE_SEED = 7
LATE_RATE = 0.2
CHUNKS = 5
TIMELINE_CUSTOMERS = 20

REPEAT_WINDOW = timedelta(hours=30 * 24)
ENTITY_FIELD = {"purchase": "order_id", "invoice": "invoice_id", "complaint": "case_id",
                "repair": "repair_id"}
ENTITY_PREFIX = {"purchase": "order", "invoice": "invoice", "complaint": "case",
                 "repair": "repair"}
STOCK_FIELDS = ("part_id", "location", "on_hand", "reserved", "available", "backordered")


# --- driving the installed command -----------------------------------------------------------

def journey(db: str, *args: str) -> Any:
    """Run ``journey --db DB --json ARGS`` and return its one JSON document."""
    result = subprocess.run(
        [JOURNEY, "--db", db, "--json", *args], capture_output=True, timeout=TIMEOUT,
        env={**os.environ, "JOURNEY_LOG_FORMAT": "json"},
    )
    assert result.returncode == 0, f"journey {' '.join(args)} failed: {result.stderr.decode()}"
    return json.loads(result.stdout)


def generate(path: Path, customers: int, seed: int, late_rate: float | None = None) -> Path:
    args = ["generate", "--customers", str(customers), "--seed", str(seed), "-o", str(path)]
    if late_rate is not None:
        args += ["--late-rate", str(late_rate)]
    result = subprocess.run([JOURNEY, *args], capture_output=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr.decode()
    return path


# One process answering many `timeline` commands: the entry point the `journey` script runs
# (infra.cli:main), called once per command line, so twenty timelines cost one interpreter
# start (about half a second each on a small machine), not twenty.
_MANY = """
import contextlib, io, json, sys
from journey.infra.cli import main
argvs, answer_path = json.loads(sys.argv[1]), sys.argv[2]
answers = []
for argv in argvs:
    sys.argv = ["journey", *argv]
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    answers.append({"code": code, "stdout": out.getvalue()})
with open(answer_path, "w", encoding="utf-8") as answer_file:
    json.dump(answers, answer_file)
"""


def timelines(db: str, customers: Sequence[str], scratch: Path) -> dict[str, Any]:
    """``journey --db DB --json timeline C`` for each customer."""
    answers = scratch / "timelines.json"
    argvs = [["--db", db, "--json", "timeline", c] for c in customers]
    result = subprocess.run(
        [sys.executable, "-c", _MANY, json.dumps(argvs), str(answers)], capture_output=True,
        timeout=TIMEOUT, env={**os.environ, "JOURNEY_LOG_FORMAT": "json"},
    )
    assert result.returncode == 0, result.stderr.decode()
    found = {}
    for customer, answer in zip(customers, json.loads(answers.read_text()), strict=True):
        assert answer["code"] in (0, None), f"timeline {customer}: {result.stderr.decode()}"
        found[customer] = json.loads(answer["stdout"])
    return found


@dataclass
class Views:
    """What an operator reads back from a store: the three view commands."""

    errors: Any
    stock: Any
    timelines: dict[str, Any]


def read_views(db: str, customers: Sequence[str], scratch: Path) -> Views:
    with ThreadPoolExecutor(max_workers=3) as pool:
        errors = pool.submit(journey, db, "errors")
        stock = pool.submit(journey, db, "stock")
        found = pool.submit(timelines, db, customers, scratch)
        return Views(current(errors.result()), current(stock.result()),
                     {c: current(t) for c, t in found.result().items()})


def current(document: dict[str, Any]) -> dict[str, Any]:
    """A view document of contract 5: its ``freshness`` (an engine extension) taken off,
    after checking that the views had taken the whole log (ingest waits for them)."""
    freshness = document.pop("freshness")
    assert freshness["view_position"] == freshness["log_head"], freshness
    return document


def file_lines(path: Path) -> list[str]:
    """The lines of a JSON Lines file as the engine receives them (without the newline)."""
    lines = path.read_bytes().decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


# --- which lines were accepted, in arrival order ---------------------------------------------

@dataclass
class Arrival:
    """One decided line: accepted (obj set) or rejected (reject set); duplicates are dropped."""

    obj: dict[str, Any] | None = None
    reject: dict[str, Any] | None = None


def arrivals(lines: Sequence[str], rejects: Sequence[dict[str, Any]],
             accepted_ids: set[str]) -> list[Arrival]:
    """Walk the file in arrival order, pairing rejected lines with the rejects store in order.

    A line that is not the next stored reject was accepted (first time its id is seen) or a
    duplicate (an exact resend of an accepted one). This also covers a touchpoint that was
    rejected first and accepted on a later resend.
    """
    out: list[Arrival] = []
    accepted: dict[str, dict[str, Any]] = {}
    pending = 0
    for raw in lines:
        if pending < len(rejects) and rejects[pending]["raw"] == raw:
            out.append(Arrival(reject=rejects[pending]))
            pending += 1
            continue
        if not raw.strip():
            continue
        obj = json.loads(raw)
        tid = obj["touchpoint_id"]
        if tid in accepted:
            assert obj == accepted[tid], f"{tid}: a non-identical resend was not rejected"
            continue
        accepted[tid] = obj
        out.append(Arrival(obj=obj))
    assert pending == len(rejects), f"reject {rejects[pending]} not found in the file order"
    assert set(accepted) == accepted_ids, "accepted ids differ from the store's touchpoints"
    return out


def accepted_ids_in_store(db: str, ids: Sequence[str]) -> set[str]:
    app = open_store(db)
    try:
        return set(app.journey_recorder.touchpoint_hashes(list(ids)))
    finally:
        app.close()


def candidate_ids(lines: Sequence[str]) -> list[str]:
    ids = set()
    for raw in lines:
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("touchpoint_id"), str):
            ids.add(obj["touchpoint_id"])
    return sorted(ids)


# --- the reference model (contract 2.3, 3 and 4) ---------------------------------------------

def parse_instant(text: str) -> datetime:
    """An accepted ``occurred_at``: RFC 3339 with an offset, normalised to UTC."""
    at = datetime.fromisoformat(text)
    assert at.tzinfo is not None, text
    return at.astimezone(UTC)


def instant_or_none(text: Any) -> datetime | None:
    """An RFC 3339 instant with an offset, or None for anything else (a bad line)."""
    try:
        at = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return at.astimezone(UTC) if at.tzinfo is not None else None


def zulu(at: datetime) -> str:
    if at.microsecond:
        return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Touchpoint:
    arrival: int
    obj: dict[str, Any]
    at: datetime
    code: str | None = None

    @property
    def id(self) -> str:
        return str(self.obj["touchpoint_id"])

    @property
    def type(self) -> str:
        return str(self.obj["type"])

    @property
    def kind(self) -> str:
        return self.type.split(".", 1)[0]

    @property
    def month(self) -> str:
        return self.at.strftime("%Y-%m")

    @property
    def entity(self) -> str:
        """The entity shown in a timeline: ``order:O1``, ``part:P1@WH1`` (transfer: from)."""
        if self.kind == "part":
            return f"part:{self.obj['part_id']}@{self.obj['location']}"
        return f"{ENTITY_PREFIX[self.kind]}:{self.obj[ENTITY_FIELD[self.kind]]}"

    @property
    def subject_entities(self) -> list[str]:
        """Entities whose touchpoints this one counts for (failure demand)."""
        keys = [self.entity]
        if self.kind == "part" and "repair_id" in self.obj:
            keys.append(f"repair:{self.obj['repair_id']}")
        return keys


@dataclass
class StockState:
    """Contract 2.3, simulated in arrival order."""

    on_hand: Counter[tuple[str, str]] = field(default_factory=Counter)
    reservation: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    backorder: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    touched: set[tuple[str, str]] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)

    def reserved(self, pair: tuple[str, str]) -> int:
        return sum(q for (p, loc, _), q in self.reservation.items() if (p, loc) == pair)

    def backordered(self, pair: tuple[str, str]) -> int:
        return sum(q for (p, loc, _), q in self.backorder.items() if (p, loc) == pair)

    def available(self, pair: tuple[str, str]) -> int:
        return self.on_hand[pair] - self.reserved(pair)

    def apply(self, tp: Touchpoint) -> bool:
        """Apply an accepted movement; True when it is a ``part.reserved`` stock-out."""
        obj, verb = tp.obj, tp.type.split(".", 1)[1]
        pair = (obj["part_id"], obj["location"])
        qty: int = obj["qty"]
        key = (*pair, obj.get("repair_id", ""))
        self.touched.add(pair)
        stock_out = False
        if verb in ("received", "returned"):
            self.on_hand[pair] += qty
        elif verb == "reserved":
            if qty <= self.available(pair):
                self.reservation[key] += qty
                self.backorder[key] -= min(qty, self.backorder[key])
            else:
                self.backorder[key] += qty
                stock_out = True
        elif verb == "released":
            if qty > self.reservation[key]:
                self.violations.append(f"{tp.id}: released {qty} > reservation "
                                       f"{self.reservation[key]} but accepted")
            self.reservation[key] -= qty
        elif verb == "issued":
            if qty > self.on_hand[pair]:
                self.violations.append(f"{tp.id}: issued {qty} > on_hand "
                                       f"{self.on_hand[pair]} but accepted")
            self.on_hand[pair] -= qty
            self.reservation[key] -= min(qty, self.reservation[key])
            self.backorder[key] -= min(qty, self.backorder[key])
        elif verb == "adjusted":
            self.on_hand[pair] += qty
            if self.on_hand[pair] < 0:
                self.violations.append(f"{tp.id}: adjusted to {self.on_hand[pair]} but accepted")
        elif verb == "transferred":
            if qty > self.available(pair):
                self.violations.append(f"{tp.id}: transferred {qty} > available "
                                       f"{self.available(pair)} but accepted")
            target = (obj["part_id"], obj["to_location"])
            self.on_hand[pair] -= qty
            self.on_hand[target] += qty
            self.touched.add(target)
        else:  # pragma: no cover - the contract has no other movement
            raise AssertionError(tp.type)
        return stock_out

    def check_reject(self, reject: dict[str, Any]) -> None:
        """A movement rejected for a stock reason must be one the simulation refuses too."""
        if reject["reason"] not in ("insufficient_stock", "invalid_quantity"):
            return
        obj = json.loads(reject["raw"])
        if not obj["type"].startswith("part."):
            return
        verb, qty = obj["type"].split(".", 1)[1], obj["qty"]
        pair = (obj["part_id"], obj["location"])
        refused = {
            "issued": qty > self.on_hand[pair],
            "adjusted": self.on_hand[pair] + qty < 0,
            "transferred": qty > self.available(pair),
            "released": qty > self.reservation[(*pair, obj.get("repair_id", ""))],
        }.get(verb, False)
        if not refused:
            self.violations.append(f"{obj['touchpoint_id']}: rejected {reject['reason']} "
                                   "but the stock allows it")

    def items(self) -> list[dict[str, Any]]:
        return [
            {"part_id": p, "location": loc, "on_hand": self.on_hand[(p, loc)],
             "reserved": self.reserved((p, loc)), "available": self.available((p, loc)),
             "backordered": self.backordered((p, loc))}
            for p, loc in sorted(self.touched)
        ]


def rounded(num: int, den: int) -> frozenset[float]:
    """``num / den`` to 4 decimals; at an exact tie either neighbour is a correct rounding."""
    scaled = Fraction(num, den) * 10_000
    low = floor(scaled)
    rest = scaled - low
    picks = {low} if rest < Fraction(1, 2) else {low + 1} if rest > Fraction(1, 2) else {
        low, low + 1}
    return frozenset(k / 10_000 for k in picks)


@dataclass
class Reference:
    touchpoints: list[Touchpoint]
    stock: StockState

    @classmethod
    def build(cls, decided: Sequence[Arrival]) -> Reference:
        stock = StockState()
        tps: list[Touchpoint] = []
        for arrival in decided:
            if arrival.reject is not None:
                stock.check_reject(arrival.reject)
                continue
            assert arrival.obj is not None
            tp = Touchpoint(len(tps), arrival.obj, parse_instant(arrival.obj["occurred_at"]))
            tps.append(tp)
            stock_out = stock.apply(tp) if tp.kind == "part" else False
            tp.code = cls._own_code(tp, stock_out)
        cls._mark_repeat_repairs(tps)
        return cls(tps, stock)

    @staticmethod
    def _own_code(tp: Touchpoint, stock_out: bool) -> str | None:
        if "error" in tp.obj:
            return str(tp.obj["error"])
        obj = tp.obj
        if tp.type == "purchase.delivery_failed":
            return "delivery_failed"
        if tp.type == "invoice.corrected":
            return f"billing_{obj['error_type']}"
        if tp.type == "complaint.reopened":
            return "case_reopened"
        if tp.type == "repair.completed" and obj["outcome"] == "not_fixed":
            return "repair_not_fixed"
        if stock_out:
            return "stock_out"
        return None

    @staticmethod
    def _mark_repeat_repairs(tps: Sequence[Touchpoint]) -> None:
        serial_of = {t.obj["repair_id"]: t.obj["serial"]
                     for t in tps if t.type == "repair.requested"}
        fixed: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
        for t in tps:
            if t.type == "repair.completed" and t.obj["outcome"] == "fixed":
                rid = t.obj["repair_id"]
                fixed[serial_of[rid]].append((rid, t.at))
        for t in tps:
            if t.type != "repair.requested" or "error" in t.obj:
                continue
            if any(rid != t.obj["repair_id"] and timedelta(0) <= t.at - done <= REPEAT_WINDOW
                   for rid, done in fixed[t.obj["serial"]]):
                t.code = "repeat_repair"

    # views

    def errors(self) -> dict[str, Any]:
        counts: Counter[tuple[str, str]] = Counter()
        errs: Counter[tuple[str, str]] = Counter()
        for t in self.touchpoints:
            counts[(t.kind, t.month)] += 1
            errs[(t.kind, t.month)] += t.code is not None
        by_kind_month = [
            {"kind": k, "month": m, "touchpoints": n, "errors": errs[(k, m)],
             "error_rate": rounded(errs[(k, m)], n)}
            for (k, m), n in sorted(counts.items())
        ]
        codes = Counter(t.code for t in self.touchpoints if t.code is not None)
        by_code = [{"code": c, "count": n} for c, n in sorted(codes.items())]

        by_entity = self._by_entity()
        contacts: Counter[str] = Counter()
        failures: Counter[str] = Counter()
        for t in self.touchpoints:
            if t.type != "complaint.opened":
                continue
            contacts[t.month] += 1
            failures[t.month] += self.is_failure(t, by_entity)
        failure_demand = [
            {"month": m, "contacts": n, "failure": failures[m], "ratio": rounded(failures[m], n)}
            for m, n in sorted(contacts.items())
        ]
        return {"by_kind_month": by_kind_month, "by_code": by_code,
                "failure_demand": failure_demand}

    @staticmethod
    def is_failure(contact: Touchpoint, by_entity: dict[str, list[Touchpoint]]) -> bool:
        demand = contact.obj.get("demand", "unknown")
        if demand == "failure":
            return True
        subject = contact.obj.get("subject")
        if demand != "unknown" or subject is None:
            return False
        return any(t.code is not None and t.at <= contact.at
                   for t in by_entity[f"{subject['type']}:{subject['id']}"])

    def timeline(self, customer: str) -> dict[str, Any]:
        repairs = {t.obj["repair_id"] for t in self.touchpoints
                   if t.type == "repair.requested" and t.obj["customer_id"] == customer}
        mine = [t for t in self.touchpoints
                if t.obj.get("customer_id") == customer
                or (t.kind == "part" and t.obj.get("repair_id") in repairs)]
        mine.sort(key=lambda t: (t.at, t.arrival))
        return {"customer_id": customer, "entries": [
            {"touchpoint_id": t.id, "type": t.type, "occurred_at": zulu(t.at),
             "entity": t.entity, "error": t.code}
            for t in mine
        ]}

    def late_repeat_repairs(self) -> list[str]:
        """Requests that are repeats only because of a fixed completion that arrived later."""
        serial_of = {t.obj["repair_id"]: t.obj["serial"]
                     for t in self.touchpoints if t.type == "repair.requested"}
        found = []
        for t in self.touchpoints:
            if t.code != "repeat_repair" or "error" in t.obj:
                continue
            earlier = [d for d in self.touchpoints[: t.arrival]
                       if d.type == "repair.completed" and d.obj["outcome"] == "fixed"
                       and d.obj["repair_id"] != t.obj["repair_id"]
                       and serial_of[d.obj["repair_id"]] == t.obj["serial"]
                       and timedelta(0) <= t.at - d.at <= REPEAT_WINDOW]
            if not earlier:
                found.append(t.id)
        return found

    def late_failure_contacts(self) -> list[str]:
        """Unknown-demand contacts that are failure only through errors that arrived later."""
        by_entity = self._by_entity()
        found = []
        for t in self.touchpoints:
            subject = t.obj.get("subject")
            if (t.type != "complaint.opened" or subject is None
                    or t.obj.get("demand", "unknown") != "unknown"):
                continue
            hits = [u for u in by_entity[f"{subject['type']}:{subject['id']}"]
                    if u.code is not None and u.at <= t.at]
            if hits and all(u.arrival > t.arrival for u in hits):
                found.append(t.id)
        return found

    def _by_entity(self) -> dict[str, list[Touchpoint]]:
        by_entity: dict[str, list[Touchpoint]] = defaultdict(list)
        for t in self.touchpoints:
            for key in t.subject_entities:
                by_entity[key].append(t)
        return by_entity

    def interesting_customers(self, count: int) -> list[str]:
        """Customers with repairs and complaints, the most eventful first (deterministic)."""
        score: Counter[str] = Counter()
        has: dict[str, set[str]] = defaultdict(set)
        owner = {t.obj["repair_id"]: t.obj["customer_id"]
                 for t in self.touchpoints if t.type == "repair.requested"}
        latest = datetime.min.replace(tzinfo=UTC)
        for t in self.touchpoints:
            customer = t.obj.get("customer_id") or owner.get(t.obj.get("repair_id", ""))
            if customer is None:
                continue
            has[customer].add(t.type)
            late = t.at < latest
            latest = max(latest, t.at)
            score[customer] += (t.code is not None) + late + 3 * (
                t.code in ("repeat_repair", "stock_out") or (late and t.code is not None))
        eligible = sorted((c for c, types in has.items()
                           if {"repair.requested", "complaint.opened"} <= types),
                          key=lambda c: (-score[c], c))
        top = eligible[: count * 2 // 3]
        rest = eligible[len(top):]
        step = max(1, len(rest) // max(1, count - len(top)))
        return sorted(top + rest[::step][: count - len(top)])


# --- comparing -----------------------------------------------------------------------------

def normalise_ratios(actual: Sequence[dict[str, Any]], expected: Sequence[dict[str, Any]],
                     keys: tuple[str, ...], ratio: str) -> list[dict[str, Any]]:
    """Swap each actual 4-decimal ratio for the expected set of correct roundings it is in."""
    allowed = {tuple(row[k] for k in keys): row[ratio] for row in expected}
    out = []
    for row in actual:
        row = dict(row)
        accepted = allowed.get(tuple(row.get(k) for k in keys), frozenset())
        row[ratio] = accepted if row.get(ratio) in accepted else frozenset({row.get(ratio)})
        out.append(row)
    return out


def assert_errors_match(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(actual) == {"by_kind_month", "by_code", "failure_demand"}
    assert actual["by_code"] == expected["by_code"]
    assert normalise_ratios(actual["by_kind_month"], expected["by_kind_month"],
                            ("kind", "month"), "error_rate") == expected["by_kind_month"]
    assert normalise_ratios(actual["failure_demand"], expected["failure_demand"],
                            ("month",), "ratio") == expected["failure_demand"]


def assert_stock_matches(actual: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    assert [{k: item.get(k) for k in STOCK_FIELDS} for item in actual["items"]] == expected


def assert_timelines_match(actual: dict[str, Any], ref: Reference) -> None:
    for customer, timeline in actual.items():
        assert timeline == ref.timeline(customer), f"timeline of {customer}"


def code_differences(actual: dict[str, Any], ref: Reference) -> list[str]:
    """Per-touchpoint error codes that differ in the timelines read (for a readable failure)."""
    codes = {t.id: t.code for t in ref.touchpoints}
    return [f"{e['touchpoint_id']} ({e['type']}): engine {e['error']!r}, "
            f"reference {codes.get(e['touchpoint_id'])!r}"
            for timeline in actual.values() for e in timeline["entries"]
            if codes.get(e["touchpoint_id"], "<absent>") != e["error"]]


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
    rejects = journey(db, "rejects")["rejects"]
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
