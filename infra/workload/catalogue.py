"""Fixed tables of the simulation: time units, locations, texts and weighted draws.

Nothing here draws on its own; `Weighted.draw` takes the simulation's generator, so the
order of draws stays where the lifecycle steps put it.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from typing import Generic, TypeVar

MIN = 60
HOUR = 3600
DAY = 86400
LIFE = 90 * DAY  # how long after arrival a customer starts new activities
REPEAT_WINDOW = 30 * DAY

LOCATIONS = ("WH1", "WH2", "VAN1", "VAN2", "VAN3")
WAREHOUSES = (0, 1)
LOCATION_SHARE = (0.35, 0.20, 0.15, 0.15, 0.15)  # where repairs happen
LOCATION_CUM = tuple(sum(LOCATION_SHARE[: i + 1]) for i in range(len(LOCATION_SHARE)))
CURRENCIES = ("EUR",) * 19 + ("CHF", "GBP", "USD")
UPSTREAM_ERRORS = (
    "sync_timeout",
    "address_invalid",
    "payment_gateway_error",
    "label_print_failed",
    "duplicate_booking",
    "sensor_fault",
)
ERROR_TYPES = (
    "wrong_amount",
    "duplicate",
    "wrong_customer",
    "missing_line",
    "tax",
    "pricing",
    "other",
)
DELIVERY_FAILURES = (
    "recipient not at home",
    "address not found",
    "parcel damaged in transit",
    "depot backlog",
    "Zustellung nicht möglich",
)
CANCEL_REASONS = (
    "customer changed mind",
    "found cheaper offer",
    "item out of stock",
    "payment not received",
)
RETURN_REASONS = (
    "does not fit",
    "defective on arrival",
    "wrong colour",
    "not as described",
    "no longer needed",
)
FAULTS = (
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
RESOLUTIONS = (
    "explained invoice",
    "refund issued",
    "replacement sent",
    "repair arranged",
    "goodwill voucher",
    "no action needed",
    "delivery rebooked",
)
REOPEN_REASONS = (
    "problem persists",
    "refund not received",
    "customer disagrees",
    "replacement also faulty",
)
ADJUST_REASONS = ("cycle_count", "damaged", "found", "shrinkage")
CATEGORY_TEXT = {
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
INQUIRY_CATEGORIES = ("service", "product", "other", "billing")

T = TypeVar("T")


class Weighted(Generic[T]):
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
        """One value, drawn with exactly one `rng.random()`."""
        return self.values[bisect_right(self.cum, rng.random())]


ORDERS_PER_CUSTOMER = Weighted({1: 38, 2: 34, 3: 19, 4: 9})
REPAIRS_PER_CUSTOMER = Weighted({0: 34, 1: 42, 2: 18, 3: 6})
LINES_PER_ORDER = Weighted({1: 40, 2: 25, 3: 15, 4: 12, 5: 8})
QTY = Weighted({1: 80, 2: 15, 3: 5})
SALES_CHANNEL = Weighted({"web": 60, "store": 25, "phone": 15})
INQUIRY_DEMAND: Weighted[str | None] = Weighted(
    {"value": 50, None: 30, "unknown": 15, "failure": 5}
)
COMPLAINT_DEMAND: Weighted[str | None] = Weighted(
    {None: 40, "unknown": 25, "failure": 30, "value": 5}
)
CONTACTS = Weighted({0: 30, 1: 35, 2: 25, 3: 10})
CASE_CHANNEL = Weighted({"phone": 35, "email": 25, "chat": 20, "web": 15, "store": 5})
PARTS_PER_REPAIR = Weighted({0: 25, 1: 50, 2: 20, 3: 5})
