"""Deterministic workload generator: realistic customer journeys as touchpoint JSON lines.

The generator is a discrete-event simulation. Customers arrive one after another over
`days`; each brings a few activities (orders, repairs, enquiries) that run as chains of
scheduled steps on one heap ordered by business time. A step that runs emits its
touchpoint at once, so the output is streamed in `occurred_at` order and memory holds only
the customers that are still active, a bounded stock model and a few bounded ring buffers.

What the engine would know is tracked in *arrival* order (contract 2.1-2.3):

- every decision that depends on stock is taken when the line is written, against an exact
  model of `on_hand`, `reserved` and per-repair reservations and backorders;
- a *late* touchpoint is held back on the heap and written after later ones. Only
  touchpoints that nothing else needs can be held: while a touchpoint of an entity is held,
  the entity is invisible (its next chain steps wait until it has been written, and no
  complaint, repair or bad line refers to it), and held stock movements only ever add stock,
  which is counted when they are written.

Bad lines are drawn from the same state, so each carries the first reason of contract 2.1
that a correct engine gives; `generate_with_labels` yields that label next to each line.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Generic, TextIO, TypeVar

from journey.domain.errors import REASONS
from journey.schemas.touchpoint import TOUCHPOINT_TYPES

__all__ = [
    "DUPLICATE",
    "REJECT_REASONS",
    "TYPES",
    "VALID",
    "WorkloadOptions",
    "generate",
    "generate_with_labels",
    "write_workload",
]

VALID = "valid"
DUPLICATE = "duplicate"
#: Every reason a labelled bad line may carry: the contract's, in precedence order.
REJECT_REASONS = REASONS
#: The 24 touchpoint types of contract 1.2.
TYPES = tuple(TOUCHPOINT_TYPES)


@dataclass(frozen=True)
class WorkloadOptions:
    """What to generate; the same options always give the same bytes.

    Customers arrive evenly over `days` from `start`; the tails of their journeys (payments,
    reminders, late repairs) run on for up to a few months after that. `error_rate` scales
    every service-error branch, so more errors also bring more failure demand (complaints,
    repeat visits) and thus more lines per customer.
    """

    customers: int
    seed: int = 42
    error_rate: float = 0.05
    bad_rate: float = 0.01
    late_rate: float = 0.02
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    days: int = 365

    def __post_init__(self) -> None:
        if self.customers < 0:
            raise ValueError("customers must be >= 0")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        for name in ("error_rate", "bad_rate", "late_rate"):
            if not 0.0 <= getattr(self, name) < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5)")
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")


def generate_with_labels(options: WorkloadOptions) -> Iterator[tuple[str, str]]:
    """Yield (line, label): label is "valid", "duplicate" or the contract's reject reason."""
    return _Journeys(options).run()


def generate(options: WorkloadOptions) -> Iterator[str]:
    """Yield the workload's JSON lines, without trailing newlines."""
    return (line for line, _ in generate_with_labels(options))


def write_workload(options: WorkloadOptions, out: TextIO) -> int:
    """Write the workload as JSON Lines to `out`; return the number of lines."""
    count = 0
    for line in generate(options):
        out.write(line)
        out.write("\n")
        count += 1
    return count


MIN = 60
HOUR = 3600
DAY = 86400
LIFE = 90 * DAY  # how long after arrival a customer starts new activities
REPEAT_WINDOW = 30 * DAY

_ENCODE = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), check_circular=False, allow_nan=False
).encode

LOCATIONS = ("WH1", "WH2", "VAN1", "VAN2", "VAN3")
_WAREHOUSES = (0, 1)
_LOCATION_SHARE = (0.35, 0.20, 0.15, 0.15, 0.15)  # where repairs happen
_LOCATION_CUM = tuple(sum(_LOCATION_SHARE[: i + 1]) for i in range(len(_LOCATION_SHARE)))
_CURRENCIES = ("EUR",) * 19 + ("CHF", "GBP", "USD")
_UPSTREAM_ERRORS = (
    "sync_timeout",
    "address_invalid",
    "payment_gateway_error",
    "label_print_failed",
    "duplicate_booking",
    "sensor_fault",
)
_ERROR_TYPES = (
    "wrong_amount",
    "duplicate",
    "wrong_customer",
    "missing_line",
    "tax",
    "pricing",
    "other",
)
_DELIVERY_FAILURES = (
    "recipient not at home",
    "address not found",
    "parcel damaged in transit",
    "depot backlog",
    "Zustellung nicht möglich",
)
_CANCEL_REASONS = (
    "customer changed mind",
    "found cheaper offer",
    "item out of stock",
    "payment not received",
)
_RETURN_REASONS = (
    "does not fit",
    "defective on arrival",
    "wrong colour",
    "not as described",
    "no longer needed",
)
_FAULTS = (
    "does not power on",
    "display cracked",
    "battery drains quickly",
    "no network",
    "overheats",
    "loud fan noise",
    "water damage",
    "Ladebuchse locker",
    "keyboard keys stuck",
    "camera blurry",
)
_RESOLUTIONS = (
    "explained invoice",
    "refund issued",
    "replacement sent",
    "repair arranged",
    "goodwill voucher",
    "no action needed",
    "delivery rebooked",
)
_REOPEN_REASONS = (
    "problem persists",
    "refund not received",
    "customer disagrees",
    "replacement also faulty",
)
_ADJUST_REASONS = ("cycle_count", "damaged", "found", "shrinkage")
_CATEGORY_TEXT = {
    "billing": ("I was charged twice.", "The invoice amount is wrong.", "Where is my refund?"),
    "delivery": (
        "My parcel did not arrive.",
        "The delivery was late again.",
        "Paket wurde beim Nachbarn abgegeben, der ist verreist.",
    ),
    "product": (
        "The device stopped working.",
        "Colour differs from the photo.",
        "Is this model compatible with my charger?",
    ),
    "repair": ("The repair takes too long.", "Same fault as before.", "When will I get it back?"),
    "parts": ("The technician had no spare part.", "Part still not available?"),
    "service": (
        "How do I change my address?",
        "Can I extend the warranty?",
        "I'd like to give feedback on the store.",
    ),
    "other": ("Please call me back.", "Question about my account."),
}
_INQUIRY_CATEGORIES = ("service", "product", "other", "billing")

T = TypeVar("T")


class _Weighted(Generic[T]):
    """A fixed discrete distribution, drawn with one `random()` and a bisection."""

    __slots__ = ("cum", "values")

    def __init__(self, weights: dict[T, float]) -> None:
        self.values = tuple(weights)
        total, cum = 0.0, []
        for w in weights.values():
            total += w
            cum.append(total)
        self.cum = [c / total for c in cum]

    def draw(self, rng: random.Random) -> T:
        return self.values[bisect_right(self.cum, rng.random())]


_ORDERS_PER_CUSTOMER = _Weighted({1: 38, 2: 34, 3: 19, 4: 9})
_REPAIRS_PER_CUSTOMER = _Weighted({0: 34, 1: 42, 2: 18, 3: 6})
_LINES_PER_ORDER = _Weighted({1: 40, 2: 25, 3: 15, 4: 12, 5: 8})
_QTY = _Weighted({1: 80, 2: 15, 3: 5})
_SALES_CHANNEL = _Weighted({"web": 60, "store": 25, "phone": 15})
_INQUIRY_DEMAND: _Weighted[str | None] = _Weighted(
    {"value": 50, None: 30, "unknown": 15, "failure": 5}
)
_COMPLAINT_DEMAND: _Weighted[str | None] = _Weighted(
    {None: 40, "unknown": 25, "failure": 30, "value": 5}
)
_CONTACTS = _Weighted({0: 30, 1: 35, 2: 25, 3: 10})
_CASE_CHANNEL = _Weighted({"phone": 35, "email": 25, "chat": 20, "web": 15, "store": 5})
_PARTS_PER_REPAIR = _Weighted({0: 25, 1: 50, 2: 20, 3: 5})

