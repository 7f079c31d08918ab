"""Invoices: issued, then any number of payments, reminders and corrections (contract 2.2)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from domain.base import Entity, TouchpointEvent, envelope

if TYPE_CHECKING:
    from schemas.touchpoint import InvoiceCorrected, InvoiceIssued, InvoicePaid, InvoiceReminderSent


class Invoice(Entity):
    KIND = "invoice"

    class Issued(TouchpointEvent, Entity.Created):
        invoice_id: str
        amount: Decimal
        currency: str
        due_date: date
        order_id: str | None

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
        return cls._create(
            cls.Issued,
            id=cls.id_for(tp.invoice_id),
            invoice_id=tp.invoice_id,
            amount=tp.amount,
            currency=tp.currency,
            due_date=tp.due_date,
            order_id=tp.order_id,
            **envelope(tp),
        )

    def pay(self, tp: InvoicePaid) -> None:
        self.trigger_event(self.Paid, invoice_id=self.key, amount=tp.amount, **envelope(tp))

    def remind(self, tp: InvoiceReminderSent) -> None:
        self.trigger_event(self.ReminderSent, invoice_id=self.key, **envelope(tp))

    def correct(self, tp: InvoiceCorrected) -> None:
        self.trigger_event(
            self.Corrected,
            invoice_id=self.key,
            error_type=tp.error_type,
            amount_delta=tp.amount_delta,
            **envelope(tp),
        )
