"""Complaint cases: opened by an enquiry or a complaint, then contacts, resolution,
reopening and closing; a product or repair complaint may turn into a warranty repair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from journey.infra.workload.catalogue import (
    CASE_CHANNEL,
    CASE_GAPS,
    CATEGORY_TEXT,
    COMPLAINT_DEMAND,
    COMPLAINT_PACE,
    CONTACTS,
    DAY,
    INQUIRY_CATEGORIES,
    INQUIRY_DEMAND,
    INQUIRY_PACE,
    MIN,
    REOPEN_REASONS,
    RESOLUTIONS,
    SCORE_AFTER_ERROR,
    SCORE_NO_ERROR,
)
from journey.infra.workload.entities import Case, Customer, Repair, SimEntity
from journey.infra.workload.simulation import Simulation


class CaseSteps(Simulation):
    """The complaint lifecycle."""

    # Other lifecycles' steps, for the type checker only: `Journeys` mixes in the real
    # ones, and a stub defined here at run time would shadow them.
    if TYPE_CHECKING:

        def _repair_location(self) -> int: ...

        def _new_repair(
            self,
            t: int,
            customer: Customer,
            serial: str,
            location: int,
            warranty: bool,
            case: Case | None,
        ) -> Repair: ...

    def _inquire(self, t: int, customer: Customer) -> None:
        rng = self.rng
        subject: SimEntity | None = None
        if rng.random() < 0.5:
            known = self._visible([*customer.orders, *customer.invoices, *customer.repairs])
            subject = rng.choice(known) if known else None
        category = self._category(subject) if subject else rng.choice(INQUIRY_CATEGORIES)
        demand = INQUIRY_DEMAND.draw(rng)
        self._open_case(t, customer, category, subject, demand, unhappy=False)

    def _complain_about(self, t: int, subject: SimEntity) -> None:
        """A complaint after a service error: failure demand, mostly not labelled as such."""
        if self._blocked(t, subject, self._complain_about):
            return
        demand = COMPLAINT_DEMAND.draw(self.rng)
        self._open_case(t, subject.customer, self._category(subject), subject, demand, unhappy=True)

    def _category(self, subject: SimEntity) -> str:
        if subject.kind == "order":
            return self.rng.choice(("delivery", "product"))
        if subject.kind == "invoice":
            return "billing"
        return self.rng.choice(("repair", "repair", "parts"))

    def _open_case(
        self,
        t: int,
        customer: Customer,
        category: str,
        subject: SimEntity | None,
        demand: str | None,
        unhappy: bool,
    ) -> None:
        rng = self.rng
        case = Case(self._next_id("CASE"), customer)
        pace = (COMPLAINT_PACE if unhappy else INQUIRY_PACE).draw(rng)
        case.gap = CASE_GAPS[pace]
        case.contacts_left = 0 if pace == "quick" else CONTACTS.draw(rng)
        case.stuck = rng.random() < 0.05
        customer.cases.append(case)
        self.pool.append(case)
        fields: dict[str, Any] = {"case_id": case.id, "category": category}
        if subject is not None:
            fields["subject"] = {"type": subject.kind, "id": subject.id}
        if demand is not None:
            fields["demand"] = demand
        if rng.random() < 0.6:
            fields["text"] = rng.choice(CATEGORY_TEXT[category])
        channel = CASE_CHANNEL.draw(rng)
        self._send(t, "complaint.opened", customer, channel, "crm", fields, case)
        first = (5 * MIN, 55 * MIN) if pace == "quick" else case.gap
        self._at(t + self._between(*first), self._advance_case, case)
        if category in ("product", "repair") and rng.random() < 0.35:
            self._at(t + self._between(DAY, 3 * DAY), self._case_repair, case)

    def _advance_case(self, t: int, case: Case) -> None:
        if self._blocked(t, case, self._advance_case):
            return
        rng = self.rng
        gap = self._between(*case.gap)
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
            fields: dict[str, Any] = {"case_id": cid, "resolution": rng.choice(RESOLUTIONS)}
            if rng.random() < 0.75:  # steps run in business-time order: an error so far is
                # one before this rating, even if it arrives after it (held back, late)
                scores = SCORE_NO_ERROR if customer.erred_at < 0 else SCORE_AFTER_ERROR
                fields["satisfaction"] = scores.draw(rng)
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
                {"case_id": cid, "reason": rng.choice(REOPEN_REASONS)},
                case,
                error=True,
            )
        elif case.state == "resolved" and case.next == "close":
            case.state = "closed"
            self._send(t, "complaint.closed", customer, "system", "crm", {"case_id": cid}, case)
            return
        else:
            return
        self._at(t + gap, self._advance_case, case)

    def _case_repair(self, t: int, case: Case) -> None:
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