_Step = Callable[[int, Any], None]
_Action = Callable[["_Repair", int, "_Stock | None", int], None]


class _Customer:
    __slots__ = (
        "cases",
        "currency",
        "fixed_at",
        "id",
        "in_repair",
        "invoices",
        "orders",
        "repairs",
        "serials",
    )

    def __init__(self, cid: str, currency: str, serials: list[str]) -> None:
        self.id = cid
        self.currency = currency
        self.serials = serials
        self.orders: list[_Order] = []
        self.invoices: list[_Invoice] = []
        self.repairs: list[_Repair] = []
        self.cases: list[_Case] = []
        self.in_repair: set[str] = set()  # serials
        self.fixed_at: dict[str, int] = {}  # serial -> last `fixed` completion


class _Entity:
    """Something a lifecycle touchpoint names; invisible while one of its lines is held."""

    __slots__ = ("customer", "held_until", "id")
    kind = ""

    def __init__(self, eid: str, customer: _Customer) -> None:
        self.id = eid
        self.customer = customer
        self.held_until = 0


class _Order(_Entity):
    __slots__ = ("attempts", "lines", "returned", "state", "total")
    kind = "order"

    def __init__(self, eid: str, customer: _Customer, lines: list[tuple[str, int, int]]) -> None:
        super().__init__(eid, customer)
        self.lines = lines  # (sku, qty, unit price in cents)
        self.total = sum(qty * cents for _, qty, cents in lines)
        self.returned: dict[str, int] = {}
        self.state = "placed"  # placed | failed | delivered | cancelled
        self.attempts = 0


class _Invoice(_Entity):
    __slots__ = ("amount", "due", "paid", "reminders", "split")
    kind = "invoice"

    def __init__(self, eid: str, customer: _Customer, amount: int, due: int) -> None:
        super().__init__(eid, customer)
        self.amount = amount
        self.due = due
        self.paid = 0
        self.reminders = 0
        self.split = False


class _Case(_Entity):
    __slots__ = ("contacts_left", "next", "reopens", "state", "stuck", "unhappy")
    kind = "case"

    def __init__(self, eid: str, customer: _Customer) -> None:
        super().__init__(eid, customer)
        self.state = "open"  # open | resolved | closed
        self.contacts_left = 0
        self.next = ""
        self.reopens = 0
        self.stuck = False
        self.unhappy = False


class _Stock:
    """Contract 2.3 state of one (part, location), plus the replenishment policy."""

    __slots__ = (
        "backordered",
        "held_until",
        "location",
        "on_hand",
        "part",
        "pending",
        "reorder_point",
        "reserved",
        "unit_cost",
        "up_to",
    )

    def __init__(self, part: str, location: int, unit_cost: int, rop: int, up_to: int) -> None:
        self.part = part
        self.location = location
        self.unit_cost = unit_cost
        self.reorder_point = rop
        self.up_to = up_to
        self.on_hand = 0
        self.reserved = 0
        self.backordered = 0
        self.pending = False
        self.held_until = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class _Repair(_Entity):
    __slots__ = (
        "backorders",
        "cost",
        "issued",
        "location",
        "repeat",
        "reservations",
        "rounds",
        "serial",
        "state",
        "todo",
        "wait_until",
        "warranty",
    )
    kind = "repair"

    def __init__(
        self, eid: str, customer: _Customer, serial: str, location: int, warranty: bool
    ) -> None:
        super().__init__(eid, customer)
        self.serial = serial
        self.location = location
        self.warranty = warranty
        self.state = "open"  # open | done | returned
        self.rounds = 0
        self.todo: deque[tuple[str, _Stock | None, int]] = deque()
        self.reservations: dict[_Stock, int] = {}
        self.backorders: dict[_Stock, int] = {}
        self.issued: dict[_Stock, int] = {}
        self.wait_until = 0
        self.cost = 0
        self.repeat = False  # came back within 30 days of a `fixed`; does not come back again


