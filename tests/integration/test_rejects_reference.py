"""Re-deciding rejects (contract 4.9) against a reference of every decision.

A generated workload (no bad lines: every line is accepted in file order) is shuffled so that
some lifecycle touchpoints arrive before what they need: ``invoice.paid``,
``invoice.reminder_sent``, ``purchase.delivered`` and ``complaint.contact_logged`` lines are
moved just before the line that creates their entity (one twice, one also resent in its
place), and hand-made lines of every reason follow. The reference predicts every decision from
contract 2 (which line is accepted, a duplicate, or rejected for which reason), derives the
open rejects from 4.9's definition, and predicts each retry's decisions; the engine, driven
through the installed ``journey`` command on SQLite and PostgreSQL, must list the same open
rejects (``journey rejects``), print the same retry summaries (``journey rejects retry
[--reason R]``), list every decision (``--all``), and end with the views of a store that took
the finally accepted lines in their unshuffled order.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import POSTGRES, _drop_schema, _postgres_url
from tests.reference_support import current, file_lines, generate, journey_many

CUSTOMERS = 150
SEED = 1309
LATE_RATE = 0.1
PER_TYPE = 6  # lines of each moved type
ACCEPTED, DUPLICATE = "accepted", "duplicate"
#: The final state of a case after each lifecycle type (2.2); contact_logged changes nothing.
CASE_STATE = {"complaint.opened": "open", "complaint.resolved": "done",
              "complaint.reopened": "open", "complaint.closed": "done"}
CREATORS = {"invoice": "invoice.issued", "purchase": "purchase.placed",
            "complaint": "complaint.opened"}
KEYS = {"invoice": "invoice_id", "purchase": "order_id", "complaint": "case_id"}


@dataclass
class Line:
    """A line of the shuffled file, with the outcome contract 2 gives it on arrival and on a
    retry at the end (``None``: not predicted, it is never retried)."""

    raw: str
    outcome: str
    on_retry: str | None = None
    in_unshuffled: bool = True  # whether the unshuffled store takes it

    @property
    def touchpoint_id(self) -> str | None:
        try:
            obj = json.loads(self.raw)
        except ValueError:
            return None
        tid = obj.get("touchpoint_id") if isinstance(obj, dict) else None
        return tid if isinstance(tid, str) else None


@dataclass
class Decision:
    touchpoint_id: str | None
    outcome: str  # accepted, duplicate or a reason
    raw: str

    @property
    def rejected(self) -> bool:
        return self.outcome not in (ACCEPTED, DUPLICATE)

    def listed(self) -> tuple[str | None, str, str]:
        return (self.touchpoint_id, self.outcome, self.raw)


def open_rejects(decisions: list[Decision]) -> list[Decision]:
    """4.9: a reject is open when its touchpoint has not been accepted since and no later
    reject of the same touchpoint_id supersedes it; without a string id it stays open."""
    found = []
    for n, d in enumerate(decisions):
        if not d.rejected:
            continue
        later = [e for e in decisions[n + 1:] if e.touchpoint_id == d.touchpoint_id]
        if d.touchpoint_id is None or not any(e.outcome == ACCEPTED or e.rejected
                                              for e in later):
            found.append(d)
    return found


# --- the shuffled file and its predicted decisions --------------------------------------------

@dataclass
class Workload:
    lines: list[Line]
    unshuffled: list[str]
    moved: dict[str, int] = field(default_factory=dict)


def entity_of(obj: dict[str, Any]) -> tuple[str, str] | None:
    kind = obj["type"].split(".")[0]
    return (kind, obj[KEYS[kind]]) if kind in KEYS else None


def shuffle(generated: list[str]) -> Workload:
    objs = [json.loads(raw) for raw in generated]
    creator_at = {entity_of(o): n for n, o in enumerate(objs) if o["type"] in CREATORS.values()}
    order_lines = Counter(o["order_id"] for o in objs if o["type"].startswith("purchase."))
    case_state: dict[str, str] = {}
    for o in objs:
        if o["type"] in CASE_STATE:
            case_state[o["case_id"]] = CASE_STATE[o["type"]]

    def movable(o: dict[str, Any]) -> bool:
        if o["type"] == "purchase.delivered":  # nothing else of the order follows
            return order_lines[o["order_id"]] == 2
        return o["type"] in ("invoice.paid", "invoice.reminder_sent",
                             "complaint.contact_logged")

    def group(o: dict[str, Any]) -> tuple[str, int]:
        """Contact logs of cases still open at the end (they pass on a retry) and of cases
        resolved or closed by then (refused again: invalid_transition), half each."""
        if o["type"] != "complaint.contact_logged":
            return o["type"], PER_TYPE
        return f"{o['type']} ({case_state[o['case_id']]})", PER_TYPE // 2

    picked: dict[str, list[int]] = {}
    for n, o in enumerate(objs):
        name, most = group(o) if movable(o) else ("", 0)
        # spread over the file; contact logs of cases left open are rare: any of them
        if most and (n % 3 == 0 or name.endswith("(open)")) \
                and len(picked.setdefault(name, [])) < most:
            picked[name].append(n)
    moved = {n for chosen in picked.values() for n in chosen}
    twice = picked["invoice.paid"][0]  # rejected twice before its invoice: one superseded
    resent = picked["purchase.delivered"][0]  # and also resent in its place: accepted there
    early: dict[int, list[int]] = {}
    for n in moved:
        early.setdefault(creator_at[entity_of(objs[n])], []).append(n)

    lines: list[Line] = []
    for n, raw in enumerate(generated):
        for m in sorted(early.get(n, [])):
            on_retry = ACCEPTED
            if objs[m]["type"] == "complaint.contact_logged" \
                    and case_state[objs[m]["case_id"]] != "open":
                on_retry = "invalid_transition"
            for _ in range(2 if m == twice else 1):
                lines.append(Line(generated[m], "unknown_entity", on_retry))
        if n in moved and n != resent:
            continue
        lines.append(Line(raw, ACCEPTED))
    unshuffled = [raw for n, raw in enumerate(generated) if n not in moved or n == resent
                  or next(line for line in lines if line.raw == raw).on_retry == ACCEPTED]
    return Workload(lines, unshuffled, {t: len(g) for t, g in picked.items()})


def hand_made(generated: list[str]) -> tuple[list[Line], list[str]]:
    """Lines of every reason (2.1) and the unshuffled lines of what they finally accept."""
    objs = [json.loads(raw) for raw in generated]
    placed = next(o for o in objs if o["type"] == "purchase.placed")
    issued = next(o for o in objs if o["type"] == "invoice.issued")
    at = "2026-02-01T10:00:00Z"

    def tp(tid: str, type_: str, **fields: Any) -> str:
        return json.dumps({"touchpoint_id": tid, "type": type_, "occurred_at": at, **fields})

    pair = {"part_id": "P-RJ", "location": "L-RJ"}
    repair = {"customer_id": "C-RJ", "repair_id": "R-RJ"}
    stock_in = tp("rj-stock-in", "part.received", **pair, qty=5)
    adjusted = tp("rj-adjust", "part.adjusted", **pair, qty=-2, reason="count")
    requested = tp("rj-repair", "repair.requested", **repair, serial="SN-RJ", fault="f",
                   warranty=True)
    completed = tp("rj-repair-done", "repair.completed", **repair, outcome="fixed")
    returned = tp("rj-repair-back", "repair.returned", **repair)
    same = {"invalid_json", "invalid", "unknown_type", "already_exists", "customer_mismatch",
            "unknown_entity", "conflicting_duplicate"}
    lines = [
        Line('{"touchpoint_id": "rj-json", ', "invalid_json", None, False),
        Line(json.dumps({"touchpoint_id": 7, "type": "part.received", "occurred_at": at,
                         **pair, "qty": 1}), "invalid", None, False),
        Line(tp("rj-invalid", "part.received", **pair), "invalid"),
        Line(tp("bad id!", "part.received", **pair, qty=1), "invalid"),
        Line(tp("rj-type", "part.scrapped", **pair, qty=1), "unknown_type"),
        Line(tp("rj-exists", "purchase.placed", customer_id=placed["customer_id"],
                order_id=placed["order_id"], currency="EUR",
                lines=[{"sku": "S", "qty": 1, "unit_price": 1}]), "already_exists"),
        Line(tp("rj-mismatch", "invoice.reminder_sent", customer_id="NOBODY",
                invoice_id=issued["invoice_id"]), "customer_mismatch"),
        Line(tp("rj-never", "purchase.delivered", customer_id="C-RJ", order_id="O-NEVER"),
             "unknown_entity"),
        Line(json.dumps({**issued, "amount": "0.01"}), "conflicting_duplicate"),
        # refused now, accepted at the end: stock arrives, the repair completes
        Line(adjusted, "insufficient_stock", ACCEPTED),
        Line(stock_in, ACCEPTED),
        Line(requested, ACCEPTED),
        Line(returned, "invalid_transition", ACCEPTED),
        Line(completed, ACCEPTED),
    ]
    for line in lines:
        if line.outcome in same:
            line.on_retry, line.in_unshuffled = line.outcome, False
    return lines, [stock_in, adjusted, requested, completed, returned]


def decide(lines: list[Line]) -> list[Decision]:
    """The decisions of an ingest of ``lines`` (an accepted id seen again is a duplicate)."""
    accepted: set[str] = set()
    decisions = []
    for line in lines:
        tid, outcome = line.touchpoint_id, line.outcome
        if outcome == ACCEPTED and tid in accepted:
            outcome = DUPLICATE
        if outcome == ACCEPTED:
            assert tid is not None
            accepted.add(tid)
        decisions.append(Decision(tid, outcome, line.raw))
    return decisions


def summary_of(decisions: list[Decision]) -> dict[str, Any]:
    outcomes = Counter(d.outcome for d in decisions)
    reasons = {r: n for r, n in sorted(outcomes.items()) if r not in (ACCEPTED, DUPLICATE)}
    return {"read": len(decisions), "accepted": outcomes[ACCEPTED],
            "duplicates": outcomes[DUPLICATE], "rejected": sum(reasons.values()),
            "rejected_by_reason": reasons}


def retried(decisions: list[Decision], on_retry: dict[str, str],
            reasons: set[str] | None) -> list[Decision]:
    """A retry's decisions: the open rejects with a string id (of ``reasons``), in order."""
    return [Decision(d.touchpoint_id, on_retry[d.raw], d.raw) for d in open_rejects(decisions)
            if d.touchpoint_id is not None and (reasons is None or d.outcome in reasons)]


