"""Repairs: requested, parts reserved, issued and released, completed (maybe not fixed,
then another round), parts and device returned, and invoiced (for nothing under warranty).
Some are done at the counter within the hour, some take weeks, and some are dropped: never
completed, or given up after a `not_fixed` completion.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from journey.infra.workload.catalogue import (
    DAY,
    FAULTS,
    HOUR,
    LOCATION_CUM,
    MIN,
    PARTS_PER_REPAIR,
    QTY,
    REPAIR_PACE,
    REPEAT_WINDOW,
)
from journey.infra.workload.entities import Case, Customer, Repair, SimEntity, StockRecord
from journey.infra.workload.simulation import Simulation


class RepairSteps(Simulation):
    """The repair lifecycle: a queue of planned steps (`Repair.todo`) run one at a time."""

    # Other lifecycles' steps, for the type checker only: `Journeys` mixes in the real
    # ones, and a stub defined here at run time would shadow them.
    if TYPE_CHECKING:

        def _complain_about(self, t: int, subject: SimEntity) -> None: ...

        def _issue_repair_invoice(self, t: int, repair: Repair) -> None: ...

        def _pick_part(self, location: int) -> StockRecord: ...

        def _receive(self, t: int, stock: StockRecord, qty: int, late: bool) -> None: ...

        def _replenish_lead(self, stock: StockRecord) -> int: ...

        def _check_reorder(
            self, t: int, stock: StockRecord, force: bool = False, lead: int = 0
        ) -> None: ...

        @staticmethod
        def _add_stock(stock: StockRecord, qty: int) -> None: ...

    def _repair_location(self) -> int:
        r = self.rng.random()
        return next((i for i, cum in enumerate(LOCATION_CUM) if r < cum), 0)

    def _start_repair(self, t: int, customer: Customer) -> None:
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

    def _repeat_repair(self, t: int, repair: Repair) -> None:
        """The same device comes back soon after a `fixed` repair (not blocked by a held line)."""
        again = self._new_repair(t, repair.customer, repair.serial, repair.location, True, None)
        again.repeat = True

    def _new_repair(
        self,
        t: int,
        customer: Customer,
        serial: str,
        location: int,
        warranty: bool,
        case: Case | None,
    ) -> Repair:
        rng = self.rng
        repair = Repair(self._next_id("REP"), customer, serial, location, warranty)
        fixed = customer.fixed_at.get(serial)  # by another repair: this one is new
        repeat = fixed is not None and t - fixed <= REPEAT_WINDOW
        customer.repairs.append(repair)
        customer.in_repair.add(serial)
        self.pool.append(repair)
        fields: dict[str, Any] = {
            "repair_id": repair.id,
            "serial": serial,
            "fault": rng.choice(FAULTS),
            "warranty": warranty,
        }
        if case is not None:
            fields["case_id"] = case.id
        channel = "field" if location >= 2 else rng.choice(("store", "web", "phone"))
        self._send(t, "repair.requested", customer, channel, "fsm", fields, error=repeat)
        pace = REPAIR_PACE.draw(rng)
        if pace == "quick":  # at the counter, no parts
            first = (5 * MIN, 45 * MIN)
        else:
            self._plan_parts(repair, PARTS_PER_REPAIR.draw(rng))
            first = (HOUR, DAY)
            if pace == "slow":
                repair.slow = self._between(3, 8)
                first = (2 * DAY, 10 * DAY)
        repair.todo.append(("drop" if rng.random() < 0.03 else "complete", None, 0))
        self._at(t + self._between(*first), self._advance_repair, repair)
        return repair

    def _plan_parts(self, repair: Repair, n: int) -> None:
        rng = self.rng
        used = set(repair.reservations) | set(repair.issued) | set(repair.backorders)
        needs: list[tuple[StockRecord, int]] = []
        for _ in range(n + 1):
            stock = self._pick_part(repair.location)
            if stock not in used:
                used.add(stock)
                needs.append((stock, QTY.draw(rng)))
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

    _GAPS = {
        "reserve": (10 * MIN, 4 * HOUR),
        "issue": (4 * HOUR, 2 * DAY),
        "release": (HOUR, DAY),
        "complete": (2 * HOUR, 3 * DAY),
        "return_part": (HOUR, 2 * DAY),
        "return_device": (DAY, 4 * DAY),
        "drop": (DAY, 5 * DAY),
    }

    def _advance_repair(self, t: int, repair: Repair) -> None:
        if self._blocked(t, repair, self._advance_repair) or not repair.todo:
            return
        action, stock, qty = repair.todo.popleft()
        _ACTIONS[action](self, repair, t, stock, qty)
        if repair.todo:
            following = repair.todo[0][0]
            low, high = self._GAPS[following]
            at = t + self._between(low, high) * repair.slow
            if following == "issue":
                at = max(at, repair.wait_until)
            self._at(at, self._advance_repair, repair)

    def _reserve_part(self, repair: Repair, t: int, stock: StockRecord | None, qty: int) -> None:
        assert stock is not None
        stock_out = qty > stock.available
        if not stock_out:
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
            stock.movement(qty, repair_id=repair.id),
            error=stock_out,
            owner=repair.customer,
        )
        self._check_reorder(t, stock)

    def _issue_part(self, repair: Repair, t: int, stock: StockRecord | None, qty: int) -> None:
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
            stock.movement(qty, repair_id=repair.id),
            owner=repair.customer,
        )
        self._check_reorder(t, stock)

    def _lower_backorder(self, repair: Repair, stock: StockRecord, qty: int) -> None:
        open_backorder = repair.backorders.get(stock, 0)
        if open_backorder:
            lowered = min(qty, open_backorder)
            repair.backorders[stock] = open_backorder - lowered
            stock.backordered -= lowered

    def _release_part(self, repair: Repair, t: int, stock: StockRecord | None, qty: int) -> None:
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
            stock.movement(qty, repair_id=repair.id),
            owner=repair.customer,
        )

    def _complete_repair(self, repair: Repair, t: int, _stock: StockRecord | None,
                         _qty: int) -> None:
        rng = self.rng
        if repair.rounds < 2 and rng.random() < (3 if repair.rounds else 4) * self.e:
            outcome = "not_fixed"
        else:
            outcome = "no_fault_found" if rng.random() < 0.1 else "fixed"
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
            error=outcome == "not_fixed",
        )
        if outcome == "not_fixed":
            if rng.random() < 0.3:  # the customer gives up on it
                repair.todo.append(("drop", None, 0))
            else:
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

    def _return_part(self, repair: Repair, t: int, stock: StockRecord | None, qty: int) -> None:
        assert stock is not None
        self._send(
            t,
            "part.returned",
            None,
            "system",
            "wms",
            stock.movement(qty, repair_id=repair.id),
            repair,
            arrive=partial(self._add_stock, stock, qty),
            owner=repair.customer,
        )

    def _drop_repair(self, repair: Repair, t: int, _stock: StockRecord | None, _qty: int) -> None:
        """Never completed (again): the booked parts go back on the shelf, nothing else."""
        for stock, reserved in list(repair.reservations.items()):
            if reserved > 0:
                self._release_part(repair, t, stock, reserved)
        repair.state = "dropped"
        self._free_serial(repair)

    @staticmethod
    def _free_serial(repair: Repair) -> None:
        customer, serial = repair.customer, repair.serial
        if not any(r.serial == serial and r.state in ("open", "done") for r in customer.repairs):
            customer.in_repair.discard(serial)

    def _return_device(self, repair: Repair, t: int, _stock: StockRecord | None, _qty: int) -> None:
        repair.state = "returned"
        self._free_serial(repair)
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
        elif self.rng.random() < 0.25:  # a zero invoice, for the record
            self._at(t + self._between(2 * HOUR, DAY), self._issue_repair_invoice, repair)


_Action = Callable[[RepairSteps, Repair, int, StockRecord | None, int], None]
#: What each planned step does, by the name `Repair.todo` plans (and `_GAPS` times) it under.
_ACTIONS: dict[str, _Action] = {
    "reserve": RepairSteps._reserve_part,
    "issue": RepairSteps._issue_part,
    "release": RepairSteps._release_part,
    "complete": RepairSteps._complete_repair,
    "return_part": RepairSteps._return_part,
    "return_device": RepairSteps._return_device,
    "drop": RepairSteps._drop_repair,
}
