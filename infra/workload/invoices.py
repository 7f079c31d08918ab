"""Invoices: issued for a delivered order or a returned repair, then paid (in full, in two
halves, in part, too much, late or never), reminded and corrected up or down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from journey.infra.workload.catalogue import DAY, ERROR_TYPES, HOUR, PAYER
from journey.infra.workload.entities import Customer, Invoice, Order, Repair, SimEntity
from journey.infra.workload.simulation import Simulation


class InvoiceSteps(Simulation):
    """The invoice lifecycle; a corrected invoice may bring a complaint."""

    # Other lifecycles' steps, for the type checker only: `Journeys` mixes in the real
    # ones, and a stub defined here at run time would shadow them.
    if TYPE_CHECKING:

        def _complain_about(self, t: int, subject: SimEntity) -> None: ...

    def _issue_order_invoice(self, t: int, order: Order) -> None:
        if not self._blocked(t, order, self._issue_order_invoice):
            self._issue_invoice(t, order.customer, order.total, order)

    def _issue_repair_invoice(self, t: int, repair: Repair) -> None:
        """Parts and labour out of warranty; a warranty repair's invoice is for nothing."""
        if not self._blocked(t, repair, self._issue_repair_invoice):
            self._issue_invoice(t, repair.customer, 0 if repair.warranty else repair.cost, None)

    def _issue_invoice(self, t: int, customer: Customer, cents: int, order: Order | None) -> None:
        rng = self.rng
        due = t + rng.choice((14, 14, 21, 30)) * DAY
        invoice = Invoice(self._next_id("INV"), customer, cents, due)
        customer.invoices.append(invoice)
        self.pool.append(invoice)
        fields: dict[str, Any] = {"invoice_id": invoice.id}
        if order is not None:
            fields["order_id"] = order.id
        fields.update(
            amount=self._money(cents), currency=customer.currency, due_date=self._date(due)
        )
        self._send(t, "invoice.issued", customer, "email", "billing", fields)
        if rng.random() < 2 * self.e:
            self._at(t + self._between(DAY, 10 * DAY), self._correct_invoice, invoice)
        if cents == 0:
            invoice.payer = "never"  # nothing to pay (unless corrected up)
            return
        invoice.payer = payer = PAYER.draw(rng)
        if payer in ("late", "never"):
            self._at(due + self._between(DAY, 3 * DAY), self._remind_invoice, invoice)
        else:
            self._at(t + self._between(DAY, due - t), self._pay_invoice, invoice)

    def _pay_invoice(self, t: int, invoice: Invoice) -> None:
        if self._blocked(t, invoice, self._pay_invoice):
            return
        balance = invoice.amount - invoice.paid
        if balance <= 0:
            return
        rng, payer, first = self.rng, invoice.payer, invoice.paid == 0
        amount = balance
        if first and payer == "split" and balance > 1:
            amount = balance // 2
            self._at(t + self._between(7 * DAY, 20 * DAY), self._pay_invoice, invoice)
        elif first and payer == "partial" and balance > 1:
            amount = max(1, balance * self._between(20, 80) // 100)  # and the rest never
            due = max(invoice.due, t)
            self._at(due + self._between(DAY, 3 * DAY), self._remind_invoice, invoice)
        elif first and payer == "over":
            if rng.random() < 0.5:
                amount = balance + self._between(1, 2000)  # rounded up, or a tip
            else:  # the same payment twice
                self._at(t + self._between(2 * DAY, 10 * DAY), self._pay_again, invoice)
        invoice.paid += amount
        self._payment(t, invoice, amount)

    def _pay_again(self, t: int, invoice: Invoice) -> None:
        if not self._blocked(t, invoice, self._pay_again):
            amount = invoice.paid
            invoice.paid += amount
            self._payment(t, invoice, amount)

    def _payment(self, t: int, invoice: Invoice, amount: int) -> None:
        self._send(
            t,
            "invoice.paid",
            invoice.customer,
            "system",
            "payments",
            {"invoice_id": invoice.id, "amount": self._money(amount)},
            invoice,
        )

    def _remind_invoice(self, t: int, invoice: Invoice) -> None:
        if self._blocked(t, invoice, self._remind_invoice):
            return
        if invoice.amount - invoice.paid <= 0:
            return
        invoice.reminders += 1
        self._send(
            t,
            "invoice.reminder_sent",
            invoice.customer,
            "email",
            "dunning",
            {"invoice_id": invoice.id},
            invoice,
        )
        pays = 0.7 if invoice.payer == "late" else 0.15
        if self.rng.random() < pays:
            self._at(t + self._between(2 * DAY, 10 * DAY), self._pay_invoice, invoice)
        elif invoice.reminders < 3:
            self._at(t + 14 * DAY, self._remind_invoice, invoice)

    def _correct_invoice(self, t: int, invoice: Invoice) -> None:
        if self._blocked(t, invoice, self._correct_invoice):
            return
        rng = self.rng
        error_type = rng.choice(ERROR_TYPES)
        delta = self._correction(error_type, invoice.amount)
        invoice.amount += delta
        if delta > 0 and invoice.paid > 0 and rng.random() < 0.6:  # the difference, later
            self._at(t + self._between(3 * DAY, 20 * DAY), self._pay_invoice, invoice)
        self._send(
            t,
            "invoice.corrected",
            invoice.customer,
            "system",
            "billing",
            {
                "invoice_id": invoice.id,
                "error_type": error_type,
                "amount_delta": self._money(delta),
            },
            invoice,
            error=True,
        )
        if rng.random() < 0.5:
            self._at(t + self._between(2 * HOUR, 3 * DAY), self._complain_about, invoice)

    def _correction(self, error_type: str, amount: int) -> int:
        rng = self.rng
        if error_type in ("duplicate", "wrong_customer") and amount > 0:
            return -amount
        if error_type == "missing_line":
            return self._between(500, 10000)
        if error_type == "tax":
            delta = amount * self._between(3, 8) // 100
        elif error_type == "pricing":
            delta = -(amount * self._between(2, 15) // 100)
        elif amount == 0:
            delta = self._between(100, 5000)
        else:
            delta = amount * self._between(5, 30) // 100
        if amount > 0 and error_type != "pricing" and rng.random() < 0.5:
            delta = -delta  # never below zero: at most 30 % off
        return delta or 100