class _Journeys:
    """The simulation: one heap of scheduled steps, emitting lines as it goes."""

    def __init__(self, options: WorkloadOptions) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.e = options.error_rate
        self.span = options.days * DAY
        start = options.start.astimezone(UTC)
        self.base_date = start.date()
        self.base_sec = start.hour * HOUR + start.minute * MIN + start.second
        self.day_text: dict[int, str] = {}
        self.heap: list[tuple[int, int, _Step, Any]] = []
        self.seq = 0
        self.out: list[tuple[str, str]] = []
        self.counters: dict[str, int] = {}
        self.arrived = 0
        self.touchpoints = 0
        self.now = 0
        self.valid_count = 0
        self.late_count = 0
        self.flag_rate = options.error_rate * 0.1
        self.reject_p = options.bad_rate / (1.0 - options.bad_rate)
        self.duplicate_p = options.bad_rate * 0.25
        self.recent_lines: deque[str] = deque(maxlen=512)
        self.pool: deque[_Entity] = deque(maxlen=256)
        self.recent_customers: deque[_Customer] = deque(maxlen=64)
        self._build_catalogues()
        self.saboteur = _Saboteur(self)
        self.actions: dict[str, _Action] = {
            "reserve": self._reserve_part,
            "issue": self._issue_part,
            "release": self._release_part,
            "complete": self._complete_repair,
            "return_part": self._return_part,
            "return_device": self._return_device,
        }

    # -- catalogues ---------------------------------------------------------------------

    def _build_catalogues(self) -> None:
        rng = self.rng
        self.skus = [(f"SKU-{10000 + i}", self._price()) for i in range(400)]
        customers = self.options.customers
        n_parts = min(300, max(20, customers // 10))
        weights = [1.0 / (rank + 1) ** 1.1 for rank in range(n_parts)]
        total = sum(weights)
        self.part_cum: list[float] = []
        acc = 0.0
        for w in weights:
            acc += w / total
            self.part_cum.append(acc)
        self.part_cum[-1] = 1.0
        # expected part units asked per day and location, from the journey mix below
        units_per_day = 1.1 * customers / max(self.options.days, 30)
        self.stock: list[list[_Stock]] = []
        for i in range(n_parts):
            cost = int(math.exp(rng.uniform(math.log(50), math.log(40000))))
            row = []
            for loc, share in enumerate(_LOCATION_SHARE):
                demand = units_per_day * share * weights[i] / total
                policy = self._policy(loc, demand, common=i < 0.4 * n_parts)
                row.append(_Stock(f"P-{1000 + i}", loc, cost, *policy))
            self.stock.append(row)

    @staticmethod
    def _policy(loc: int, demand: float, common: bool) -> tuple[int, int]:
        """Reorder point and order-up-to level for a daily demand."""
        if loc in _WAREHOUSES:
            rop = math.ceil(demand * 5) + 1
            return rop, rop + math.ceil(demand * 25) + 1
        if not common and demand * 180 < 1:  # rarely asked for: vans do not carry it
            return 0, 0
        rop = math.ceil(demand * 3)
        return rop, rop + max(1, math.ceil(demand * 10))

    def _price(self) -> int:
        rng = self.rng
        if rng.random() < 0.02:
            return 0  # free accessory
        cents = int(math.exp(rng.uniform(math.log(400), math.log(150000))))
        return cents - cents % 100 + 99

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> Iterator[tuple[str, str]]:
        if self.options.customers == 0:
            return
        self._open_stock()
        self._at(self._arrival_time(0), self._arrive, None)
        processes: tuple[tuple[_Step, float], ...] = (
            (self._cycle_count, 0.12),
            (self._rebalance, 0.04),
            (self._loose_return, 0.03),
        )
        for process, per_customer in processes:
            self._at(self._process_gap(per_customer), process, per_customer)
        heap, out, pop = self.heap, self.out, heapq.heappop
        while heap:
            t, _, step, arg = pop(heap)
            self.now = t
            step(t, arg)
            if out:
                yield from out
                out.clear()

    def _at(self, t: int, step: _Step, arg: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, step, arg))

    def _blocked(self, t: int, entity: _Entity, step: _Step) -> bool:
        """Wait while a line of `entity` is held back, so nothing overtakes it."""
        if entity.held_until:
            self._at(max(t, entity.held_until) + self._between(MIN, HOUR), step, entity)
            return True
        return False

    def _between(self, low: int, high: int) -> int:
        return low + int(self.rng.random() * (high - low))

    def _next_id(self, prefix: str, width: int = 7) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}-{n:0{width}d}"

    def _next_tp(self) -> str:
        self.touchpoints += 1
        return f"tp-{self.touchpoints:09d}"

    # -- time and money -----------------------------------------------------------------

    def _wall(self, t: int) -> str:
        day, sec = divmod(self.base_sec + t, DAY)
        text = self.day_text.get(day)
        if text is None:
            text = self.day_text[day] = (self.base_date + timedelta(days=day)).isoformat()
        h, rest = divmod(sec, HOUR)
        m, s = divmod(rest, MIN)
        return f"{text}T{h:02d}:{m:02d}:{s:02d}"

    def _stamp(self, t: int) -> str:
        """RFC 3339, mostly in UTC, sometimes the same instant with another offset."""
        r = self.rng.random()
        if r < 0.86:
            return self._wall(t) + "Z"
        if r < 0.95:
            return self._wall(t + HOUR) + "+01:00"
        return self._wall(t - 5 * HOUR) + "-05:00"

    def _date(self, t: int) -> str:
        return self._wall(t)[:10]

    def _money(self, cents: int) -> float | str:
        """A JSON number or a decimal string with two decimals (never a computed float)."""
        if self.rng.random() < 0.7:
            return cents / 100
        sign = "-" if cents < 0 else ""
        whole, frac = divmod(abs(cents), 100)
        return f"{sign}{whole}.{frac:02d}"

    # -- emitting -----------------------------------------------------------------------

    def _send(
        self,
        t: int,
        type_: str,
        customer: _Customer | None,
        channel: str,
        source: str,
        fields: dict[str, Any],
        entity: _Entity | _Stock | None = None,
        arrive: Callable[[], None] | None = None,
        hold: int = 0,
    ) -> None:
        """Emit one valid touchpoint, or hold it back (late) when `entity` is given."""
        rng = self.rng
        obj: dict[str, Any] = {
            "touchpoint_id": self._next_tp(),
            "type": type_,
            "occurred_at": self._stamp(t),
        }
        if customer is not None:
            obj["customer_id"] = customer.id
        if rng.random() < 0.92:
            obj["channel"] = channel
        if rng.random() < 0.95:
            obj["source"] = source
        if rng.random() < self.flag_rate:
            obj["error"] = rng.choice(_UPSTREAM_ERRORS)
        obj.update(fields)
        line = _ENCODE(obj)
        if entity is not None and (hold or self._wants_late()):
            delay = hold or int(10 * MIN * 2 ** (rng.random() * 9))
            entity.held_until = t + delay
            self.late_count += 1
            self._at(t + delay, self._release, (line, entity, arrive))
            return
        if arrive is not None:
            arrive()
        self._emit(line)

    def _wants_late(self) -> bool:
        quota = self.options.late_rate * (self.valid_count + 1)
        return self.late_count < quota and self.rng.random() < 0.5

    def _release(
        self, _t: int, held: tuple[str, _Entity | _Stock, Callable[[], None] | None]
    ) -> None:
        line, entity, arrive = held
        entity.held_until = 0
        if arrive is not None:
            arrive()
        self._emit(line)

    def _emit(self, line: str) -> None:
        self.out.append((line, VALID))
        self.recent_lines.append(line)
        self.valid_count += 1
        rng = self.rng
        if rng.random() < self.reject_p:
            self.out.append(self.saboteur.line())
        if rng.random() < self.duplicate_p:
            self.out.append((rng.choice(self.recent_lines), DUPLICATE))

    def _visible(self, entities: list[Any]) -> list[Any]:
        return [e for e in entities if not e.held_until]

    # -- customers ----------------------------------------------------------------------

    def _arrival_time(self, i: int) -> int:
        return int((i + self.rng.random()) * self.span / self.options.customers)

    def _arrive(self, t: int, _: Any) -> None:
        rng = self.rng
        n = self.arrived = self.arrived + 1
        devices = 2 if rng.random() < 0.35 else 1
        serials = [f"SN{n:07d}{k}{int(rng.random() * 4096):03X}" for k in range(devices)]
        customer = _Customer(f"CUST-{n:07d}", rng.choice(_CURRENCIES), serials)
        self.recent_customers.append(customer)
        if n < self.options.customers:
            self._at(max(t, self._arrival_time(n)), self._arrive, None)
        life = max(DAY, min(LIFE, self.span - t))
        orders = _ORDERS_PER_CUSTOMER.draw(rng)
        for k in range(orders):
            self._at(t if k == 0 else t + self._between(HOUR, life), self._place_order, customer)
        for _ in range(_REPAIRS_PER_CUSTOMER.draw(rng)):
            self._at(t + self._between(HOUR, life), self._start_repair, customer)
        if rng.random() < 0.35:
            self._at(t + self._between(HOUR, life), self._inquire, customer)

    # -- orders -------------------------------------------------------------------------

    def _place_order(self, t: int, customer: _Customer) -> None:
        rng = self.rng
        picks = rng.sample(self.skus, _LINES_PER_ORDER.draw(rng))
        lines = [(sku, _QTY.draw(rng), cents) for sku, cents in picks]
        if not any(cents for _, _, cents in lines):
            lines[0] = (lines[0][0], lines[0][1], 999)
        order = _Order(self._next_id("ORD"), customer, lines)
        customer.orders.append(order)
        self.pool.append(order)
        channel = _SALES_CHANNEL.draw(rng)
        source = {"web": "webshop", "store": "pos", "phone": "sales-desk"}[channel]
        self._send(
            t,
            "purchase.placed",
            customer,
            channel,
            source,
            {
                "order_id": order.id,
                "lines": [{"sku": s, "qty": q, "unit_price": self._money(c)} for s, q, c in lines],
                "currency": customer.currency,
            },
        )
        if rng.random() < 0.03:
            self._at(t + self._between(2 * HOUR, 2 * DAY), self._cancel_order, order)
        else:
            self._at(t + self._between(DAY, 4 * DAY), self._deliver_order, order)

    def _deliver_order(self, t: int, order: _Order) -> None:
        if self._blocked(t, order, self._deliver_order) or order.state == "cancelled":
            return
        rng = self.rng
        carrier = rng.choice(("carrier-dhl", "carrier-ups", "carrier-dpd"))
        if order.attempts < 3 and rng.random() < 2 * self.e:
            order.attempts += 1
            order.state = "failed"
            self._send(
                t,
                "purchase.delivery_failed",
                order.customer,
                "system",
                carrier,
                {"order_id": order.id, "reason": rng.choice(_DELIVERY_FAILURES)},
                order,
            )
            if rng.random() < 0.5:
                self._at(t + self._between(2 * HOUR, 2 * DAY), self._complain_about, order)
            follow = (
                self._cancel_order
                if order.attempts >= 2 and rng.random() < 0.5
                else self._deliver_order
            )
            self._at(t + self._between(DAY, 3 * DAY), follow, order)
            return
        order.state = "delivered"
        self._send(
            t,
            "purchase.delivered",
            order.customer,
            "system",
            carrier,
            {"order_id": order.id},
            order,
        )
        self._at(t + self._between(HOUR, DAY), self._issue_order_invoice, order)
        if rng.random() < 0.12:
            self._at(t + self._between(3 * DAY, 20 * DAY), self._return_order, order)

    def _cancel_order(self, t: int, order: _Order) -> None:
        if self._blocked(t, order, self._cancel_order) or order.state not in ("placed", "failed"):
            return
        order.state = "cancelled"
        reason = "undeliverable" if order.attempts else self.rng.choice(_CANCEL_REASONS)
        self._send(
            t,
            "purchase.cancelled",
            order.customer,
            "web",
            "webshop",
            {"order_id": order.id, "reason": reason},
            order,
        )

    def _return_order(self, t: int, order: _Order) -> None:
        if self._blocked(t, order, self._return_order):
            return
        rng = self.rng
        open_lines = [(sku, qty - order.returned.get(sku, 0)) for sku, qty, _ in order.lines]
        open_lines = [(sku, left) for sku, left in open_lines if left > 0]
        if not open_lines:
            return
        picked = rng.sample(open_lines, 1 + int(rng.random() * len(open_lines) * 0.6))
        back = [(sku, 1 + int(rng.random() * left)) for sku, left in picked]
        for sku, qty in back:
            order.returned[sku] = order.returned.get(sku, 0) + qty
        self._send(
            t,
            "purchase.returned",
            order.customer,
            rng.choice(("web", "store")),
            "returns-portal",
            {
                "order_id": order.id,
                "lines": [{"sku": s, "qty": q} for s, q in back],
                "reason": rng.choice(_RETURN_REASONS),
            },
            order,
        )
        if rng.random() < 0.25:
            self._at(t + self._between(2 * DAY, 10 * DAY), self._return_order, order)

    # -- invoices -----------------------------------------------------------------------

    def _issue_order_invoice(self, t: int, order: _Order) -> None:
        if not self._blocked(t, order, self._issue_order_invoice):
            self._issue_invoice(t, order.customer, order.total, order)

    def _issue_repair_invoice(self, t: int, repair: _Repair) -> None:
        if not self._blocked(t, repair, self._issue_repair_invoice):
            self._issue_invoice(t, repair.customer, repair.cost, None)

    def _issue_invoice(self, t: int, customer: _Customer, cents: int, order: _Order | None) -> None:
        rng = self.rng
        due = t + rng.choice((14, 14, 21, 30)) * DAY
        invoice = _Invoice(self._next_id("INV"), customer, cents, due)
        customer.invoices.append(invoice)
        self.pool.append(invoice)
        fields: dict[str, Any] = {"invoice_id": invoice.id}
        if order is not None:
            fields["order_id"] = order.id
        fields.update(
            amount=self._money(cents), currency=customer.currency, due_date=self._date(due)
        )
        self._send(t, "invoice.issued", customer, "email", "billing", fields)
        if rng.random() < 2 * self.e:
            self._at(t + self._between(DAY, 10 * DAY), self._correct_invoice, invoice)
        r = rng.random()
        if r < 0.78:
            invoice.split = rng.random() < 0.1
            self._at(t + self._between(DAY, due - t), self._pay_invoice, invoice)
        elif r < 0.97:
            self._at(due + self._between(DAY, 3 * DAY), self._remind_invoice, invoice)

    def _pay_invoice(self, t: int, invoice: _Invoice) -> None:
        if self._blocked(t, invoice, self._pay_invoice):
            return
        balance = invoice.amount - invoice.paid
        if balance <= 0:
            return
        amount = balance
        if invoice.split and invoice.paid == 0 and balance > 1:
            amount = balance // 2
            self._at(t + self._between(7 * DAY, 20 * DAY), self._pay_invoice, invoice)
        invoice.paid += amount
        self._send(
            t,
            "invoice.paid",
            invoice.customer,
            "system",
            "payments",
            {"invoice_id": invoice.id, "amount": self._money(amount)},
            invoice,
        )

    def _remind_invoice(self, t: int, invoice: _Invoice) -> None:
        if self._blocked(t, invoice, self._remind_invoice):
            return
        invoice.reminders += 1
        self._send(
            t,
            "invoice.reminder_sent",
            invoice.customer,
            "email",
            "dunning",
            {"invoice_id": invoice.id},
            invoice,
        )
        if self.rng.random() < 0.7:
            self._at(t + self._between(2 * DAY, 10 * DAY), self._pay_invoice, invoice)
        elif invoice.reminders < 3:
            self._at(t + 14 * DAY, self._remind_invoice, invoice)

    def _correct_invoice(self, t: int, invoice: _Invoice) -> None:
        if self._blocked(t, invoice, self._correct_invoice):
            return
        rng = self.rng
        error_type = rng.choice(_ERROR_TYPES)
        delta = self._correction(error_type, invoice.amount)
        invoice.amount += delta
        self._send(
            t,
            "invoice.corrected",
            invoice.customer,
            "system",
            "billing",
            {
                "invoice_id": invoice.id,
                "error_type": error_type,
                "amount_delta": self._money(delta),
            },
            invoice,
        )
        if rng.random() < 0.5:
            self._at(t + self._between(2 * HOUR, 3 * DAY), self._complain_about, invoice)

    def _correction(self, error_type: str, amount: int) -> int:
        rng = self.rng
        if error_type in ("duplicate", "wrong_customer") and amount > 0:
            return -amount
        if error_type == "missing_line":
            return self._between(500, 10000)
        if error_type == "tax":
            delta = amount * self._between(3, 8) // 100
        elif error_type == "pricing":
            delta = -(amount * self._between(2, 15) // 100)
        elif amount == 0:
            delta = self._between(100, 5000)
        else:
            delta = amount * self._between(5, 30) // 100
        if amount > 0 and error_type != "pricing" and rng.random() < 0.5:
            delta = -delta  # never below zero: at most 30 % off
        return delta or 100

    # -- complaints ---------------------------------------------------------------------

    def _inquire(self, t: int, customer: _Customer) -> None:
        rng = self.rng
        subject: _Entity | None = None
        if rng.random() < 0.5:
            known = self._visible([*customer.orders, *customer.invoices, *customer.repairs])
            subject = rng.choice(known) if known else None
        category = self._category(subject) if subject else rng.choice(_INQUIRY_CATEGORIES)
        demand = _INQUIRY_DEMAND.draw(rng)
        self._open_case(t, customer, category, subject, demand, unhappy=False)

    def _complain_about(self, t: int, subject: _Entity) -> None:
        """A complaint after a service error: failure demand, mostly not labelled as such."""
        if self._blocked(t, subject, self._complain_about):
            return
        demand = _COMPLAINT_DEMAND.draw(self.rng)
        self._open_case(t, subject.customer, self._category(subject), subject, demand, unhappy=True)

    def _category(self, subject: _Entity) -> str:
        if subject.kind == "order":
            return self.rng.choice(("delivery", "product"))
        if subject.kind == "invoice":
            return "billing"
        return self.rng.choice(("repair", "repair", "parts"))

    def _open_case(
        self,
        t: int,
        customer: _Customer,
        category: str,
        subject: _Entity | None,
        demand: str | None,
        unhappy: bool,
    ) -> None:
        rng = self.rng
        case = _Case(self._next_id("CASE"), customer)
        case.contacts_left = _CONTACTS.draw(rng)
        case.stuck = rng.random() < 0.04
        case.unhappy = unhappy
        customer.cases.append(case)
        self.pool.append(case)
        fields: dict[str, Any] = {"case_id": case.id, "category": category}
        if subject is not None:
            fields["subject"] = {"type": subject.kind, "id": subject.id}
        if demand is not None:
            fields["demand"] = demand
        if rng.random() < 0.6:
            fields["text"] = rng.choice(_CATEGORY_TEXT[category])
        channel = _CASE_CHANNEL.draw(rng)
        self._send(t, "complaint.opened", customer, channel, "crm", fields, case)
        self._at(t + self._between(2 * HOUR, 2 * DAY), self._advance_case, case)
        if category in ("product", "repair") and rng.random() < 0.35:
            self._at(t + self._between(DAY, 3 * DAY), self._case_repair, case)

    def _advance_case(self, t: int, case: _Case) -> None:
        if self._blocked(t, case, self._advance_case):
            return
        rng = self.rng
        gap = self._between(2 * HOUR, 2 * DAY)
        customer, cid = case.customer, case.id
        if case.state == "open" and case.contacts_left > 0:
            case.contacts_left -= 1
            direction = "inbound" if rng.random() < 0.6 else "outbound"
            self._send(
                t,
                "complaint.contact_logged",
                customer,
                "phone",
                "crm",
                {"case_id": cid, "direction": direction},
                case,
            )
        elif case.state == "open" and not case.stuck:
            case.state = "resolved"
            fields: dict[str, Any] = {"case_id": cid, "resolution": rng.choice(_RESOLUTIONS)}
            if rng.random() < 0.7:
                fields["satisfaction"] = rng.choice(
                    (1, 2, 2, 3, 4) if case.unhappy else (3, 4, 4, 5, 5)
                )
            self._send(t, "complaint.resolved", customer, "email", "crm", fields, case)
            if case.reopens < 2 and rng.random() < 3 * self.e:
                case.next = "reopen"
            else:
                case.next = "close" if rng.random() < 0.92 else ""
            gap = self._between(DAY, 10 * DAY)
        elif case.state == "resolved" and case.next == "reopen":
            case.state = "open"
            case.reopens += 1
            case.contacts_left = rng.choice((0, 1, 1, 2))
            self._send(
                t,
                "complaint.reopened",
                customer,
                "phone",
                "crm",
                {"case_id": cid, "reason": rng.choice(_REOPEN_REASONS)},
                case,
            )
        elif case.state == "resolved" and case.next == "close":
            case.state = "closed"
            self._send(t, "complaint.closed", customer, "system", "crm", {"case_id": cid}, case)
            return
        else:
            return
        self._at(t + gap, self._advance_case, case)

    def _case_repair(self, t: int, case: _Case) -> None:
        """A complaint about a faulty product becomes a warranty repair linked to the case."""
        if self._blocked(t, case, self._case_repair):
            return
        customer = case.customer
        serial = self.rng.choice(customer.serials)
        if serial not in customer.in_repair:
            self._new_repair(
                t,
                customer,
                serial,
                self._repair_location(),
                True,
                case if case.state != "closed" else None,
            )

    # -- repairs ------------------------------------------------------------------------

    def _repair_location(self) -> int:
        r = self.rng.random()
        return next((i for i, cum in enumerate(_LOCATION_CUM) if r < cum), 0)

    def _start_repair(self, t: int, customer: _Customer) -> None:
        """A new fault: not on a device that is in repair or was fixed within 30 days."""
        rng = self.rng
        serial = rng.choice(customer.serials)
        if serial in customer.in_repair:
            self._at(t + self._between(5 * DAY, 15 * DAY), self._start_repair, customer)
            return
        fixed = customer.fixed_at.get(serial)
        if fixed is not None and t - fixed <= REPEAT_WINDOW + DAY:
            self._at(
                fixed + REPEAT_WINDOW + self._between(2 * DAY, 10 * DAY),
                self._start_repair,
                customer,
            )
            return
        self._new_repair(t, customer, serial, self._repair_location(), rng.random() < 0.6, None)

    def _repeat_repair(self, t: int, repair: _Repair) -> None:
        """The same device comes back soon after a `fixed` repair (not blocked by a held line)."""
        again = self._new_repair(t, repair.customer, repair.serial, repair.location, True, None)
        again.repeat = True

    def _new_repair(
        self,
        t: int,
        customer: _Customer,
        serial: str,
        location: int,
        warranty: bool,
        case: _Case | None,
    ) -> _Repair:
        rng = self.rng
        repair = _Repair(self._next_id("REP"), customer, serial, location, warranty)
        customer.repairs.append(repair)
        customer.in_repair.add(serial)
        self.pool.append(repair)
        fields: dict[str, Any] = {
            "repair_id": repair.id,
            "serial": serial,
            "fault": rng.choice(_FAULTS),
            "warranty": warranty,
        }
        if case is not None:
            fields["case_id"] = case.id
        channel = "field" if location >= 2 else rng.choice(("store", "web", "phone"))
        self._send(t, "repair.requested", customer, channel, "fsm", fields)
        self._plan_parts(repair, _PARTS_PER_REPAIR.draw(rng))
        repair.todo.append(("complete", None, 0))
        self._at(t + self._between(HOUR, DAY), self._advance_repair, repair)
        return repair

    def _plan_parts(self, repair: _Repair, n: int) -> None:
        rng = self.rng
        used = set(repair.reservations) | set(repair.issued) | set(repair.backorders)
        needs: list[tuple[_Stock, int]] = []
        for _ in range(n + 1):
            stock = self._pick_part(repair.location)
            if stock not in used:
                used.add(stock)
                needs.append((stock, _QTY.draw(rng)))
        extra = needs.pop() if needs and len(needs) > n else None
        extra = extra if rng.random() < 0.15 else None
        for stock, qty in needs:
            repair.todo.append(("reserve", stock, qty))
        if extra is not None:
            repair.todo.append(("reserve", extra[0], 1))
        for stock, qty in needs:
            repair.todo.append(("issue", stock, qty))
        if extra is not None:
            repair.todo.append(("release", extra[0], 1))

    def _pick_part(self, location: int) -> _Stock:
        return self.stock[self._part_index()][location]

    def _part_index(self) -> int:
        cum = self.part_cum
        r = self.rng.random()
        lo, hi = 0, len(cum) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] <= r:
                lo = mid + 1
            else:
                hi = mid
        return lo

    _GAPS = {
        "reserve": (10 * MIN, 4 * HOUR),
        "issue": (4 * HOUR, 2 * DAY),
        "release": (HOUR, DAY),
        "complete": (2 * HOUR, 3 * DAY),
        "return_part": (HOUR, 2 * DAY),
        "return_device": (DAY, 4 * DAY),
    }

    def _advance_repair(self, t: int, repair: _Repair) -> None:
        if self._blocked(t, repair, self._advance_repair) or not repair.todo:
            return
        action, stock, qty = repair.todo.popleft()
        self.actions[action](repair, t, stock, qty)
        if repair.todo:
            following = repair.todo[0][0]
            low, high = self._GAPS[following]
            at = t + self._between(low, high)
            if following == "issue":
                at = max(at, repair.wait_until)
            self._at(at, self._advance_repair, repair)

    def _reserve_part(self, repair: _Repair, t: int, stock: _Stock | None, qty: int) -> None:
        assert stock is not None
        if qty <= stock.available:
            stock.reserved += qty
            repair.reservations[stock] = repair.reservations.get(stock, 0) + qty
            self._lower_backorder(repair, stock, qty)
        else:  # accepted as a stock-out: nothing reserved, the repair waits for the part
            stock.backordered += qty
            repair.backorders[stock] = repair.backorders.get(stock, 0) + qty
            lead = self._replenish_lead(stock)
            self._check_reorder(t, stock, force=True, lead=lead)
            repair.wait_until = max(repair.wait_until, t + lead + HOUR)
            if self.rng.random() < 0.1:
                self._at(t + self._between(DAY, 3 * DAY), self._complain_about, repair)
        self._send(
            t,
            "part.reserved",
            None,
            "system",
            "fsm",
            {
                "part_id": stock.part,
                "location": LOCATIONS[stock.location],
                "qty": qty,
                "repair_id": repair.id,
            },
        )
        self._check_reorder(t, stock)

    def _issue_part(self, repair: _Repair, t: int, stock: _Stock | None, qty: int) -> None:
        assert stock is not None
        mine = repair.reservations.get(stock, 0)
        usable = stock.available + mine
        if usable < qty:  # the part is booked in right before it is used
            self._receive(t, stock, qty - usable, late=False)
        stock.on_hand -= qty
        released = min(qty, mine)
        stock.reserved -= released
        repair.reservations[stock] = mine - released
        self._lower_backorder(repair, stock, qty)
        repair.issued[stock] = repair.issued.get(stock, 0) + qty
        repair.cost += qty * stock.unit_cost * 2
        self._send(
            t,
            "part.issued",
            None,
            "field" if stock.location >= 2 else "system",
            "fsm",
            {
                "part_id": stock.part,
                "location": LOCATIONS[stock.location],
                "qty": qty,
                "repair_id": repair.id,
            },
        )
        self._check_reorder(t, stock)

    def _lower_backorder(self, repair: _Repair, stock: _Stock, qty: int) -> None:
        open_backorder = repair.backorders.get(stock, 0)
        if open_backorder:
            lowered = min(qty, open_backorder)
            repair.backorders[stock] = open_backorder - lowered
            stock.backordered -= lowered

    def _release_part(self, repair: _Repair, t: int, stock: _Stock | None, qty: int) -> None:
        assert stock is not None
        qty = min(qty, repair.reservations.get(stock, 0))
        if qty <= 0:
            return
        repair.reservations[stock] -= qty
        stock.reserved -= qty
        self._send(
            t,
            "part.released",
            None,
            "system",
            "fsm",
            {
                "part_id": stock.part,
                "location": LOCATIONS[stock.location],
                "qty": qty,
                "repair_id": repair.id,
            },
        )

    def _complete_repair(self, repair: _Repair, t: int, _stock: _Stock | None, _qty: int) -> None:
        rng = self.rng
        if repair.rounds < 2 and rng.random() < 3 * self.e:
            outcome = "not_fixed"
        else:
            outcome = "no_fault_found" if rng.random() < 0.08 else "fixed"
            for stock, reserved in list(repair.reservations.items()):
                if reserved > 0:
                    self._release_part(repair, t, stock, reserved)
            repair.state = "done"
        repair.rounds += 1
        hold = 0
        if outcome == "fixed":
            repair.customer.fixed_at[repair.serial] = t
        if outcome == "fixed" and not repair.repeat and rng.random() < 2 * self.e:
            again = t + self._between(3 * DAY, REPEAT_WINDOW - 2 * DAY)
            self._at(again, self._repeat_repair, repair)
            if self.options.late_rate > 0 and rng.random() < 0.3:
                hold = again - t + self._between(HOUR, 2 * DAY)  # completion booked late
        self._send(
            t,
            "repair.completed",
            repair.customer,
            "field" if repair.location >= 2 else "store",
            "fsm",
            {"repair_id": repair.id, "outcome": outcome},
            repair,
            hold=hold,
        )
        if outcome == "not_fixed":
            if rng.random() < 0.6:
                self._plan_parts(repair, 1)
            repair.todo.append(("complete", None, 0))
            if rng.random() < 0.4:
                self._at(t + self._between(2 * HOUR, 2 * DAY), self._complain_about, repair)
            return
        if outcome == "no_fault_found":
            for stock, qty in repair.issued.items():
                repair.todo.append(("return_part", stock, qty))
        repair.todo.append(("return_device", None, 0))

    def _return_part(self, repair: _Repair, t: int, stock: _Stock | None, qty: int) -> None:
        assert stock is not None
        self._send(
            t,
            "part.returned",
            None,
            "system",
            "wms",
            {
                "part_id": stock.part,
                "location": LOCATIONS[stock.location],
                "qty": qty,
                "repair_id": repair.id,
            },
            repair,
            arrive=partial(self._add_stock, stock, qty),
        )

    def _return_device(self, repair: _Repair, t: int, _stock: _Stock | None, _qty: int) -> None:
        repair.state = "returned"
        customer = repair.customer
        if not any(r.serial == repair.serial and r.state != "returned" for r in customer.repairs):
            customer.in_repair.discard(repair.serial)
        self._send(
            t,
            "repair.returned",
            repair.customer,
            "field" if repair.location >= 2 else "store",
            "fsm",
            {"repair_id": repair.id},
            repair,
        )
        if not repair.warranty:
            repair.cost += self._between(49, 150) * 100
            self._at(t + self._between(2 * HOUR, DAY), self._issue_repair_invoice, repair)

    # -- stock --------------------------------------------------------------------------

    @staticmethod
    def _add_stock(stock: _Stock, qty: int) -> None:
        stock.on_hand += qty

    def _open_stock(self) -> None:
        """Opening balances, booked in the first hours."""
        t = 0
        for row in self.stock:
            for stock in row:
                if stock.up_to > 0 and (stock.location == 0 or stock.reorder_point > 0):
                    t += self._between(1, 30)
                    self._at(t, self._opening_receipt, stock)

    def _opening_receipt(self, t: int, stock: _Stock) -> None:
        self._receive(t, stock, stock.up_to, late=False)

    def _receive(self, t: int, stock: _Stock, qty: int, late: bool) -> None:
        fields: dict[str, Any] = {
            "part_id": stock.part,
            "location": LOCATIONS[stock.location],
            "qty": qty,
        }
        if self.rng.random() < 0.8:
            fields["unit_cost"] = self._money(stock.unit_cost)
        self._send(
            t,
            "part.received",
            None,
            "system",
            "wms",
            fields,
            stock if late else None,
            arrive=partial(self._add_stock, stock, qty),
        )

    def _replenish_lead(self, stock: _Stock) -> int:
        if stock.location in _WAREHOUSES:
            return self._between(2 * DAY, 6 * DAY)
        return self._between(6 * HOUR, 30 * HOUR)

    def _check_reorder(self, t: int, stock: _Stock, force: bool = False, lead: int = 0) -> None:
        if stock.pending or not (force or stock.available < stock.reorder_point):
            return
        stock.pending = True
        self._at(t + (lead or self._replenish_lead(stock)), self._replenish, stock)

    def _replenish(self, t: int, stock: _Stock) -> None:
        stock.pending = False
        need = stock.up_to - stock.available + stock.backordered
        if need <= 0:
            return
        if stock.location in _WAREHOUSES:
            self._receive(t, stock, need + (-need) % 5, late=True)
            return
        row = self.stock[self._part_row(stock)]
        source = max((row[w] for w in _WAREHOUSES), key=lambda s: s.available)
        qty = min(need, source.available)
        if qty < 1:
            self._receive(t, stock, need, late=True)  # shipped straight to the van
            return
        self._transfer(t, source, stock, qty)

    def _part_row(self, stock: _Stock) -> int:
        return int(stock.part[2:]) - 1000

    def _transfer(self, t: int, source: _Stock, target: _Stock, qty: int) -> None:
        source.on_hand -= qty
        target.on_hand += qty
        self._send(
            t,
            "part.transferred",
            None,
            "system",
            "wms",
            {
                "part_id": source.part,
                "location": LOCATIONS[source.location],
                "to_location": LOCATIONS[target.location],
                "qty": qty,
            },
        )
        self._check_reorder(t, source)

    def _process_gap(self, per_customer: float) -> int:
        rate = per_customer * self.options.customers / self.span
        return 1 + int(self.rng.expovariate(rate))

    def _again(self, t: int, step: _Step, per_customer: float) -> None:
        at = t + self._process_gap(per_customer)
        if at < self.span:
            self._at(at, step, per_customer)

    def _cycle_count(self, t: int, per_customer: float) -> None:
        """A stock count finds a difference: a signed adjustment that never goes below zero."""
        rng = self.rng
        stock = self.stock[self._part_index()][int(rng.random() * len(LOCATIONS))]
        if stock.on_hand > 0 and rng.random() < 0.55:
            qty = -min(stock.on_hand, rng.choice((1, 1, 2)))
        else:
            qty = rng.choice((1, 1, 2, 3))
        stock.on_hand += qty
        self._send(
            t,
            "part.adjusted",
            None,
            "system",
            "wms",
            {
                "part_id": stock.part,
                "location": LOCATIONS[stock.location],
                "qty": qty,
                "reason": rng.choice(_ADJUST_REASONS[:2] if qty < 0 else _ADJUST_REASONS),
            },
        )
        self._again(t, self._cycle_count, per_customer)

    def _rebalance(self, t: int, per_customer: float) -> None:
        row = self.stock[self._part_index()]
        source, target = (row[0], row[1]) if self.rng.random() < 0.6 else (row[1], row[0])
        if source.available >= 4:
            self._transfer(t, source, target, self._between(1, source.available // 2 + 1))
        self._again(t, self._rebalance, per_customer)

    def _loose_return(self, t: int, per_customer: float) -> None:
        """Unused parts handed back from a van or a counter, not tied to a repair."""
        stock = self._pick_part(int(self.rng.random() * len(LOCATIONS)))
        qty = self.rng.choice((1, 1, 2))
        self._send(
            t,
            "part.returned",
            None,
            "field",
            "wms",
            {"part_id": stock.part, "location": LOCATIONS[stock.location], "qty": qty},
            stock,
            arrive=partial(self._add_stock, stock, qty),
        )
        self._again(t, self._loose_return, per_customer)


_REASONS = _Weighted(dict(zip(REJECT_REASONS, (8, 6, 26, 6, 8, 14, 8, 12, 6, 6), strict=True)))
_MAIN_KEY = {
    "purchase": "order_id",
    "invoice": "invoice_id",
    "complaint": "case_id",
    "repair": "repair_id",
    "part": "part_id",
}


class _Saboteur:
    """Bad lines drawn from the simulation's arrival-order state, each with its reason."""

    def __init__(self, sim: _Journeys) -> None:
        self.sim = sim
        self.rng = sim.rng
        self.ghosts = 0
        self.nobody = _Customer("CUST-0000000", "EUR", ["SN00000000000"])  # before any arrival
        self.makers: dict[str, Callable[[], str | None]] = {
            "invalid_json": self._invalid_json,
            "unknown_type": self._unknown_type,
            "invalid": self._invalid,
            "conflicting_duplicate": self._conflicting_duplicate,
            "already_exists": self._already_exists,
            "unknown_entity": self._unknown_entity,
            "customer_mismatch": self._customer_mismatch,
            "invalid_transition": self._invalid_transition,
            "invalid_quantity": self._invalid_quantity,
            "insufficient_stock": self._insufficient_stock,
        }

    def line(self) -> tuple[str, str]:
        reason = _REASONS.draw(self.rng)
        made = self.makers[reason]()
        if made is None:  # no fitting entity right now
            return self._invalid(), "invalid"
        return made, reason

    # -- helpers ------------------------------------------------------------------------

    def _recent(self) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(self.rng.choice(self.sim.recent_lines))
        return obj

    def _fresh(
        self, type_: str, customer: _Customer | None, fields: dict[str, Any]
    ) -> dict[str, Any]:
        sim = self.sim
        obj: dict[str, Any] = {
            "touchpoint_id": sim._next_tp(),
            "type": type_,
            "occurred_at": sim._stamp(sim.now),
        }
        if customer is not None:
            obj["customer_id"] = customer.id
        obj.update(fields)
        return obj

    def _ghost(self, prefix: str) -> str:
        self.ghosts += 1
        return f"{prefix}-LOST-{self.ghosts:06d}"

    def _customer(self) -> _Customer:
        customers = self.sim.recent_customers
        return self.rng.choice(customers) if customers else self.nobody

    def _entities(self, kinds: tuple[str, ...]) -> list[_Entity]:
        """Visible recent entities of these kinds, in random order."""
        pool = [e for e in self.sim.pool if e.kind in kinds and not e.held_until]
        self.rng.shuffle(pool)
        return pool

    def _stock(self) -> _Stock:
        sim = self.sim
        return sim.stock[sim._part_index()][int(self.rng.random() * len(LOCATIONS))]

    # -- reasons, in contract order -----------------------------------------------------

    def _invalid_json(self) -> str:
        rng = self.rng
        line = rng.choice(self.sim.recent_lines)
        r = rng.random()
        if r < 0.4:
            return line[: len(line) * (3 + int(rng.random() * 5)) // 10]
        if r < 0.7:
            return f"[{line}]"
        obj = json.loads(line)
        if r < 0.85:
            return f"{obj['touchpoint_id']};{obj['type']};{obj['occurred_at']}"
        return json.dumps(obj["type"])

    def _unknown_type(self) -> str:
        obj = self._recent()
        obj["touchpoint_id"] = self.sim._next_tp()
        r = self.rng.random()
        if r < 0.15:
            del obj["type"]
        else:
            obj["type"] = self.rng.choice(
                (
                    "purchase.refunded",
                    "invoice.voided",
                    "order.placed",
                    "complaint.escalated",
                    "repair.cancelled",
                    "part.scrapped",
                    "Purchase.Placed",
                )
            )
        return _ENCODE(obj)

    def _invalid(self) -> str:
        sim, rng = self.sim, self.rng
        obj = self._recent()
        obj["touchpoint_id"] = sim._next_tp()
        kind = obj["type"].split(".")[0]
        variant = int(rng.random() * 10)
        stock = self._stock()
        part = {"part_id": stock.part, "location": LOCATIONS[stock.location]}
        if variant == 0:
            del obj[rng.choice(("occurred_at", "touchpoint_id", _MAIN_KEY[kind]))]
        elif variant == 1:
            obj[rng.choice(("priority", "note", "customerId"))] = "high"
        elif variant == 2:
            obj = self._fresh("part.received", None, {**part, "qty": rng.choice((1.5, 2.5))})
        elif variant == 3:
            amount: float | str = rng.choice((12.345, "19.999", "0.001"))
            obj = self._fresh(
                "invoice.paid",
                self._customer(),
                {"invoice_id": self._ghost("INV"), "amount": amount},
            )
        elif variant == 4:
            obj["occurred_at"] = sim._wall(self.sim.now)
        elif variant == 5:
            obj = self._fresh("part.adjusted", None, {**part, "qty": -1, "reason": "count"})
            obj["customer_id"] = self._customer().id
        elif variant == 6:
            obj["channel"] = rng.choice(("fax", "Web", "carrier_pigeon"))
        elif variant == 7:
            obj["touchpoint_id"] = "tp " + obj["touchpoint_id"]
        elif variant == 8:
            qty = rng.choice((0, -2))
            obj = self._fresh("part.received", None, {**part, "qty": qty})
        else:
            obj = self._fresh(
                "part.transferred", None, {**part, "to_location": part["location"], "qty": 1}
            )
        return _ENCODE(obj)

    def _conflicting_duplicate(self) -> str:
        obj = self._recent()
        obj["source"] = "replay" if obj.get("source") != "replay" else "replay-2"
        return _ENCODE(obj)

    def _already_exists(self) -> str | None:
        found = self._entities(("order", "invoice", "case", "repair"))
        if not found:
            return None
        entity, sim = found[0], self.sim
        customer = entity.customer
        if isinstance(entity, _Order):
            sku, cents = self.rng.choice(sim.skus)
            obj = self._fresh(
                "purchase.placed",
                customer,
                {
                    "order_id": entity.id,
                    "lines": [{"sku": sku, "qty": 1, "unit_price": sim._money(cents)}],
                    "currency": customer.currency,
                },
            )
        elif isinstance(entity, _Invoice):
            obj = self._fresh(
                "invoice.issued",
                customer,
                {
                    "invoice_id": entity.id,
                    "amount": sim._money(entity.amount),
                    "currency": customer.currency,
                    "due_date": sim._date(self.sim.now + 14 * DAY),
                },
            )
        elif isinstance(entity, _Case):
            obj = self._fresh(
                "complaint.opened", customer, {"case_id": entity.id, "category": "other"}
            )
        else:
            assert isinstance(entity, _Repair)
            obj = self._fresh(
                "repair.requested",
                customer,
                {
                    "repair_id": entity.id,
                    "serial": entity.serial,
                    "fault": "again",
                    "warranty": False,
                },
            )
        return _ENCODE(obj)

    def _unknown_entity(self) -> str:
        rng, sim = self.rng, self.sim
        customer = self._customer()
        variant = int(rng.random() * 8)
        if variant == 0:
            obj = self._fresh("purchase.delivered", customer, {"order_id": self._ghost("ORD")})
        elif variant == 1:
            obj = self._fresh(
                "invoice.paid", customer, {"invoice_id": self._ghost("INV"), "amount": "10.00"}
            )
        elif variant == 2:
            obj = self._fresh(
                "complaint.contact_logged",
                customer,
                {"case_id": self._ghost("CASE"), "direction": "inbound"},
            )
        elif variant == 3:
            obj = self._fresh(
                "repair.completed", customer, {"repair_id": self._ghost("REP"), "outcome": "fixed"}
            )
        elif variant == 4:
            stock = self._stock()
            obj = self._fresh(
                "part.reserved",
                None,
                {
                    "part_id": stock.part,
                    "location": LOCATIONS[stock.location],
                    "qty": 1,
                    "repair_id": self._ghost("REP"),
                },
            )
        elif variant == 5:
            obj = self._fresh(
                "complaint.opened",
                customer,
                {
                    "case_id": sim._next_id("CASE"),
                    "category": "delivery",
                    "subject": {"type": "order", "id": self._ghost("ORD")},
                },
            )
        elif variant == 6:
            obj = self._fresh(
                "repair.requested",
                customer,
                {
                    "repair_id": sim._next_id("REP"),
                    "serial": rng.choice(customer.serials),
                    "fault": rng.choice(_FAULTS),
                    "warranty": True,
                    "case_id": self._ghost("CASE"),
                },
            )
        else:
            obj = self._fresh(
                "invoice.issued",
                customer,
                {
                    "invoice_id": sim._next_id("INV"),
                    "order_id": self._ghost("ORD"),
                    "amount": "5.00",
                    "currency": "EUR",
                    "due_date": sim._date(self.sim.now + 14 * DAY),
                },
            )
        return _ENCODE(obj)

    def _customer_mismatch(self) -> str | None:
        found = self._entities(("order", "invoice", "case", "repair"))
        others = [c for c in self.sim.recent_customers if not found or c is not found[0].customer]
        if not found or not others:
            return None
        entity, other = found[0], self.rng.choice(others)
        if isinstance(entity, _Order):
            obj = self._fresh("purchase.delivered", other, {"order_id": entity.id})
        elif isinstance(entity, _Invoice):
            obj = self._fresh("invoice.reminder_sent", other, {"invoice_id": entity.id})
        elif isinstance(entity, _Case):
            obj = self._fresh(
                "complaint.contact_logged", other, {"case_id": entity.id, "direction": "outbound"}
            )
        else:
            obj = self._fresh("repair.returned", other, {"repair_id": entity.id})
        return _ENCODE(obj)

    def _invalid_transition(self) -> str | None:
        for entity in self._entities(("order", "case", "repair"))[:20]:
            made = self._wrong_step(entity)
            if made is not None:
                return _ENCODE(self._fresh(made[0], entity.customer, made[1]))
        return None

    def _wrong_step(self, entity: _Entity) -> tuple[str, dict[str, Any]] | None:
        """A type the entity's current state does not allow (contract 2.2), if any."""
        if isinstance(entity, _Case):
            case_id = {"case_id": entity.id}
            if entity.state == "open":
                return "complaint.closed", case_id
            if entity.state == "resolved":
                return "complaint.contact_logged", {**case_id, "direction": "inbound"}
            return "complaint.reopened", {**case_id, "reason": "still broken"}
        if isinstance(entity, _Order):
            order_id = {"order_id": entity.id}
            if entity.state == "cancelled":
                return "purchase.delivered", order_id
            if entity.state == "delivered":
                return "purchase.delivery_failed", {**order_id, "reason": "lost"}
            sku = entity.lines[0][0]
            return "purchase.returned", {
                **order_id,
                "lines": [{"sku": sku, "qty": 1}],
                "reason": "too early",
            }
        assert isinstance(entity, _Repair)
        if entity.state == "open" and entity.rounds == 0:
            return "repair.returned", {"repair_id": entity.id}
        if entity.state in ("done", "returned"):
            return "repair.completed", {"repair_id": entity.id, "outcome": "fixed"}
        return None

    def _invalid_quantity(self) -> str | None:
        for entity in self._entities(("order", "repair"))[:20]:
            if isinstance(entity, _Repair):
                held = [s for s, q in entity.reservations.items() if q > 0]
                stock = held[0] if held else self.sim.stock[0][entity.location]
                qty = entity.reservations.get(stock, 0) + 1 + int(self.rng.random() * 2)
                return _ENCODE(
                    self._fresh(
                        "part.released",
                        None,
                        {
                            "part_id": stock.part,
                            "location": LOCATIONS[stock.location],
                            "qty": qty,
                            "repair_id": entity.id,
                        },
                    )
                )
            assert isinstance(entity, _Order)
            if entity.state == "delivered":
                sku, ordered, _ = entity.lines[0]
                qty = ordered - entity.returned.get(sku, 0) + 1
                return _ENCODE(
                    self._fresh(
                        "purchase.returned",
                        entity.customer,
                        {
                            "order_id": entity.id,
                            "lines": [{"sku": sku, "qty": qty}],
                            "reason": "returning more",
                        },
                    )
                )
        return None

    def _insufficient_stock(self) -> str | None:
        rng = self.rng
        stock = self._stock()
        where = {"part_id": stock.part, "location": LOCATIONS[stock.location]}
        r = rng.random()
        if r < 0.45:
            to = LOCATIONS[(stock.location + 1 + int(rng.random() * 4)) % len(LOCATIONS)]
            qty = max(1, stock.available + 1 + int(rng.random() * 3))
            obj = self._fresh("part.transferred", None, {**where, "to_location": to, "qty": qty})
        elif r < 0.75:
            obj = self._fresh(
                "part.adjusted",
                None,
                {
                    **where,
                    "qty": -(stock.on_hand + 1 + int(rng.random() * 2)),
                    "reason": "cycle_count",
                },
            )
        else:
            repairs = self._entities(("repair",))
            if not repairs:
                return None
            obj = self._fresh(
                "part.issued", None, {**where, "qty": stock.on_hand + 1, "repair_id": repairs[0].id}
            )
        return _ENCODE(obj)