# --- driving the stores ------------------------------------------------------------------------

def listed(rejects: list[dict[str, Any]]) -> list[tuple[str | None, str, str]]:
    return [(r["touchpoint_id"], r["reason"], r["raw"]) for r in rejects]


def contract_summary(document: dict[str, Any]) -> dict[str, Any]:
    return {k: document[k] for k in ("read", "accepted", "duplicates", "rejected",
                                     "rejected_by_reason")}


VIEWS = (["kpis"], ["errors"], ["invoices"], ["stock"])


def views(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The view documents of ``VIEWS``, without their freshness."""
    return [current(document) for document in documents]


@pytest.fixture
def second_store(store_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty store on the same backend."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'unshuffled.db'}"
        return
    assert POSTGRES is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield _postgres_url(schema)
    _drop_schema(schema)


def write(path: Path, raws: list[str]) -> str:
    path.write_text("".join(f"{raw}\n" for raw in raws), encoding="utf-8")
    return str(path)


def test_retries_re_decide_the_open_rejects_in_order_and_converge(
        store_url: str, second_store: str, tmp_path: Path) -> None:
    generated = file_lines(generate(tmp_path / "generated.jsonl", CUSTOMERS, SEED, LATE_RATE,
                                    bad_rate=0.0))
    work = shuffle(generated)
    assert sorted(work.moved.values()) == [PER_TYPE // 2] * 2 + [PER_TYPE] * 3, work.moved
    extra, extra_unshuffled = hand_made(generated)
    lines = work.lines + extra
    on_retry = {line.raw: line.on_retry for line in lines if line.on_retry is not None}
    db = store_url

    decisions = decide(lines)
    shuffled = write(tmp_path / "shuffled.jsonl", [ln.raw for ln in lines])
    summary, everything, listing = journey_many(
        db, [["ingest", shuffled], ["rejects", "--all"], ["rejects"]], tmp_path)
    assert contract_summary(summary) == summary_of(decisions)
    assert listed(everything["rejects"]) == [d.listed() for d in decisions if d.rejected]
    expected_open = [d.listed() for d in open_rejects(decisions)]
    assert listed(listing["rejects"]) == expected_open
    # the line rejected twice is open once (superseded), the resent one not at all
    assert len(expected_open) == sum(d.rejected for d in decisions) - 2

    # unknown_entity only: every moved line whose entity exists now passes
    first = retried(decisions, on_retry, {"unknown_entity"})
    summary, listing = journey_many(
        db, [["rejects", "retry", "--reason", "unknown_entity"], ["rejects"]], tmp_path)
    assert contract_summary(summary) == summary_of(first)
    assert summary["accepted"] == 3 * PER_TYPE - 1 + PER_TYPE // 2
    assert summary["rejected_by_reason"] == {"invalid_transition": PER_TYPE // 2,
                                             "unknown_entity": 1}
    decisions += first
    assert listed(listing["rejects"]) == [d.listed() for d in open_rejects(decisions)]

    # everything open with a string id: the rest, and those rejected again just now
    second = retried(decisions, on_retry, None)
    summary, listing, everything, *retried_views = journey_many(
        db, [["rejects", "retry"], ["rejects"], ["rejects", "--all"], *VIEWS], tmp_path)
    assert contract_summary(summary) == summary_of(second)
    assert summary["accepted"] == 2  # the stock arrived, the repair completed
    decisions += second
    assert listed(listing["rejects"]) == [d.listed() for d in open_rejects(decisions)]
    assert listed(everything["rejects"]) == [d.listed() for d in decisions if d.rejected]

    # what is accepted in the end gives the views of the unshuffled accepted lines
    unshuffled = work.unshuffled + extra_unshuffled
    summary, *unshuffled_views = journey_many(
        second_store, [["ingest", write(tmp_path / "unshuffled.jsonl", unshuffled)], *VIEWS],
        tmp_path)
    assert (summary["accepted"], summary["rejected"]) == (len(unshuffled), 0)
    assert summary["accepted"] == sum(d.outcome == ACCEPTED for d in decisions)
    assert views(retried_views) == views(unshuffled_views)


def test_a_reject_of_an_accepted_id_for_another_reason_stays_open(
        store_url: str, tmp_path: Path) -> None:
    """4.9: open while the touchpoint "has not been accepted since" the reject: a line that
    reuses an accepted id but is refused for a reason before ``conflicting_duplicate``
    (``invalid``, ``unknown_type``) is a reject of its own, accepted only *before* it."""
    at = "2026-02-01T10:00:00Z"
    good = {"touchpoint_id": "tp-1", "type": "part.received", "occurred_at": at,
            "part_id": "P1", "location": "L1", "qty": 1}
    invalid = {**good, "qty": 0}
    unknown = {**good, "type": "part.scrapped"}
    raws = [json.dumps(o) for o in (good, invalid, unknown)]
    summary, everything, listing, retry, listing_after, everything_after = journey_many(
        store_url, [["ingest", write(tmp_path / "lines.jsonl", raws)], ["rejects", "--all"],
                    ["rejects"], ["rejects", "retry"], ["rejects"], ["rejects", "--all"]],
        tmp_path)
    assert summary["rejected_by_reason"] == {"invalid": 1, "unknown_type": 1}
    expected = [("tp-1", "invalid", raws[1]), ("tp-1", "unknown_type", raws[2])]
    assert listed(everything["rejects"]) == expected
    # the invalid one is superseded by the later unknown_type one; that one is open
    assert listed(listing["rejects"]) == expected[1:]
    assert contract_summary(retry) == {"read": 1, "accepted": 0, "duplicates": 0,
                                       "rejected": 1, "rejected_by_reason": {"unknown_type": 1}}
    assert listed(listing_after["rejects"]) == expected[1:]
    assert listed(everything_after["rejects"]) == [*expected, expected[1]]
