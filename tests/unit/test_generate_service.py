"""The workload gives the service figures (contract 4.6-4.8) something to say.

`journey generate` must produce data where the KPIs and the invoice figures are interesting:
cases and repairs that take minutes or weeks or never end, ratings that are lower after a
service error, stock-outs among the reservations, and invoices in every state and in more than
one currency. Every figure here is recomputed from the generated lines alone: the accepted
ones, as the independent reference model of ``test_generate`` decides them in arrival order,
with no code shared with the engine or the generator.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from math import ceil
from typing import Any

import pytest

from journey.infra.workload import WorkloadOptions, generate_with_labels
from tests.unit.test_generate import replay, utc

SAMPLE = WorkloadOptions(customers=1000, seed=7, late_rate=0.05)
HOUR = timedelta(hours=1)
TWO_WEEKS = timedelta(days=14)
REPEAT_WINDOW = timedelta(days=30)


@dataclass
class Sample:
    """The accepted touchpoints in arrival order, their instants and error codes (contract 3)."""

    objects: list[dict[str, Any]]
    at: list[datetime]
    codes: list[str | None]
    owners: list[str | None]  # whose timeline (contract 4) the touchpoint is on

    def of(self, type_: str) -> list[int]:
        return [i for i, obj in enumerate(self.objects) if obj["type"] == type_]


def error_codes(objects: list[dict[str, Any]], at: list[datetime],
                stock_outs: set[str]) -> list[str | None]:
    serial_of = {o["repair_id"]: o["serial"] for o in objects if o["type"] == "repair.requested"}
    fixed: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for i, obj in enumerate(objects):
        if obj["type"] == "repair.completed" and obj["outcome"] == "fixed":
            fixed[serial_of[obj["repair_id"]]].append((at[i], obj["repair_id"]))
    intrinsic = {"purchase.delivery_failed": "delivery_failed",
                 "complaint.reopened": "case_reopened"}
    codes: list[str | None] = []
    for i, obj in enumerate(objects):
        type_ = obj["type"]
        code = obj.get("error") or intrinsic.get(type_)
        if code is None and type_ == "invoice.corrected":
            code = "billing_" + obj["error_type"]
        elif code is None and type_ == "repair.completed" and obj["outcome"] == "not_fixed":
            code = "repair_not_fixed"
        elif code is None and type_ == "repair.requested" and any(
            repair != obj["repair_id"] and timedelta(0) <= at[i] - done <= REPEAT_WINDOW
            for done, repair in fixed[obj["serial"]]
        ):
            code = "repeat_repair"
        elif code is None and obj["touchpoint_id"] in stock_outs:
            code = "stock_out"
        codes.append(code)
    return codes


@pytest.fixture(scope="module")
def sample() -> Sample:
    stream = list(generate_with_labels(SAMPLE))
    model, wrong = replay(stream)
    assert wrong[:5] == []
    objects = [json.loads(line, parse_float=Decimal) for line, label in stream if label == "valid"]
    at = [utc(obj["occurred_at"]) for obj in objects]
    customer_of = {o["repair_id"]: o["customer_id"] for o in objects
                   if o["type"] == "repair.requested"}
    owners = [obj.get("customer_id") or customer_of.get(obj.get("repair_id", ""))
              for obj in objects]
    return Sample(objects, at, error_codes(objects, at, model.stock_outs), owners)


def percentile(values: list[timedelta], p: float) -> timedelta:
    ordered = sorted(values)
    return ordered[max(1, ceil(p * len(ordered))) - 1]


def month(instant: datetime) -> str:
    return instant.strftime("%Y-%m")


def earliest(sample: Sample, indexes: list[int]) -> int:
    """The touchpoint that occurred first, ties by arrival (contract 4.6)."""
    return min(indexes, key=lambda i: (sample.at[i], i))


# -- the horizon -----------------------------------------------------------------------------

def test_everything_occurs_before_the_horizon_and_the_last_day_is_its_eve(
        sample: Sample) -> None:
    horizon = SAMPLE.start + timedelta(days=SAMPLE.days)

    assert all(SAMPLE.start <= instant < horizon for instant in sample.at)
    assert max(sample.at).date() == (horizon - timedelta(days=1)).date()
    assert len({month(instant) for instant in sample.at}) == 12


def test_without_late_arrivals_every_line_arrives_in_business_time_order() -> None:
    stream = generate_with_labels(WorkloadOptions(customers=300, seed=3, late_rate=0.0))
    instants = [utc(json.loads(line)["occurred_at"]) for line, label in stream if label == "valid"]

    assert all(a <= b for a, b in pairwise(instants))


# -- cases and repairs (4.6) -----------------------------------------------------------------

def test_cases_take_minutes_to_weeks_some_are_reopened_and_some_never_resolved(
        sample: Sample) -> None:
    opened = {sample.objects[i]["case_id"]: i for i in sample.of("complaint.opened")}
    resolutions: dict[str, list[int]] = defaultdict(list)
    for i in sample.of("complaint.resolved"):
        resolutions[sample.objects[i]["case_id"]].append(i)
    waits = [sample.at[earliest(sample, resolutions[case])] - sample.at[i]
             for case, i in opened.items() if case in resolutions]
    unresolved = [i for case, i in opened.items() if case not in resolutions]
    reopened = {sample.objects[i]["case_id"] for i in sample.of("complaint.reopened")}

    assert min(waits) < HOUR and sum(w < HOUR for w in waits) >= 0.1 * len(waits)
    assert max(waits) > TWO_WEEKS
    assert percentile(waits, 0.9) > 2 * percentile(waits, 0.5)
    assert 0.02 * len(opened) <= len(unresolved) <= 0.2 * len(opened)
    assert len({month(sample.at[i]) for i in unresolved}) >= 6  # not only the last weeks
    assert 0.03 * len(opened) <= len(reopened) <= 0.3 * len(opened)


def test_repairs_are_fixed_within_the_hour_or_after_weeks_or_never(sample: Sample) -> None:
    requested = {sample.objects[i]["repair_id"]: i for i in sample.of("repair.requested")}
    completions: dict[str, list[int]] = defaultdict(list)
    for i in sample.of("repair.completed"):
        completions[sample.objects[i]["repair_id"]].append(i)

    def outcomes(repair: str) -> list[str]:
        return [sample.objects[i]["outcome"] for i in completions[repair]]

    completed = [repair for repair in requested if completions[repair]]
    first_time = [r for r in completed if outcomes(r)[0] == "fixed"
                  and sample.objects[earliest(sample, completions[r])]["outcome"] == "fixed"]
    fix_times = [
        min(sample.at[i] for i in completions[r] if sample.objects[i]["outcome"] == "fixed")
        - sample.at[requested[r]]
        for r in completed if "fixed" in outcomes(r)
    ]
    never = [r for r in requested if not completions[r]]

    assert 0.5 <= len(first_time) / len(completed) <= 0.85
    assert min(fix_times) < HOUR and max(fix_times) > TWO_WEEKS
    assert percentile(fix_times, 0.9) > 2 * percentile(fix_times, 0.5)
    assert len(never) >= 0.02 * len(requested)
    assert len({month(sample.at[requested[r]]) for r in never}) >= 6
    assert any(outcomes(r)[0] == "not_fixed" and "fixed" in outcomes(r) for r in completed)
    assert any(set(outcomes(r)) == {"not_fixed"} for r in completed)  # given up


def test_reservations_are_filled_and_stocked_out_over_the_months(sample: Sample) -> None:
    reservations: Counter[str] = Counter()
    stock_outs: Counter[str] = Counter()
    for i in sample.of("part.reserved"):
        reservations[month(sample.at[i])] += 1
        stock_outs[month(sample.at[i])] += sample.codes[i] == "stock_out"
    fill_rate = 1 - sum(stock_outs.values()) / sum(reservations.values())

    assert 0.7 <= fill_rate <= 0.97
    assert sum(0 < stock_outs[m] < reservations[m] for m in reservations) >= 10


# -- satisfaction (4.6) ----------------------------------------------------------------------

def ratings(sample: Sample) -> dict[str, list[int]]:
    """The satisfaction scores, split by an error on the customer's timeline before them."""
    first_error: dict[str, datetime] = {}
    for i, code in enumerate(sample.codes):
        owner = sample.owners[i]
        if code is not None and owner is not None:
            first_error[owner] = min(sample.at[i], first_error.get(owner, sample.at[i]))
    groups: dict[str, list[int]] = {"after_error": [], "no_error": []}
    for i in sample.of("complaint.resolved"):
        obj = sample.objects[i]
        if "satisfaction" in obj:
            erred = first_error.get(obj["customer_id"])
            after = erred is not None and erred <= sample.at[i]
            groups["after_error" if after else "no_error"].append(obj["satisfaction"])
    return groups


