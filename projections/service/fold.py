"""The service fold behind the KPIs and invoices (contract 4.6 and 4.8).

Per case: its opening and earliest resolution, whether it was reopened. Per repair: its
request, earliest completion (ties by arrival), its ``fixed`` completion, whether the
request has an error code (its own, or ``repeat_repair``). Per invoice: amounts, payments,
reminders; sums per (month, currency). Per rating: whether the customer met an error by
then; per customer, the earliest error on their timeline. Per month of ``part.reserved``:
reservations and how many were filled.

Late arrivals only ever move things one way, so the rows follow them without recounting:
an earliest time can only get earlier, an error only be added. A customer's earliest error
decides each of their ratings (``after_error`` = an error at or before the rating): it is
settled when a batch's writes are taken, for the batch's new ratings and for the customer's
older ratings with no error before them. Monthly KPI rows are computed from the entity rows
when the batch is written (``table.write_service``), for the months it touched.

The fold does no I/O: it asks a state (``MemoryServiceState``, or ``SqlServiceState`` which
loads what a batch needs from the view tables first) and collects ``ServiceChanges``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from journey.domain.cases import Case
from journey.domain.invoices import Invoice
from journey.domain.repairs import Repair
from journey.domain.stock import PartStock
from journey.projections.classify import TOUCHPOINT_CLASSES, is_repeat
from journey.projections.moments import instant
from journey.projections.service.figures import add, day, money, positive, subtract
from journey.projections.service.state import (
    CaseRow,
    InvoiceRecord,
    InvoiceSums,
    MemoryServiceState,
    RatingRow,
    RepairRow,
)


@dataclass(slots=True)
class ServiceWrites:
    """A batch's changes as plain rows for the view tables (and cheap to pickle)."""

    cases: list[tuple[Any, ...]]  # whole rows, upserted
    repairs: list[tuple[Any, ...]]
    invoices: list[tuple[Any, ...]]
    invoice_months: list[tuple[Any, ...]]
    ratings: list[tuple[Any, ...]]  # new rows, and older ones now after an error
    customers: list[tuple[str, int]]  # customer_id, its earliest error (moved earlier)
    satisfaction: list[tuple[str, int, int, int]]  # month, after_error, score, +ratings
    parts: list[tuple[str, int, int]]  # month, +reservations, +filled
    case_months: list[str]  # months whose case KPIs changed
    repair_months: list[str]
    latest_us: int | None  # the latest occurred_at of the batch's touchpoints


@dataclass
class ServiceChanges:
    cases: dict[str, CaseRow] = field(default_factory=dict)
    repairs: dict[str, RepairRow] = field(default_factory=dict)
    invoices: dict[str, InvoiceRecord] = field(default_factory=dict)
    invoice_months: dict[tuple[str, str], InvoiceSums] = field(default_factory=dict)
    ratings: dict[str, RatingRow] = field(default_factory=dict)  # new ones
    customers: dict[str, int] = field(default_factory=dict)  # earliest error moved earlier
    parts: Counter[tuple[str, int]] = field(default_factory=Counter)  # (month, filled)
    case_months: set[str] = field(default_factory=set)
    repair_months: set[str] = field(default_factory=set)
    latest_us: int | None = None


