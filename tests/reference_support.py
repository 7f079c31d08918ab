"""The independent reference model of the contract's views, shared by the reference suites.

Written from the contract (docs/contract.md) alone: it reads the accepted touchpoints of a
workload in arrival order and recomputes every error code, the error rates, the failure demand,
the stock levels and the customer timelines from scratch, with no code shared with
``domain/`` or ``projections/``. The engine is driven through the installed ``journey``
command exactly as an operator would. ``tests/integration/test_views_reference.py`` (sections
3 and 4) and ``tests/integration/test_service_reference.py`` (4.6-4.8) build on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, Inexact, localcontext
from fractions import Fraction
from math import floor
from pathlib import Path
from typing import Any

from journey.infra.store import open_store
from tests.support import JOURNEY

TIMEOUT = 300  # seconds per command: generous, a whole workload takes a few seconds

REPEAT_WINDOW = timedelta(hours=30 * 24)
ENTITY_FIELD = {"purchase": "order_id", "invoice": "invoice_id", "complaint": "case_id",
                "repair": "repair_id"}
ENTITY_PREFIX = {"purchase": "order", "invoice": "invoice", "complaint": "case",
                 "repair": "repair"}
STOCK_FIELDS = ("part_id", "location", "on_hand", "reserved", "available", "backordered")


# --- driving the installed command -----------------------------------------------------------

def journey(db: str, *args: str, stdin: bytes | None = None) -> Any:
    """Run ``journey --db DB --json ARGS`` and return its one JSON document."""
    result = subprocess.run(
        [JOURNEY, "--db", db, "--json", *args], input=stdin, capture_output=True,
        timeout=TIMEOUT, env={**os.environ, "JOURNEY_LOG_FORMAT": "json"},
    )
    assert result.returncode == 0, f"journey {' '.join(args)} failed: {result.stderr.decode()}"
    return json.loads(result.stdout)


def generate(path: Path, customers: int, seed: int, late_rate: float | None = None,
             bad_rate: float | None = None) -> Path:
    args = ["generate", "--customers", str(customers), "--seed", str(seed), "-o", str(path)]
    if late_rate is not None:
        args += ["--late-rate", str(late_rate)]
    if bad_rate is not None:
        args += ["--bad-rate", str(bad_rate)]
    result = subprocess.run([JOURNEY, *args], capture_output=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr.decode()
    return path


# One process answering many commands: the entry point the `journey` script runs
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


def journey_many(db: str, commands: Sequence[Sequence[str]], scratch: Path) -> list[Any]:
    """``journey --db DB --json COMMAND`` for each command, in one process; their documents."""
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=scratch, suffix=".json", delete=False) as handle:
        answers = Path(handle.name)
    argvs = [["--db", db, "--json", *command] for command in commands]
    result = subprocess.run(
        [sys.executable, "-c", _MANY, json.dumps(argvs), str(answers)], capture_output=True,
        timeout=TIMEOUT, env={**os.environ, "JOURNEY_LOG_FORMAT": "json"},
    )
    assert result.returncode == 0, result.stderr.decode()
    found = []
    for command, answer in zip(commands, json.loads(answers.read_text()), strict=True):
        assert answer["code"] in (0, None), f"journey {command}: {result.stderr.decode()}"
        found.append(json.loads(answer["stdout"]))
    answers.unlink()
    return found


def timelines(db: str, customers: Sequence[str], scratch: Path) -> dict[str, Any]:
    """``journey --db DB --json timeline C`` for each customer."""
    found = journey_many(db, [["timeline", c] for c in customers], scratch)
    return dict(zip(customers, found, strict=True))


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


def all_rejects(db: str) -> list[dict[str, Any]]:
    """Every reject decision ever made, in decision order (``journey rejects --all``, 4.9)."""
    found: list[dict[str, Any]] = journey(db, "rejects", "--all")["rejects"]
    return found


def load(raw: str | bytes) -> Any:
    """A JSON line as the contract reads it: numbers with a fraction are exact decimals."""
    return json.loads(raw, parse_float=Decimal)


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
        obj = load(raw)
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
    stock_out: bool = False  # a part.reserved accepted as a stock-out (whatever its code)

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
            tp.stock_out = stock.apply(tp) if tp.kind == "part" else False
            tp.code = cls._own_code(tp, tp.stock_out)
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


# --- the service figures (contract 4.6-4.8), from the accepted touchpoints alone --------------

HOUR_US = 3_600_000_000
P50, P90 = Fraction(1, 2), Fraction(9, 10)
#: Money sums exactly: ample digits, and an inexact result fails loudly.
EXACT = Context(prec=200, traps=[Inexact])


def half_even(value: Fraction, places: int) -> Decimal:
    """``value`` rounded half-even to ``places`` decimals, exactly (no float on the way)."""
    scaled = value * 10**places
    whole = floor(scaled)
    rest = scaled - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1):
        whole += 1
    return Decimal(whole).scaleb(-places)


def ratio(num: int, den: int, places: int = 4) -> float | None:
    """A rate (4 decimals) or a mean (2); ``None`` (JSON null) for an empty set."""
    return None if den == 0 else float(half_even(Fraction(num, den), places))


def hours(first: datetime, second: datetime) -> Fraction:
    """Hours between two touchpoints, exactly: the later one minus the earlier one (4.6), so
    a resolution dated before its opening counts by its distance."""
    return Fraction(abs(second - first) // timedelta(microseconds=1), HOUR_US)


def percentile(values: Sequence[Fraction], p: Fraction) -> float | None:
    """The nearest-rank percentile: the ceil(p*n)-th smallest (at least the first)."""
    if not values:
        return None
    rank = max(1, -(-p.numerator * len(values) // p.denominator))
    return float(half_even(sorted(values)[rank - 1], 2))


def money(value: Decimal) -> str:
    """A decimal string with exactly 2 decimals, never ``-0.00``."""
    if value == 0:
        return "0.00"
    text = f"{value:.2f}"
    assert Decimal(text) == value, f"{value} has more than 2 decimals"
    return text


def earliest(tps: Sequence[Touchpoint]) -> Touchpoint | None:
    """The first by business time, ties by arrival."""
    return min(tps, key=lambda t: (t.at, t.arrival), default=None)


def in_months(month: str, first: str | None, last: str | None) -> bool:
    return (first is None or month >= first) and (last is None or month <= last)


@dataclass
class ServiceReference:
    """KPIs (4.6), the cost of failure demand (4.7) and invoices (4.8) of ``ref``'s accepted
    touchpoints, recomputed by brute force."""

    ref: Reference

    def _by(self, type_: str, key: str) -> dict[str, list[Touchpoint]]:
        found: dict[str, list[Touchpoint]] = defaultdict(list)
        for t in self.ref.touchpoints:
            if t.type == type_:
                found[str(t.obj[key])].append(t)
        return found

    def kpis(self, first: str | None = None, last: str | None = None) -> dict[str, Any]:
        return {"cases": self.cases(first, last), "repairs": self.repairs(first, last),
                "parts": self.parts(first, last), "satisfaction": self.satisfaction(first, last)}

    def cases(self, first: str | None = None, last: str | None = None) -> list[dict[str, Any]]:
        opened = self._by("complaint.opened", "case_id")
        resolved = self._by("complaint.resolved", "case_id")
        reopened = self._by("complaint.reopened", "case_id")
        months: dict[str, dict[str, Any]] = {}
        waits: dict[str, list[Fraction]] = defaultdict(list)
        for case_id, (open_tp,) in opened.items():
            row = months.setdefault(open_tp.month, {"opened": 0, "resolved": 0, "reopened": 0})
            row["opened"] += 1
            first_resolution = earliest(resolved.get(case_id, []))
            if first_resolution is not None:
                row["resolved"] += 1
                waits[open_tp.month].append(hours(open_tp.at, first_resolution.at))
            row["reopened"] += case_id in reopened
        return [
            {"month": m, "opened": r["opened"], "resolved": r["resolved"],
             "hours_to_resolve_p50": percentile(waits[m], P50),
             "hours_to_resolve_p90": percentile(waits[m], P90),
             "reopened": r["reopened"], "reopen_rate": ratio(r["reopened"], r["resolved"])}
            for m, r in sorted(months.items()) if in_months(m, first, last)
        ]

    def repairs(self, first: str | None = None, last: str | None = None) -> list[dict[str, Any]]:
        requested = self._by("repair.requested", "repair_id")
        completed = self._by("repair.completed", "repair_id")
        months: dict[str, dict[str, int]] = {}
        waits: dict[str, list[Fraction]] = defaultdict(list)
        for repair_id, (request,) in requested.items():
            row = months.setdefault(request.month,
                                    {"requested": 0, "completed": 0, "first_time_fixed": 0})
            row["requested"] += 1
            done = completed.get(repair_id, [])
            first_done = earliest(done)
            if first_done is not None:
                row["completed"] += 1
                row["first_time_fixed"] += first_done.obj["outcome"] == "fixed"
            fixed = earliest([t for t in done if t.obj["outcome"] == "fixed"])
            if fixed is not None:
                waits[request.month].append(hours(request.at, fixed.at))
        return [
            {"month": m, "requested": r["requested"], "completed": r["completed"],
             "first_time_fixed": r["first_time_fixed"],
             "first_time_fix_rate": ratio(r["first_time_fixed"], r["completed"]),
             "hours_to_fix_p50": percentile(waits[m], P50),
             "hours_to_fix_p90": percentile(waits[m], P90)}
            for m, r in sorted(months.items()) if in_months(m, first, last)
        ]

    def parts(self, first: str | None = None, last: str | None = None) -> list[dict[str, Any]]:
        reservations: Counter[str] = Counter()
        filled: Counter[str] = Counter()
        for t in self.ref.touchpoints:
            if t.type == "part.reserved":
                reservations[t.month] += 1
                filled[t.month] += not t.stock_out
        return [{"month": m, "reservations": n, "filled": filled[m],
                 "fill_rate": ratio(filled[m], n)}
                for m, n in sorted(reservations.items()) if in_months(m, first, last)]

    def first_errors(self) -> dict[str, datetime]:
        """Per customer, the earliest ``occurred_at`` of an error on their timeline (4)."""
        owner = {t.obj["repair_id"]: t.obj["customer_id"]
                 for t in self.ref.touchpoints if t.type == "repair.requested"}
        found: dict[str, datetime] = {}
        for t in self.ref.touchpoints:
            if t.code is None:
                continue
            customer = t.obj.get("customer_id")
            if customer is None and t.kind == "part":
                customer = owner.get(t.obj.get("repair_id", ""))
            if customer is not None and (customer not in found or t.at < found[customer]):
                found[customer] = t.at
        return found

    def ratings(self) -> list[tuple[Touchpoint, bool]]:
        """Every rating with whether it is after an error."""
        first_error = self.first_errors()
        return [(t, t.obj["customer_id"] in first_error
                 and first_error[t.obj["customer_id"]] <= t.at)
                for t in self.ref.touchpoints
                if t.type == "complaint.resolved" and "satisfaction" in t.obj]

    def satisfaction(self, first: str | None = None,
                     last: str | None = None) -> dict[str, Any]:
        groups: dict[str, list[int]] = {"after_error": [], "no_error": [], "all": []}
        for t, after in self.ratings():
            if not in_months(t.month, first, last):
                continue
            score = t.obj["satisfaction"]
            groups["after_error" if after else "no_error"].append(score)
            groups["all"].append(score)
        return {name: {"ratings": len(scores), "mean": ratio(sum(scores), len(scores), 2),
                       "by_score": {str(s): scores.count(s) for s in range(1, 6)}}
                for name, scores in groups.items()}

    def default_day(self) -> str:
        return max(t.at for t in self.ref.touchpoints).date().isoformat()

    def invoice_rows(self, as_of_day: str) -> list[dict[str, Any]]:
        issued = self._by("invoice.issued", "invoice_id")
        deltas = self._by("invoice.corrected", "invoice_id")
        payments = self._by("invoice.paid", "invoice_id")
        reminders = self._by("invoice.reminder_sent", "invoice_id")
        rows = []
        for invoice_id, (issue,) in sorted(issued.items()):
            amount = Decimal(issue.obj["amount"]) + sum(
                (Decimal(t.obj["amount_delta"]) for t in deltas.get(invoice_id, [])), Decimal(0))
            paid = sum((Decimal(t.obj["amount"]) for t in payments.get(invoice_id, [])),
                       Decimal(0))
            balance = amount - paid
            due = issue.obj["due_date"]
            status = "paid" if balance <= 0 else "overdue" if due < as_of_day else "open"
            rows.append({"invoice_id": invoice_id, "customer_id": issue.obj["customer_id"],
                         "currency": issue.obj["currency"], "amount": amount, "paid": paid,
                         "balance": balance, "due_date": due,
                         "reminders": len(reminders.get(invoice_id, [])), "status": status,
                         "_month": issue.month})
        return rows

    def invoices(self, as_of_day: str | None = None,
                 status: str | None = None) -> dict[str, Any]:
        with localcontext(EXACT):
            return self._invoices(as_of_day, status)

    def _invoices(self, as_of_day: str | None, status: str | None) -> dict[str, Any]:
        day = self.default_day() if as_of_day is None else as_of_day
        rows = self.invoice_rows(day)
        zero = Decimal(0)
        months: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            m = months.setdefault((row["_month"], row["currency"]), {
                "issued": 0, "amount": zero, "paid": zero, "outstanding": zero, "overdue": 0,
                "overdue_amount": zero})
            m["issued"] += 1
            m["amount"] += row["amount"]
            m["paid"] += row["paid"]
            m["outstanding"] += max(row["balance"], zero)
            if row["status"] == "overdue":
                m["overdue"] += 1
                m["overdue_amount"] += row["balance"]
        by_month = [{"month": month, "currency": currency, "issued": m["issued"],
                     "amount": money(m["amount"]), "paid": money(m["paid"]),
                     "outstanding": money(m["outstanding"]), "overdue": m["overdue"],
                     "overdue_amount": money(m["overdue_amount"])}
                    for (month, currency), m in sorted(months.items())]
        listed = [{**{k: v for k, v in row.items() if k != "_month"},
                   "amount": money(row["amount"]), "paid": money(row["paid"]),
                   "balance": money(row["balance"])}
                  for row in rows if status is None or row["status"] == status]
        return {"as_of_day": day, "by_month": by_month, "invoices": listed}

    def failure_costs(self, cost: Decimal) -> dict[str, str]:
        """4.7: per month, failure x C."""
        with localcontext(EXACT):
            return {row["month"]: money(row["failure"] * cost)
                    for row in self.ref.errors()["failure_demand"]}


def assert_errors_with_cost_match(actual: dict[str, Any], ref: Reference,
                                  cost: Decimal) -> None:
    """``journey errors --contact-cost C``: the errors document of 5, each failure-demand row
    with its cost (4.7)."""
    costs = {row["month"]: row.pop("cost") for row in actual["failure_demand"]}
    assert costs == ServiceReference(ref).failure_costs(cost)
    assert_errors_match(actual, ref.errors())
