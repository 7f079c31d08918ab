"""Repairs: requested, completed (again while not fixed), returned once (contract 2.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from journey.domain.base import Entity, TouchpointEvent

if TYPE_CHECKING:
    from journey.schemas.touchpoint import RepairCompleted, RepairRequested, RepairReturned


class Repair(Entity):
    KIND = "repair"

    class Requested(TouchpointEvent, Entity.Created):
        repair_id: str
        serial: str
        fault: str
        warranty: bool
        case_id: str | None

    class Completed(TouchpointEvent):
        repair_id: str
        outcome: str

        def apply(self, repair: Repair) -> None:
            if self.outcome != "not_fixed":
                repair.status = "done"

    class Returned(TouchpointEvent):
        repair_id: str

        def apply(self, repair: Repair) -> None:
            repair.status = "returned"

    def __init__(self, repair_id: str, customer_id: str) -> None:
        self.key = repair_id
        self.customer_id = customer_id
        self.status = "open"

    @classmethod
    def request(cls, tp: RepairRequested) -> Repair:
        return cls.create(
            cls.Requested,
            cls.id_for(tp.repair_id),
            tp,
            repair_id=tp.repair_id,
            serial=tp.serial,
            fault=tp.fault,
            warranty=tp.warranty,
            case_id=tp.case_id,
        )

    def complete(self, tp: RepairCompleted) -> None:
        if self.status != "open":
            raise self.transition_refused(tp.type, self.status)
        self.trigger(self.Completed, tp, repair_id=self.key, outcome=tp.outcome)

    def hand_back(self, tp: RepairReturned) -> None:
        if self.status != "done":
            raise self.transition_refused(tp.type, self.status)
        self.trigger(self.Returned, tp, repair_id=self.key)