class ServiceFold:
    """Folds stored events, in log order, into the service view's rows."""

    def __init__(self, state: MemoryServiceState) -> None:
        self.state = state
        self.changes = ServiceChanges()
        handlers: dict[type, Callable[[Any, int, int, str], None]] = {
            Case.Opened: self._opened, Case.Resolved: self._resolved,
            Case.Reopened: self._reopened,
            Repair.Requested: self._requested, Repair.Completed: self._completed,
            Invoice.Issued: self._issued, Invoice.Paid: self._paid,
            Invoice.Corrected: self._corrected, Invoice.ReminderSent: self._reminded,
            PartStock.Reserved: self._reserved, PartStock.Backordered: self._reserved,
        }
        #: Event class -> (its touchpoint class, its handler if any): one look-up an event.
        self.dispatch = {cls: (touchpoint, handlers.get(cls))
                         for cls, touchpoint in TOUCHPOINT_CLASSES.items()}

    def prepare(self, events: Sequence[tuple[int, Any]]) -> None:
        self.state.prepare(events)

    def apply(self, seq: int, event: Any) -> None:
        found = self.dispatch.get(type(event))
        if found is None:
            return
        touchpoint, handler = found
        _, occurred_us, month = instant(event.occurred_at)
        changes = self.changes
        if changes.latest_us is None or occurred_us > changes.latest_us:
            changes.latest_us = occurred_us
        if handler is not None:
            handler(event, seq, occurred_us, month)
        if event.error is None and touchpoint.code_rule is None:
            return  # the common case: no code possible
        if touchpoint.code(event) is None:
            return
        if event.customer_id is not None:
            self._error(event.customer_id, occurred_us)
            return
        repair_id = getattr(event, "repair_id", None)  # a part movement naming a repair
        if repair_id is not None:
            self._part_error(repair_id, occurred_us)

    # --- errors on a customer's timeline --------------------------------------------------

    def _error(self, customer_id: str, occurred_us: int) -> None:
        known = self.state.first_error(customer_id)
        if known is None or occurred_us < known:
            self.state.set_first_error(customer_id, occurred_us)
            self.changes.customers[customer_id] = occurred_us

    def _part_error(self, repair_id: str, occurred_us: int) -> None:
        row = self.state.repair(repair_id)
        if row is None:  # its request has not arrived yet (Kafka): it brings the customer
            row = RepairRow(repair_id)
            self.state.add_repair(row)
        if row.part_error_us is None or occurred_us < row.part_error_us:
            row.part_error_us = occurred_us
            self.changes.repairs[repair_id] = row
        if row.customer_id is not None:
            self._error(row.customer_id, occurred_us)

    # --- cases ------------------------------------------------------------------------------

    def _opened(self, event: Case.Opened, seq: int, occurred_us: int, month: str) -> None:
        assert event.customer_id is not None
        row = CaseRow(event.case_id, event.customer_id, month, occurred_us)
        self.state.add_case(row)
        self._case_changed(row)

    def _resolved(self, event: Case.Resolved, seq: int, occurred_us: int, month: str) -> None:
        row = self.state.case(event.case_id)
        if row is not None and (row.resolved_us is None or occurred_us < row.resolved_us):
            row.resolved_us = occurred_us
            self._case_changed(row)
        if event.satisfaction is not None:
            assert event.customer_id is not None
            self.changes.ratings[event.touchpoint_id] = RatingRow(
                event.touchpoint_id, event.customer_id, event.case_id, month, occurred_us,
                int(event.satisfaction))

    def _reopened(self, event: Case.Reopened, seq: int, occurred_us: int, month: str) -> None:
        row = self.state.case(event.case_id)
        if row is not None and not row.reopened:
            row.reopened = 1
            self._case_changed(row)

    def _case_changed(self, row: CaseRow) -> None:
        self.changes.cases[row.case_id] = row
        self.changes.case_months.add(row.month)

    # --- repairs ----------------------------------------------------------------------------

    def _requested(self, event: Repair.Requested, seq: int, occurred_us: int, month: str
                   ) -> None:
        assert event.customer_id is not None
        row = self.state.repair(event.repair_id)
        if row is None:
            row = RepairRow(event.repair_id)
            self.state.add_repair(row)
        row.customer_id, row.serial, row.month = event.customer_id, event.serial, month
        row.requested_us = occurred_us
        row.request_error = int(TOUCHPOINT_CLASSES[Repair.Requested].code(event) is not None)
        if not row.request_error:
            row.request_error = int(any(
                other.fixed_us is not None and other.repair_id != row.repair_id
                and is_repeat(occurred_us, other.fixed_us)
                for other in self.state.serial_repairs(event.serial)))
            if row.request_error:  # repeat_repair (its own code counts in apply)
                self._error(event.customer_id, occurred_us)
        self.state.add_serial_repair(row)
        if row.part_error_us is not None:  # movements that named it came first
            self._error(event.customer_id, row.part_error_us)
        self._repair_changed(row)

    def _completed(self, event: Repair.Completed, seq: int, occurred_us: int, month: str
                   ) -> None:
        row = self.state.repair(event.repair_id)
        if row is None or row.serial is None:  # the write side has the request come first
            return
        changed = False
        if row.done_us is None or (occurred_us, seq) < (row.done_us, row.done_seq or 0):
            row.done_us, row.done_seq, row.done_outcome = occurred_us, seq, event.outcome
            changed = True
        if event.outcome == "fixed" and (row.fixed_us is None or occurred_us < row.fixed_us):
            row.fixed_us = occurred_us
            changed = True
            for other in self.state.serial_repairs(row.serial):
                if (not other.request_error and other.repair_id != row.repair_id
                        and other.requested_us is not None
                        and is_repeat(other.requested_us, occurred_us)):
                    other.request_error = 1  # a late fixed completion: now a repeat_repair
                    self.changes.repairs[other.repair_id] = other
                    assert other.customer_id is not None
                    self._error(other.customer_id, other.requested_us)
        if changed:
            self._repair_changed(row)

    def _repair_changed(self, row: RepairRow) -> None:
        self.changes.repairs[row.repair_id] = row
        if row.month is not None:
            self.changes.repair_months.add(row.month)

    # --- parts ------------------------------------------------------------------------------

    def _reserved(self, event: Any, seq: int, occurred_us: int, month: str) -> None:
        self.changes.parts[(month, int(type(event) is PartStock.Reserved))] += 1

    # --- invoices ---------------------------------------------------------------------------

    def _issued(self, event: Invoice.Issued, seq: int, occurred_us: int, month: str) -> None:
        assert event.customer_id is not None
        amount = money(event.amount)
        row = InvoiceRecord(event.invoice_id, event.customer_id, event.currency, month,
                            day(event.due_date), amount, amount=amount, balance=amount)
        self.state.add_invoice(row)
        sums = self.state.invoice_month(month, row.currency)
        if sums is None:
            sums = InvoiceSums(month, row.currency)
            self.state.add_invoice_month(sums)
        sums.issued += 1
        sums.amount = add(sums.amount, amount)
        sums.outstanding = add(sums.outstanding, positive(amount))
        self._invoice_changed(row, sums)

    def _paid(self, event: Invoice.Paid, seq: int, occurred_us: int, month: str) -> None:
        row = self.state.invoice(event.invoice_id)
        if row is None:  # the write side has the invoice issued first
            return
        paid = money(event.amount)
        row.paid = add(row.paid, paid)
        sums = self._balance(row, subtract(row.balance, paid))
        sums.paid = add(sums.paid, paid)

    def _corrected(self, event: Invoice.Corrected, seq: int, occurred_us: int, month: str
                   ) -> None:
        row = self.state.invoice(event.invoice_id)
        if row is None:
            return
        delta = money(event.amount_delta)
        row.corrections = add(row.corrections, delta)
        row.amount = add(row.amount, delta)
        sums = self._balance(row, add(row.balance, delta))
        sums.amount = add(sums.amount, delta)

    def _reminded(self, event: Invoice.ReminderSent, seq: int, occurred_us: int, month: str
                  ) -> None:
        row = self.state.invoice(event.invoice_id)
        if row is not None:
            row.reminders += 1
            self.changes.invoices[row.invoice_id] = row

    def _balance(self, row: InvoiceRecord, balance: Decimal) -> InvoiceSums:
        """Give the invoice its new balance, its month's outstanding sum following."""
        sums = self.state.invoice_month(row.month, row.currency)
        assert sums is not None, "an invoice's month has its sums"
        before, row.balance = positive(row.balance), balance
        after = positive(balance)
        if after != before:
            sums.outstanding = add(sums.outstanding, subtract(after, before))
        self._invoice_changed(row, sums)
        return sums

    def _invoice_changed(self, row: InvoiceRecord, sums: InvoiceSums) -> None:
        self.changes.invoices[row.invoice_id] = row
        self.changes.invoice_months[(sums.month, sums.currency)] = sums

    # --- the batch's writes -----------------------------------------------------------------

    def writes(self) -> ServiceWrites:
        """The batch's changes as rows, its ratings settled; the fold then starts afresh
        (its state goes on: the next batch folds onto it)."""
        changes, state = self.changes, self.state
        satisfaction: Counter[tuple[str, int, int]] = Counter()
        ratings: list[RatingRow] = []
        new_by_customer: dict[str, list[RatingRow]] = {}
        for rating in changes.ratings.values():
            first = state.first_error(rating.customer_id)
            rating.after_error = int(first is not None and first <= rating.occurred_us)
            satisfaction[(rating.month, rating.after_error, rating.score)] += 1
            ratings.append(rating)
            if not rating.after_error:
                new_by_customer.setdefault(rating.customer_id, []).append(rating)
        # Older ratings of the customers whose earliest error moved: those at or after it
        # are after an error now (a late error, or a late fixed completion).
        for customer_id, older in state.no_error_ratings(changes.customers).items():
            first = state.first_error(customer_id)
            remaining = []
            for rating in older:
                if first is not None and first <= rating.occurred_us:
                    rating.after_error = 1
                    satisfaction[(rating.month, 0, rating.score)] -= 1
                    satisfaction[(rating.month, 1, rating.score)] += 1
                    ratings.append(rating)
                else:
                    remaining.append(rating)
            state.keep_ratings(customer_id, remaining)
        for customer_id, new in new_by_customer.items():
            state.add_ratings(customer_id, new)
        parts: dict[str, list[int]] = {}
        for (month, filled), n in changes.parts.items():
            counts = parts.setdefault(month, [0, 0])
            counts[0] += n
            counts[1] += n * filled
        written = ServiceWrites(
            cases=[row.as_tuple() for row in changes.cases.values()],
            repairs=[row.as_tuple() for row in changes.repairs.values()],
            invoices=[row.as_tuple() for row in changes.invoices.values()],
            invoice_months=[row.as_tuple() for row in changes.invoice_months.values()],
            ratings=[row.as_tuple() for row in ratings],
            customers=sorted(changes.customers.items()),
            satisfaction=[(*key, n) for key, n in sorted(satisfaction.items()) if n],
            parts=[(month, n, filled) for month, (n, filled) in sorted(parts.items())],
            case_months=sorted(changes.case_months),
            repair_months=sorted(changes.repair_months),
            latest_us=changes.latest_us)
        self.changes = ServiceChanges()
        return written
