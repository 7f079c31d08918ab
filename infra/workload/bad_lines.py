"""The lines a correct engine must reject, each labelled with the first reason of contract
2.1 that the engine gives for it. They are drawn from the simulation's arrival-order state
(recent lines, visible entities, exact stock), so the label holds where the line is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from journey.infra.workload.catalogue import DAY, FAULTS, LOCATIONS, Weighted
from journey.infra.workload.entities import (
    Case,
    Customer,
    Invoice,
    Order,
    Repair,
    SimEntity,
    StockRecord,
)
from journey.infra.workload.options import REJECT_REASONS
from journey.infra.workload.simulation import ENCODE

if TYPE_CHECKING:
    from journey.infra.workload.journeys import Journeys

_REASONS = Weighted(dict(zip(REJECT_REASONS, (8, 6, 26, 6, 8, 14, 8, 12, 6, 6), strict=True)))
_MAIN_KEY = {
    "purchase": "order_id",
    "invoice": "invoice_id",
    "complaint": "case_id",
    "repair": "repair_id",
    "part": "part_id",
}


class Saboteur:
    """Bad lines drawn from the simulation's arrival-order state, each with its reason."""

    def __init__(self, sim: Journeys) -> None:
        self.sim = sim
        self.rng = sim.rng
        self.ghosts = 0
        self.nobody = Customer("CUST-0000000", "EUR", ["SN00000000000"])  # before any arrival
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
        """A bad line and its label; "invalid" when the drawn reason finds nothing to use."""
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
        self, type_: str, customer: Customer | None, fields: dict[str, Any]
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

    def _customer(self) -> Customer:
        customers = self.sim.recent_customers
        return self.rng.choice(customers) if customers else self.nobody

    def _entities(self, kinds: tuple[str, ...]) -> list[SimEntity]:
        """Visible recent entities of these kinds, in random order."""
        pool = [e for e in self.sim.pool if e.kind in kinds and not e.held_until]
        self.rng.shuffle(pool)
        return pool

    def _stock(self) -> StockRecord:
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
        return ENCODE(obj)

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
        return ENCODE(obj)

    def _conflicting_duplicate(self) -> str:
        obj = self._recent()
        obj["source"] = "replay" if obj.get("source") != "replay" else "replay-2"
        return ENCODE(obj)

    def _already_exists(self) -> str | None:
        found = self._entities(("order", "invoice", "case", "repair"))
        if not found:
            return None
        entity, sim = found[0], self.sim
        customer = entity.customer
        if isinstance(entity, Order):
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
        elif isinstance(entity, Invoice):
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
        elif isinstance(entity, Case):
            obj = self._fresh(
                "complaint.opened", customer, {"case_id": entity.id, "category": "other"}
            )
        else:
            assert isinstance(entity, Repair)
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
        return ENCODE(obj)

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
                stock.movement(1, repair_id=self._ghost("REP")),
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
                    "fault": rng.choice(FAULTS),
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
        return ENCODE(obj)

    def _customer_mismatch(self) -> str | None:
        found = self._entities(("order", "invoice", "case", "repair"))
        others = [c for c in self.sim.recent_customers if not found or c is not found[0].customer]
        if not found or not others:
            return None
        entity, other = found[0], self.rng.choice(others)
        if isinstance(entity, Order):
            obj = self._fresh("purchase.delivered", other, {"order_id": entity.id})
        elif isinstance(entity, Invoice):
            obj = self._fresh("invoice.reminder_sent", other, {"invoice_id": entity.id})
        elif isinstance(entity, Case):
            obj = self._fresh(
                "complaint.contact_logged", other, {"case_id": entity.id, "direction": "outbound"}
            )
        else:
            obj = self._fresh("repair.returned", other, {"repair_id": entity.id})
        return ENCODE(obj)

    def _invalid_transition(self) -> str | None:
        for entity in self._entities(("order", "case", "repair"))[:20]:
            made = self._wrong_step(entity)
            if made is not None:
                return ENCODE(self._fresh(made[0], entity.customer, made[1]))
        return None

    def _wrong_step(self, entity: SimEntity) -> tuple[str, dict[str, Any]] | None:
        """A type the entity's current state does not allow (contract 2.2), if any."""
        if isinstance(entity, Case):
            case_id = {"case_id": entity.id}
            if entity.state == "open":
                return "complaint.closed", case_id
            if entity.state == "resolved":
                return "complaint.contact_logged", {**case_id, "direction": "inbound"}
            return "complaint.reopened", {**case_id, "reason": "still broken"}
        if isinstance(entity, Order):
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
        assert isinstance(entity, Repair)
        if entity.state == "dropped" or (entity.state == "open" and entity.rounds == 0):
            return "repair.returned", {"repair_id": entity.id}
        if entity.state in ("done", "returned"):
            return "repair.completed", {"repair_id": entity.id, "outcome": "fixed"}
        return None

    def _invalid_quantity(self) -> str | None:
        for entity in self._entities(("order", "repair"))[:20]:
            if isinstance(entity, Repair):
                held = [s for s, q in entity.reservations.items() if q > 0]
                stock = held[0] if held else self.sim.stock[0][entity.location]
                qty = entity.reservations.get(stock, 0) + 1 + int(self.rng.random() * 2)
                return ENCODE(
                    self._fresh(
                        "part.released",
                        None,
                        stock.movement(qty, repair_id=entity.id),
                    )
                )
            assert isinstance(entity, Order)
            if entity.state == "delivered":
                sku, ordered, _ = entity.lines[0]
                qty = ordered - entity.returned.get(sku, 0) + 1
                return ENCODE(
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
        return ENCODE(obj)
