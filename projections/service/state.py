"""The service view's rows, and the fold's state: what it knows of each entity.

One row per case, repair, invoice and rating, the earliest error per customer, the invoice
sums per (month, currency). The fold changes rows in place; ``MemoryServiceState`` keeps them
in dicts (unit tests, rebuilds that start empty), ``table.SqlServiceState`` loads the rows a
batch needs from the view tables first, in bulk.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from journey.projections.service.figures import ZERO, money_text


@dataclass(slots=True)
class CaseRow:
    case_id: str
    customer_id: str
    month: str  # of complaint.opened
    opened_us: int
    resolved_us: int | None = None  # the earliest complaint.resolved
    reopened: int = 0  # 1: at least one complaint.reopened

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.case_id, self.customer_id, self.month, self.opened_us, self.resolved_us,
                self.reopened)


@dataclass(slots=True)
class RepairRow:
    """A repair; before its request arrives (the Kafka view worker only: a part movement
    naming it came first) only ``repair_id`` and ``part_error_us`` are known."""

    repair_id: str
    customer_id: str | None = None
    serial: str | None = None
    month: str | None = None  # of repair.requested
    requested_us: int | None = None
    request_error: int = 0  # 1: the request has an error code (its own, or repeat_repair)
    done_us: int | None = None  # the earliest completion (ties: the first to arrive)
    done_seq: int | None = None
    done_outcome: str | None = None
    fixed_us: int | None = None  # the completion with outcome fixed (at most one)
    part_error_us: int | None = None  # the earliest part movement naming it with a code

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.repair_id, self.customer_id, self.serial, self.month, self.requested_us,
                self.request_error, self.done_us, self.done_seq, self.done_outcome, self.fixed_us,
                self.part_error_us)


@dataclass(slots=True)
class InvoiceRecord:
    invoice_id: str
    customer_id: str
    currency: str
    month: str  # of invoice.issued
    due_date: str  # YYYY-MM-DD
    issued_amount: Decimal
    corrections: Decimal = ZERO  # the sum of accepted corrections' amount_delta
    amount: Decimal = ZERO  # issued_amount + corrections
    paid: Decimal = ZERO
    balance: Decimal = ZERO  # amount - paid
    reminders: int = 0

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.invoice_id, self.customer_id, self.currency, self.month, self.due_date,
                money_text(self.issued_amount), money_text(self.corrections),
                money_text(self.amount), money_text(self.paid), money_text(self.balance),
                int(self.balance > 0), self.reminders)


@dataclass(slots=True)
class InvoiceSums:
    month: str
    currency: str
    issued: int = 0
    amount: Decimal = ZERO
    paid: Decimal = ZERO
    outstanding: Decimal = ZERO  # the sum of positive balances

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.month, self.currency, self.issued, money_text(self.amount),
                money_text(self.paid), money_text(self.outstanding))


@dataclass(slots=True)
class RatingRow:
    touchpoint_id: str  # the complaint.resolved that carries it
    customer_id: str
    case_id: str
    month: str
    occurred_us: int
    score: int
    after_error: int = 0

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.touchpoint_id, self.customer_id, self.case_id, self.month,
                self.occurred_us, self.score, self.after_error)


class MemoryServiceState:
    """Every row in dicts: for unit tests, and for rebuilds that start empty."""

    def __init__(self) -> None:
        self.cases: dict[str, CaseRow] = {}
        self.repairs: dict[str, RepairRow] = {}
        self.serials: dict[str, list[RepairRow]] = {}
        self.invoices: dict[str, InvoiceRecord] = {}
        self.invoice_months: dict[tuple[str, str], InvoiceSums] = {}
        self.errors: dict[str, int] = {}  # customer: occurred_us of the earliest error
        self.ratings: dict[str, list[RatingRow]] = {}  # customer: ratings with no error yet

    def prepare(self, events: Sequence[tuple[int, Any]]) -> None:
        """What a batch will ask for, before it is folded (a SQL state loads it in bulk)."""

    def case(self, case_id: str) -> CaseRow | None:
        return self.cases.get(case_id)

    def repair(self, repair_id: str) -> RepairRow | None:
        return self.repairs.get(repair_id)

    def serial_repairs(self, serial: str) -> list[RepairRow]:
        """The requested repairs of a serial."""
        return self.serials.setdefault(serial, [])

    def invoice(self, invoice_id: str) -> InvoiceRecord | None:
        return self.invoices.get(invoice_id)

    def invoice_month(self, month: str, currency: str) -> InvoiceSums | None:
        return self.invoice_months.get((month, currency))

    def first_error(self, customer_id: str) -> int | None:
        return self.errors.get(customer_id)

    def no_error_ratings(self, customers: Collection[str]) -> dict[str, list[RatingRow]]:
        """The ratings of these customers that are not after an error (yet)."""
        return {c: self.ratings[c] for c in customers if c in self.ratings}

    # What the fold learned (a SQL state keeps it for the batch, the memory state for good).

    def add_case(self, row: CaseRow) -> None:
        self.cases[row.case_id] = row

    def add_repair(self, row: RepairRow) -> None:
        self.repairs[row.repair_id] = row

    def add_serial_repair(self, row: RepairRow) -> None:
        assert row.serial is not None
        self.serial_repairs(row.serial).append(row)

    def add_invoice(self, row: InvoiceRecord) -> None:
        self.invoices[row.invoice_id] = row

    def add_invoice_month(self, row: InvoiceSums) -> None:
        self.invoice_months[(row.month, row.currency)] = row

    def set_first_error(self, customer_id: str, occurred_us: int) -> None:
        self.errors[customer_id] = occurred_us

    def keep_ratings(self, customer_id: str, rows: list[RatingRow]) -> None:
        """What remains of a customer's ratings with no error before them once their
        earliest error moved."""
        if rows:
            self.ratings[customer_id] = rows
        else:
            self.ratings.pop(customer_id, None)

    def add_ratings(self, customer_id: str, rows: list[RatingRow]) -> None:
        """A batch's new ratings with no error before them."""
        self.ratings.setdefault(customer_id, []).extend(rows)