def test_customers_rate_lower_after_a_service_error(sample: Sample) -> None:
    groups = ratings(sample)
    mean = {group: sum(scores) / len(scores) for group, scores in groups.items()}
    resolved = len(sample.of("complaint.resolved"))
    rated = sum(len(scores) for scores in groups.values())

    assert len(groups["after_error"]) >= 200 and len(groups["no_error"]) >= 100
    assert mean["after_error"] < 2.8 and mean["no_error"] > 3.7
    assert all(set(scores) == {1, 2, 3, 4, 5} for scores in groups.values())
    assert 0.6 * resolved <= rated <= 0.9 * resolved  # sometimes no score


def test_some_errors_arrive_after_a_rating_they_came_before(sample: Sample) -> None:
    rated: dict[str, list[datetime]] = defaultdict(list)
    moved = 0
    for i, obj in enumerate(sample.objects):
        owner = sample.owners[i]
        if sample.codes[i] is not None and owner is not None:
            moved += sum(when >= sample.at[i] for when in rated[owner])
        if obj["type"] == "complaint.resolved" and "satisfaction" in obj:
            rated[obj["customer_id"]].append(sample.at[i])

    assert moved >= 5


# -- invoices (4.8) --------------------------------------------------------------------------

@dataclass
class Bill:
    issued: Decimal
    currency: str
    due: date
    amount: Decimal
    paid: Decimal = Decimal(0)
    payments: int = 0
    up: int = 0
    down: int = 0
    reminders: int = 0


