"""Complaint cases: opened, contacts, resolved, reopened, closed (contract 2.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from journey.domain.base import Entity, TouchpointEvent

if TYPE_CHECKING:
    from journey.schemas.touchpoint import (
        ComplaintClosed,
        ComplaintContactLogged,
        ComplaintOpened,
        ComplaintReopened,
        ComplaintResolved,
    )


class Case(Entity):
    KIND = "case"

    class Opened(TouchpointEvent, Entity.Created):
        case_id: str
        category: str
        subject: dict[str, Any] | None
        demand: str
        text: str | None

    class ContactLogged(TouchpointEvent):
        case_id: str
        direction: str

    class Resolved(TouchpointEvent):
        case_id: str
        resolution: str
        satisfaction: int | None

        def apply(self, case: Case) -> None:
            case.status = "resolved"

    class Reopened(TouchpointEvent):
        case_id: str
        reason: str

        def apply(self, case: Case) -> None:
            case.status = "open"

    class Closed(TouchpointEvent):
        case_id: str

        def apply(self, case: Case) -> None:
            case.status = "closed"

    def __init__(self, case_id: str, customer_id: str) -> None:
        self.key = case_id
        self.customer_id = customer_id
        self.status = "open"

    @classmethod
    def open(cls, tp: ComplaintOpened) -> Case:
        subject = None if tp.subject is None else {"type": tp.subject.type, "id": tp.subject.id}
        return cls.create(
            cls.Opened,
            cls.id_for(tp.case_id),
            tp,
            case_id=tp.case_id,
            category=tp.category,
            subject=subject,
            demand=tp.demand,
            text=tp.text,
        )

    def check_status(self, tp_type: str, *allowed: str) -> None:
        if self.status not in allowed:
            raise self.transition_refused(tp_type, self.status)

    def log_contact(self, tp: ComplaintContactLogged) -> None:
        self.check_status(tp.type, "open")
        self.trigger(self.ContactLogged, tp, case_id=self.key, direction=tp.direction)

    def resolve(self, tp: ComplaintResolved) -> None:
        self.check_status(tp.type, "open")
        self.trigger(self.Resolved, tp, case_id=self.key, resolution=tp.resolution,
                     satisfaction=tp.satisfaction)

    def reopen(self, tp: ComplaintReopened) -> None:
        self.check_status(tp.type, "resolved")
        self.trigger(self.Reopened, tp, case_id=self.key, reason=tp.reason)

    def close(self, tp: ComplaintClosed) -> None:
        self.check_status(tp.type, "resolved")
        self.trigger(self.Closed, tp, case_id=self.key)
