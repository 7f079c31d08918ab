"""Invoices: issued, then any number of payments, reminders and corrections (contract 2.2).

``Invoice.Issued`` is at class version 2, which added ``terms_days``. Events stored at
version 1 stay in the store byte for byte; the mapper upcasts them when they are read.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from journey.domain.base import Entity, TouchpointEvent

if TYPE_CHECKING:
    from journey.schemas.touchpoint import (
        InvoiceCorrected,
        InvoiceIssued,
        InvoicePaid,
        InvoiceReminderSent,
    )


class Invoice(Entity):
    KIND = "invoice"

    class Issued(TouchpointEvent, Entity.Created):
        """An invoice was issued. Version 2 added ``terms_days`` (see ``terms_days()``)."""

        class_version = 2

        invoice_id: str
        amount: Decimal
        currency: str
        due_date: date
        order_id: str | None
        terms_days: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 lacked ``terms_days``; it follows exactly from fields v1 had."""
            state["terms_days"] = terms_days(state["occurred_at"], state["due_date"])

    class Paid(TouchpointEvent):
        invoice_id: str
        amount: Decimal

    class ReminderSent(TouchpointEvent):
        invoice_id: str

    class Corrected(TouchpointEvent):
        invoice_id: str
        error_type: str
        amount_delta: Decimal

    def __init__(self, invoice_id: str, customer_id: str) -> None:
        self.key = invoice_id
        self.customer_id = customer_id

    @classmethod
    def issue(cls, tp: InvoiceIssued) -> Invoice:
        return cls.create(
            cls.Issued,
            cls.id_for(tp.invoice_id),
            tp,
            invoice_id=tp.invoice_id,
            amount=tp.amount,
            currency=tp.currency,
            due_date=tp.due_date,
            order_id=tp.order_id,
            terms_days=terms_days(tp.occurred_at, tp.due_date),
        )

    def pay(self, tp: InvoicePaid) -> None:
        self.trigger(self.Paid, tp, invoice_id=self.key, amount=tp.amount)

    def remind(self, tp: InvoiceReminderSent) -> None:
        self.trigger(self.ReminderSent, tp, invoice_id=self.key)

    def correct(self, tp: InvoiceCorrected) -> None:
        self.trigger(self.Corrected, tp, invoice_id=self.key, error_type=tp.error_type,
                     amount_delta=tp.amount_delta)


def terms_days(issued_at: datetime, due_date: date) -> int:
    """Payment terms in days: from the UTC calendar day of issue to the due date.

    ``30`` for an invoice issued 2026-03-01 and due 2026-03-31; ``0`` when due the day
    it is issued; negative when the due date lies before the day of issue.
    """
    return (due_date - issued_at.astimezone(UTC).date()).days
