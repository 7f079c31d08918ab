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
#: The currency a customer is billed in: mostly euros, a good share of US dollars.
CURRENCY = Weighted({"EUR": 72, "USD": 16, "GBP": 7, "CHF": 5})
#: How fast a case moves: "quick" is settled at first contact (within the hour), "slow" waits
#: days between steps (weeks in all). Complaints after an error are slower than enquiries.
INQUIRY_PACE = Weighted({"quick": 30, "normal": 60, "slow": 10})
COMPLAINT_PACE = Weighted({"quick": 8, "normal": 62, "slow": 30})
CASE_GAPS = {"quick": (2 * HOUR, 2 * DAY), "normal": (2 * HOUR, 2 * DAY), "slow": (DAY, 6 * DAY)}
#: How fast a repair moves: "quick" is done at the counter without parts (within the hour),
#: "slow" waits for a workshop slot and stretches every step (weeks in all).
REPAIR_PACE = Weighted({"quick": 10, "normal": 72, "slow": 18})
#: A satisfaction score (1-5) given on resolving a case: customers who met a service error
#: before rating rate low (mean about 2.3), the others high (mean about 4.1).
SCORE_AFTER_ERROR = Weighted({1: 25, 2: 35, 3: 25, 4: 10, 5: 5})
SCORE_NO_ERROR = Weighted({1: 2, 2: 5, 3: 13, 4: 38, 5: 42})
#: How a customer pays an invoice (of a positive amount): in full before the due date, in two
#: halves, after reminders, only a part, too much (twice, or rounded up), or never.
PAYER = Weighted({"on_time": 66, "split": 8, "late": 15, "partial": 4, "over": 3, "never": 4})
