"""The workload generator: deterministic, realistic, and its labels match the contract.

`ContractModel` below is a small, independent reference of the contract (sections 1 and 2):
it replays a labelled stream in arrival order and says what a correct engine must answer
for each line, so a generator bug shows up as a label mismatch.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

import pytest

from journey.infra.workload import (
    REJECT_REASONS,
    TYPES,
    WorkloadOptions,
    generate,
    generate_with_labels,
    write_workload,
)
from journey.infra.workload.journeys import Journeys

# -- section 1: schema ---------------------------------------------------------------------

TOUCHPOINT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ERROR_FLAG = re.compile(r"[a-z0-9_]{1,64}")
DECIMAL_TEXT = re.compile(r"-?\d+(\.\d{1,2})?")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
CHANNELS = {"web", "phone", "email", "chat", "store", "field", "system"}

Check = Callable[[Any], bool]


def text(limit: int) -> Check:
    return lambda v: isinstance(v, str) and 1 <= len(v) <= limit


def one_of(*values: str) -> Check:
    return lambda v: v in values


def integer(low: int | None = None, nonzero: bool = False) -> Check:
    def check(v: Any) -> bool:
        if not isinstance(v, int) or isinstance(v, bool):
            return False
        return (low is None or v >= low) and not (nonzero and v == 0)

    return check


def money(sign: str = "any") -> Check:
    def check(v: Any) -> bool:
        if isinstance(v, bool):
            return False
        if isinstance(v, str):
            if not DECIMAL_TEXT.fullmatch(v):
                return False
            v = Decimal(v)
        if isinstance(v, int):
            v = Decimal(v)
        if not isinstance(v, Decimal) or not v.is_finite():
            return False
        exponent = v.as_tuple().exponent
        assert isinstance(exponent, int)
        return exponent >= -2 and (sign == "any" or (v >= 0 if sign == ">=0" else v > 0))

    return check


def is_date(v: Any) -> bool:
    try:
        return isinstance(v, str) and len(v) == 10 and bool(datetime.strptime(v, "%Y-%m-%d"))
    except ValueError:
        return False


def items(with_price: bool) -> Check:
    def check(v: Any) -> bool:
        if not isinstance(v, list) or not 1 <= len(v) <= 500:
            return False
        spec = {"sku": ID, "qty": integer(1)}
        if with_price:
            spec["unit_price"] = money(">=0")
        return all(isinstance(x, dict) and fields_ok(x, spec, {}) for x in v)

    return check


def is_subject(v: Any) -> bool:
    spec = {"type": one_of("order", "invoice", "repair"), "id": ID}
    return isinstance(v, dict) and fields_ok(v, spec, {})


def fields_ok(obj: dict[str, Any], required: dict[str, Check], optional: dict[str, Check]) -> bool:
    if any(k not in obj or not check(obj[k]) for k, check in required.items()):
        return False
    if any(k in obj and not check(obj[k]) for k, check in optional.items()):
        return False
    return set(obj) <= set(required) | set(optional)


ID = text(128)
REASON = text(200)
PART = {"part_id": ID, "location": ID}
SPEC: dict[str, tuple[dict[str, Check], dict[str, Check]]] = {
    "purchase.placed": (
        {
            "order_id": ID,
            "lines": items(True),
            "currency": lambda v: isinstance(v, str) and bool(re.fullmatch("[A-Z]{3}", v)),
        },
        {},
    ),
    "purchase.delivered": ({"order_id": ID}, {}),
    "purchase.delivery_failed": ({"order_id": ID, "reason": REASON}, {}),
    "purchase.returned": ({"order_id": ID, "lines": items(False), "reason": REASON}, {}),
    "purchase.cancelled": ({"order_id": ID, "reason": REASON}, {}),
    "invoice.issued": (
        {
            "invoice_id": ID,
            "amount": money(">=0"),
            "currency": lambda v: isinstance(v, str) and bool(re.fullmatch("[A-Z]{3}", v)),
            "due_date": is_date,
        },
        {"order_id": ID},
    ),
    "invoice.paid": ({"invoice_id": ID, "amount": money(">0")}, {}),
    "invoice.reminder_sent": ({"invoice_id": ID}, {}),
    "invoice.corrected": (
        {
            "invoice_id": ID,
            "amount_delta": money(),
            "error_type": one_of(
                "wrong_amount",
                "duplicate",
                "wrong_customer",
                "missing_line",
                "tax",
                "pricing",
                "other",
            ),
        },
        {},
    ),
    "complaint.opened": (
        {
            "case_id": ID,
            "category": one_of(
                "billing", "delivery", "product", "repair", "parts", "service", "other"
            ),
        },
        {
            "subject": is_subject,
            "demand": one_of("value", "failure", "unknown"),
            "text": text(2000),
        },
    ),
    "complaint.contact_logged": ({"case_id": ID, "direction": one_of("inbound", "outbound")}, {}),
    "complaint.resolved": (
        {"case_id": ID, "resolution": REASON},
        {"satisfaction": lambda v: integer(1)(v) and v <= 5},
    ),
    "complaint.reopened": ({"case_id": ID, "reason": REASON}, {}),
    "complaint.closed": ({"case_id": ID}, {}),
    "repair.requested": (
        {"repair_id": ID, "serial": ID, "fault": REASON, "warranty": lambda v: isinstance(v, bool)},
        {"case_id": ID},
    ),
    "repair.completed": (
        {"repair_id": ID, "outcome": one_of("fixed", "not_fixed", "no_fault_found")},
        {},
    ),
    "repair.returned": ({"repair_id": ID}, {}),
    "part.received": ({**PART, "qty": integer(1)}, {"unit_cost": money(">=0")}),
    "part.reserved": ({**PART, "qty": integer(1), "repair_id": ID}, {}),
    "part.released": ({**PART, "qty": integer(1), "repair_id": ID}, {}),
    "part.issued": ({**PART, "qty": integer(1), "repair_id": ID}, {}),
    "part.returned": ({**PART, "qty": integer(1)}, {"repair_id": ID}),
    "part.adjusted": ({**PART, "qty": integer(nonzero=True), "reason": REASON}, {}),
    "part.transferred": ({**PART, "to_location": ID, "qty": integer(1)}, {}),
}


def is_timestamp(v: Any) -> bool:
    if not isinstance(v, str) or not TIMESTAMP.fullmatch(v):
        return False
    try:
        return datetime.fromisoformat(v).tzinfo is not None
    except ValueError:
        return False


def schema_ok(obj: dict[str, Any]) -> bool:
    type_ = obj["type"]
    envelope: dict[str, Check] = {
        "touchpoint_id": lambda v: isinstance(v, str) and bool(TOUCHPOINT_ID.fullmatch(v)),
        "type": one_of(type_),
        "occurred_at": is_timestamp,
    }
    if not type_.startswith("part."):
        envelope["customer_id"] = ID
    optional: dict[str, Check] = {
        "channel": lambda v: v in CHANNELS,
        "source": text(64),
        "error": lambda v: isinstance(v, str) and bool(ERROR_FLAG.fullmatch(v)),
    }
    required, extra = SPEC[type_]
    if not fields_ok(obj, {**envelope, **required}, {**optional, **extra}):
        return False
    return type_ != "part.transferred" or bool(obj["to_location"] != obj["location"])


# -- section 2: acceptance in arrival order ------------------------------------------------


class Reject(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Entity:
    customer: str
    state: str
    ordered: dict[str, int] = field(default_factory=dict)
    returned: dict[str, int] = field(default_factory=dict)


@dataclass
class Stock:
    on_hand: int = 0
    reserved: int = 0


@dataclass
class ContractModel:
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    entities: dict[tuple[str, str], Entity] = field(default_factory=dict)
    stock: dict[tuple[str, str], Stock] = field(default_factory=dict)
    reservations: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    stock_outs: set[str] = field(default_factory=set)  # touchpoint ids

    def decide(self, line: str) -> str:
        try:
            obj = json.loads(line, parse_float=Decimal)
        except ValueError:
            return "invalid_json"
        if not isinstance(obj, dict):
            return "invalid_json"
        if obj.get("type") not in SPEC:
            return "unknown_type"
        if not schema_ok(obj):
            return "invalid"
        earlier = self.accepted.get(obj["touchpoint_id"])
        if earlier is not None:
            return "duplicate" if earlier == obj else "conflicting_duplicate"
        try:
            getattr(self, obj["type"].replace(".", "_"))(obj)
        except Reject as reject:
            return reject.reason
        self.accepted[obj["touchpoint_id"]] = obj
        return "valid"

    # entities

    def create(self, obj: dict[str, Any], kind: str, key: str, state: str) -> Entity:
        if (kind, obj[key]) in self.entities:
            raise Reject("already_exists")
        return Entity(obj["customer_id"], state)

    def named(self, obj: dict[str, Any], kind: str, key: str) -> Entity:
        entity = self.entities.get((kind, obj[key]))
        if entity is None:
            raise Reject("unknown_entity")
        if "customer_id" in obj and entity.customer != obj["customer_id"]:
            raise Reject("customer_mismatch")
        return entity

    def step(self, obj: dict[str, Any], kind: str, key: str, moves: dict[str, str]) -> Entity:
        entity = self.named(obj, kind, key)
        if entity.state not in moves:
            raise Reject("invalid_transition")
        entity.state = moves[entity.state]
        return entity

    def purchase_placed(self, obj: dict[str, Any]) -> None:
        order = self.create(obj, "order", "order_id", "placed")
        for line in obj["lines"]:
            order.ordered[line["sku"]] = order.ordered.get(line["sku"], 0) + line["qty"]
        self.entities["order", obj["order_id"]] = order

    def purchase_delivered(self, obj: dict[str, Any]) -> None:
        self.step(obj, "order", "order_id", {"placed": "delivered", "failed": "delivered"})

    def purchase_delivery_failed(self, obj: dict[str, Any]) -> None:
        self.step(obj, "order", "order_id", {"placed": "failed", "failed": "failed"})

    def purchase_cancelled(self, obj: dict[str, Any]) -> None:
        self.step(obj, "order", "order_id", {"placed": "cancelled", "failed": "cancelled"})

    def purchase_returned(self, obj: dict[str, Any]) -> None:
        order = self.named(obj, "order", "order_id")
        if order.state != "delivered":
            raise Reject("invalid_transition")
        back = Counter[str]()
        for line in obj["lines"]:
            back[line["sku"]] += line["qty"]
        if any(order.returned.get(s, 0) + q > order.ordered.get(s, 0) for s, q in back.items()):
            raise Reject("invalid_quantity")
        for sku, qty in back.items():
            order.returned[sku] = order.returned.get(sku, 0) + qty

    def invoice_issued(self, obj: dict[str, Any]) -> None:
        invoice = self.create(obj, "invoice", "invoice_id", "issued")
        if "order_id" in obj:
            self.named(obj, "order", "order_id")
        self.entities["invoice", obj["invoice_id"]] = invoice

    def invoice_paid(self, obj: dict[str, Any]) -> None:
        self.named(obj, "invoice", "invoice_id")

    invoice_reminder_sent = invoice_paid
    invoice_corrected = invoice_paid

    def complaint_opened(self, obj: dict[str, Any]) -> None:
        case = self.create(obj, "case", "case_id", "open")
        if "subject" in obj:
            subject = obj["subject"]
            self.named(
                {"customer_id": obj["customer_id"], "id": subject["id"]}, subject["type"], "id"
            )
        self.entities["case", obj["case_id"]] = case

    def complaint_contact_logged(self, obj: dict[str, Any]) -> None:
        self.step(obj, "case", "case_id", {"open": "open"})

    def complaint_resolved(self, obj: dict[str, Any]) -> None:
        self.step(obj, "case", "case_id", {"open": "resolved"})

    def complaint_reopened(self, obj: dict[str, Any]) -> None:
        self.step(obj, "case", "case_id", {"resolved": "open"})

    def complaint_closed(self, obj: dict[str, Any]) -> None:
        self.step(obj, "case", "case_id", {"resolved": "closed"})

    def repair_requested(self, obj: dict[str, Any]) -> None:
        repair = self.create(obj, "repair", "repair_id", "open")
        if "case_id" in obj:
            self.named(obj, "case", "case_id")
        self.entities["repair", obj["repair_id"]] = repair

    def repair_completed(self, obj: dict[str, Any]) -> None:
        done = "open" if obj["outcome"] == "not_fixed" else "done"
        self.step(obj, "repair", "repair_id", {"open": done})

    def repair_returned(self, obj: dict[str, Any]) -> None:
        self.step(obj, "repair", "repair_id", {"done": "returned"})

    # stock (2.3); backorders do not decide acceptance, so they are not modelled

    def at(self, obj: dict[str, Any], location_key: str = "location") -> Stock:
        if "repair_id" in obj:
            self.named(obj, "repair", "repair_id")
        return self.stock.setdefault((obj["part_id"], obj[location_key]), Stock())

    def part_received(self, obj: dict[str, Any]) -> None:
        self.at(obj).on_hand += obj["qty"]

    part_returned = part_received

    def part_reserved(self, obj: dict[str, Any]) -> None:
        stock, qty = self.at(obj), obj["qty"]
        if qty <= stock.on_hand - stock.reserved:
            stock.reserved += qty
            self.reservations[obj["repair_id"], obj["part_id"], obj["location"]] += qty
        else:
            self.stock_outs.add(obj["touchpoint_id"])

    def part_released(self, obj: dict[str, Any]) -> None:
        stock, qty = self.at(obj), obj["qty"]
        key = (obj["repair_id"], obj["part_id"], obj["location"])
        if qty > self.reservations[key]:
            raise Reject("invalid_quantity")
        self.reservations[key] -= qty
        stock.reserved -= qty

    def part_issued(self, obj: dict[str, Any]) -> None:
        stock, qty = self.at(obj), obj["qty"]
        if qty > stock.on_hand:
            raise Reject("insufficient_stock")
        key = (obj["repair_id"], obj["part_id"], obj["location"])
        lowered = min(qty, self.reservations[key])
        self.reservations[key] -= lowered
        stock.reserved -= lowered
        stock.on_hand -= qty

    def part_adjusted(self, obj: dict[str, Any]) -> None:
        stock = self.at(obj)
        if stock.on_hand + obj["qty"] < 0:
            raise Reject("insufficient_stock")
        stock.on_hand += obj["qty"]

    def part_transferred(self, obj: dict[str, Any]) -> None:
        source, target = self.at(obj), self.at(obj, "to_location")
        if obj["qty"] > source.on_hand - source.reserved:
            raise Reject("insufficient_stock")
        source.on_hand -= obj["qty"]
        target.on_hand += obj["qty"]


def replay(stream: Iterable[tuple[str, str]]) -> tuple[ContractModel, list[tuple[str, str, str]]]:
    """Decide every line; return the model and the (line, label, decided) disagreements."""
    model = ContractModel()
    wrong = []
    for line, label in stream:
        decided = model.decide(line)
        if decided != label:
            wrong.append((line, label, decided))
    return model, wrong


def utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).astimezone(UTC)


# -- fixtures ------------------------------------------------------------------------------

DEFAULT_1000 = WorkloadOptions(customers=1000)
NOISY_1000 = WorkloadOptions(customers=1000, seed=7, error_rate=0.1, bad_rate=0.05, late_rate=0.05)


@pytest.fixture(scope="module")
def default_stream() -> list[tuple[str, str]]:
    return list(generate_with_labels(DEFAULT_1000))


@pytest.fixture(scope="module")
def noisy_stream() -> list[tuple[str, str]]:
    return list(generate_with_labels(NOISY_1000))


def valid_objects(stream: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [json.loads(line) for line, label in stream if label == "valid"]


# -- tests ---------------------------------------------------------------------------------


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    options = WorkloadOptions(customers=150, bad_rate=0.05, late_rate=0.05)

    first = list(generate(options))
    second = list(generate(options))
    other = list(generate(WorkloadOptions(customers=150, seed=43, bad_rate=0.05, late_rate=0.05)))

    assert first == second
    assert first != other


def test_volume_is_about_twenty_touchpoints_per_customer(
    default_stream: list[tuple[str, str]],
) -> None:
    per_customer = len(default_stream) / DEFAULT_1000.customers

    assert 17 <= per_customer <= 23


def test_all_24_types_appear_for_1000_customers(default_stream: list[tuple[str, str]]) -> None:
    seen = Counter(obj["type"] for obj in valid_objects(default_stream))

    assert set(TYPES) == set(seen)
    assert len(TYPES) == 24


def test_valid_lines_are_objects_of_known_types_with_unique_touchpoint_ids(
    default_stream: list[tuple[str, str]],
) -> None:
    objects = valid_objects(default_stream)
    ids = [obj["touchpoint_id"] for obj in objects]

    assert all(obj["type"] in TYPES for obj in objects)
    assert len(ids) == len(set(ids))
    assert all("\n" not in line and line.strip() for line, _ in default_stream)


def test_every_line_gets_its_label_from_the_reference_model(
    default_stream: list[tuple[str, str]],
) -> None:
    model, wrong = replay(default_stream)

    assert wrong[:5] == []
    assert model.stock_outs


def test_noisy_workload_has_every_reject_reason_and_the_model_agrees(
    noisy_stream: list[tuple[str, str]],
) -> None:
    labels = Counter(label for _, label in noisy_stream)

    _, wrong = replay(noisy_stream)

    assert wrong[:5] == []
    assert set(REJECT_REASONS) | {"valid", "duplicate"} == set(labels)
    assert all(labels[reason] >= 5 for reason in REJECT_REASONS)
    rejected = sum(labels[reason] for reason in REJECT_REASONS)
    assert 0.03 <= rejected / len(noisy_stream) <= 0.07


def test_some_touchpoints_arrive_after_later_ones(noisy_stream: list[tuple[str, str]]) -> None:
    latest = datetime.min.replace(tzinfo=UTC)
    late = 0
    objects = valid_objects(noisy_stream)
    for obj in objects:
        at = utc(obj["occurred_at"])
        late += at < latest
        latest = max(latest, at)

    assert 0.025 <= late / len(objects) <= 0.075


def test_a_fixed_completion_can_arrive_after_a_repeat_request_for_its_serial(
    noisy_stream: list[tuple[str, str]],
) -> None:
    serial_of: dict[str, str] = {}
    requests: dict[str, list[datetime]] = {}
    found = 0
    for obj in valid_objects(noisy_stream):
        if obj["type"] == "repair.requested":
            serial_of[obj["repair_id"]] = obj["serial"]
            requests.setdefault(obj["serial"], []).append(utc(obj["occurred_at"]))
        elif obj["type"] == "repair.completed" and obj["outcome"] == "fixed":
            done = utc(obj["occurred_at"])
            found += any(
                done < asked <= done + timedelta(days=30)
                for asked in requests[serial_of[obj["repair_id"]]]
            )

    assert found > 0


def test_timestamps_use_several_offsets(default_stream: list[tuple[str, str]]) -> None:
    stamps = [obj["occurred_at"] for obj in valid_objects(default_stream)]

    assert {"Z", "+01:00", "-05:00"} == {s[19:] for s in stamps}


def test_write_workload_writes_one_line_per_touchpoint() -> None:
    options = WorkloadOptions(customers=20)
    out = io.StringIO()

    count = write_workload(options, out)

    assert list(generate(options)) == out.getvalue().splitlines()
    assert count == out.getvalue().count("\n")


def test_generation_streams_without_building_the_whole_workload_first() -> None:
    options = WorkloadOptions(customers=2000)  # about 40,000 lines in all
    simulation = Journeys(options)  # what generate_with_labels runs

    head = list(islice(simulation.run(), 2000))

    assert len(head) == 2000
    # Those lines come from the first few hundred customers; the others have not even
    # arrived, so nothing of their journeys has been built yet.
    assert simulation.arrived < options.customers // 4


def test_no_customers_gives_an_empty_workload() -> None:
    assert list(generate(WorkloadOptions(customers=0))) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"customers": -1},
        {"customers": 1, "days": 0},
        {"customers": 1, "bad_rate": 0.7},
        {"customers": 1, "start": datetime(2026, 1, 1)},
    ],
)
def test_impossible_options_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WorkloadOptions(**bad)