def bills(sample: Sample) -> dict[str, Bill]:
    found: dict[str, Bill] = {}
    for i, obj in enumerate(sample.objects):
        type_ = obj["type"]
        if type_ == "invoice.issued":
            amount = Decimal(obj["amount"])
            found[obj["invoice_id"]] = Bill(amount, obj["currency"],
                                            date.fromisoformat(obj["due_date"]), amount)
        elif type_ == "invoice.paid":
            bill = found[obj["invoice_id"]]
            bill.paid += Decimal(obj["amount"])
            bill.payments += 1
        elif type_ == "invoice.corrected":
            bill = found[obj["invoice_id"]]
            delta = Decimal(obj["amount_delta"])
            bill.amount += delta
            bill.up += delta > 0
            bill.down += delta < 0
        elif type_ == "invoice.reminder_sent":
            bill = found[obj["invoice_id"]]
            bill.reminders += 1
            assert sample.at[i].date() > bill.due  # a reminder is for a late invoice
    return found


def test_invoices_are_unpaid_partly_paid_paid_overpaid_and_zero(sample: Sample) -> None:
    found = bills(sample).values()
    count = len(found)

    def share(test: Any) -> float:
        return sum(1 for bill in found if test(bill)) / count

    assert share(lambda b: b.issued == 0) >= 0.02
    assert share(lambda b: b.amount > 0 and b.payments == 0) >= 0.03
    assert share(lambda b: 0 < b.paid < b.amount) >= 0.01
    assert share(lambda b: b.paid == b.amount > 0) >= 0.6
    assert share(lambda b: b.paid > b.amount) >= 0.01
    assert share(lambda b: b.payments >= 2) >= 0.02
    assert share(lambda b: b.up > 0) >= 0.01 and share(lambda b: b.down > 0) >= 0.01
    assert share(lambda b: b.reminders > 0) >= 0.05
    assert share(lambda b: b.reminders >= 3) > 0


def test_at_the_horizon_some_invoices_are_overdue_some_open_in_two_currencies(
        sample: Sample) -> None:
    as_of_day = max(sample.at).astimezone(UTC).date()
    status: Counter[tuple[str, str]] = Counter()
    for bill in bills(sample).values():
        balance = bill.amount - bill.paid
        state = "paid" if balance <= 0 else "overdue" if bill.due < as_of_day else "open"
        status[state, bill.currency] += 1
    currencies = Counter(currency for _, currency in status.elements())

    assert {"EUR", "USD"} <= set(currencies)
    assert currencies["USD"] >= 0.08 * sum(currencies.values())
    for state in ("paid", "overdue", "open"):
        assert status[state, "EUR"] >= 5 and status[state, "USD"] >= 1, state
