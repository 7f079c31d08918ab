"""Deciding one validated touchpoint: which aggregates it changes, or why it is refused.

The rules of contract 2.1 apply in the table's order: ``already_exists``, then
``unknown_entity`` (the entity and everything it references), then
``customer_mismatch``, then the aggregate's own checks (transition, quantity,
stock). Every check runs before the first event is triggered, so a refused
touchpoint changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from journey.domain.base import Entity
from journey.domain.cases import Case
from journey.domain.errors import TouchpointRejected
from journey.domain.invoices import Invoice
from journey.domain.orders import Order
from journey.domain.repairs import Repair
from journey.domain.stock import PartStock
from journey.schemas import touchpoint as tps

E = TypeVar("E", bound=Entity)

ENTITY_CLASSES: dict[str, type[Entity]] = {
    cls.KIND: cls for cls in (Order, Invoice, Case, Repair)
}


class Entities(Protocol):
    """Where the decider finds aggregates (a cache over the store, or a dict in tests)."""

    def get(self, aggregate_id: UUID) -> Aggregate | None: ...


def referenced_ids(tp: tps.Touchpoint) -> list[UUID]:
    """Every aggregate a touchpoint may read, so a batch can load them all at once."""
    ids = []
    for kind, key in _references(tp):
        ids.append(ENTITY_CLASSES[kind].id_for(key))
    if isinstance(tp, tps.PartTouchpoint):
        ids.append(PartStock.id_for(tp.part_id, tp.location))
        if isinstance(tp, tps.PartTransferred):
            ids.append(PartStock.id_for(tp.part_id, tp.to_location))
    return ids


_REFERENCE_FIELDS = (("order", "order_id"), ("invoice", "invoice_id"), ("case", "case_id"),
                     ("repair", "repair_id"))


@cache
def _reference_fields(model: type[tps.Touchpoint]) -> tuple[tuple[str, str], ...]:
    # Asking a pydantic model for a field it lacks is slow; ask each class once.
    return tuple((kind, name) for kind, name in _REFERENCE_FIELDS if name in model.model_fields)


def _references(tp: tps.Touchpoint) -> list[tuple[str, str]]:
    refs: list[tuple[str, str]] = []
    for kind, name in _reference_fields(type(tp)):
        key = getattr(tp, name)
        if key is not None:
            refs.append((kind, key))
    if isinstance(tp, tps.ComplaintOpened) and tp.subject is not None:
        refs.append((tp.subject.type, tp.subject.id))
    return refs


class Decider:
    """Turns a validated touchpoint into aggregate commands; returns the changed aggregates."""

    def __init__(self, entities: Entities) -> None:
        self.entities = entities

    def decide(self, tp: tps.Touchpoint) -> list[Aggregate]:
        handler = _HANDLERS[type(tp)]
        return handler(self, tp)

    # Lookups in contract order.

    def existing(self, cls: type[E], key: str) -> E | None:
        found = self.entities.get(cls.id_for(key))
        assert found is None or isinstance(found, cls), found
        return found

    def check_new(self, cls: type[E], key: str) -> None:
        if self.existing(cls, key) is not None:
            raise TouchpointRejected("already_exists", f"{cls.KIND}:{key} exists already")

    def named(self, cls: type[E], key: str, what: str | None = None) -> E:
        found = self.existing(cls, key)
        if found is None:
            where = f" ({what})" if what else ""
            raise TouchpointRejected("unknown_entity", f"{cls.KIND}:{key} does not exist{where}")
        return found

    def stock(self, part_id: str, location: str) -> PartStock:
        found = self.entities.get(PartStock.id_for(part_id, location))
        if found is None:
            # Unsaved until the touchpoint is accepted; dropped with it otherwise.
            return PartStock.register(part_id, location)
        assert isinstance(found, PartStock)
        return found

    @staticmethod
    def check_customers(customer_id: str | None, *owned: Entity) -> None:
        for entity in owned:
            entity.check_customer(customer_id)

    # Creating types.

    def place_order(self, tp: tps.PurchasePlaced) -> list[Aggregate]:
        self.check_new(Order, tp.order_id)
        return [Order.place(tp)]

    def issue_invoice(self, tp: tps.InvoiceIssued) -> list[Aggregate]:
        self.check_new(Invoice, tp.invoice_id)
        if tp.order_id is not None:
            order = self.named(Order, tp.order_id, "order_id")
            self.check_customers(tp.customer_id, order)
        return [Invoice.issue(tp)]

    def open_case(self, tp: tps.ComplaintOpened) -> list[Aggregate]:
        self.check_new(Case, tp.case_id)
        if tp.subject is not None:
            subject = self.named(ENTITY_CLASSES[tp.subject.type], tp.subject.id, "subject")
            self.check_customers(tp.customer_id, subject)
        return [Case.open(tp)]

    def request_repair(self, tp: tps.RepairRequested) -> list[Aggregate]:
        self.check_new(Repair, tp.repair_id)
        if tp.case_id is not None:
            case = self.named(Case, tp.case_id, "case_id")
            self.check_customers(tp.customer_id, case)
        return [Repair.request(tp)]

    # Lifecycle types: find the entity, check its owner, let it decide.

    def lifecycle(self, cls: type[E], key: str, tp: tps.Touchpoint,
                  command: Callable[[E, Any], None]) -> list[Aggregate]:
        entity = self.named(cls, key)
        entity.check_customer(tp.customer_id)
        command(entity, tp)
        return [entity]

    # Part movements: the named repair must exist; then the stock decides.

    def move_part(self, tp: tps.PartTouchpoint, command: Callable[[PartStock, Any], None]
                  ) -> list[Aggregate]:
        for kind, key in _references(tp):  # the repair a movement names must exist
            self.named(ENTITY_CLASSES[kind], key, "repair_id")
        stock = self.stock(tp.part_id, tp.location)
        command(stock, tp)
        return [stock]

    def transfer(self, tp: tps.PartTransferred) -> list[Aggregate]:
        source = self.stock(tp.part_id, tp.location)
        target = self.stock(tp.part_id, tp.to_location)
        target.check_room(tp.qty)  # invalid_quantity comes before insufficient_stock (2.1)
        source.check_can_transfer(tp)
        source.transfer_out(tp)
        target.transfer_in(tp)
        return [source, target]


def _lifecycle(cls: type[E], field: str, method: str) -> Callable[[Decider, Any], list[Aggregate]]:
    command = getattr(cls, method)

    def handle(decider: Decider, tp: Any) -> list[Aggregate]:
        return decider.lifecycle(cls, getattr(tp, field), tp, command)
    return handle


def _movement(method: str) -> Callable[[Decider, Any], list[Aggregate]]:
    command = getattr(PartStock, method)

    def handle(decider: Decider, tp: Any) -> list[Aggregate]:
        return decider.move_part(tp, command)
    return handle


_HANDLERS: dict[type[tps.Touchpoint], Callable[[Decider, Any], list[Aggregate]]] = {
    tps.PurchasePlaced: Decider.place_order,
    tps.PurchaseDelivered: _lifecycle(Order, "order_id", "deliver"),
    tps.PurchaseDeliveryFailed: _lifecycle(Order, "order_id", "fail_delivery"),
    tps.PurchaseReturned: _lifecycle(Order, "order_id", "take_back"),
    tps.PurchaseCancelled: _lifecycle(Order, "order_id", "cancel"),
    tps.InvoiceIssued: Decider.issue_invoice,
    tps.InvoicePaid: _lifecycle(Invoice, "invoice_id", "pay"),
    tps.InvoiceReminderSent: _lifecycle(Invoice, "invoice_id", "remind"),
    tps.InvoiceCorrected: _lifecycle(Invoice, "invoice_id", "correct"),
    tps.ComplaintOpened: Decider.open_case,
    tps.ComplaintContactLogged: _lifecycle(Case, "case_id", "log_contact"),
    tps.ComplaintResolved: _lifecycle(Case, "case_id", "resolve"),
    tps.ComplaintReopened: _lifecycle(Case, "case_id", "reopen"),
    tps.ComplaintClosed: _lifecycle(Case, "case_id", "close"),
    tps.RepairRequested: Decider.request_repair,
    tps.RepairCompleted: _lifecycle(Repair, "repair_id", "complete"),
    tps.RepairReturned: _lifecycle(Repair, "repair_id", "hand_back"),
    tps.PartReceived: _movement("receive"),
    tps.PartReserved: _movement("reserve"),
    tps.PartReleased: _movement("release"),
    tps.PartIssued: _movement("issue"),
    tps.PartReturned: _movement("take_return"),
    tps.PartAdjusted: _movement("adjust"),
    tps.PartTransferred: Decider.transfer,
}
