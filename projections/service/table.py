"""The service view's tables: their DDL, the fold's state read from them, the writes.

Entity rows (``view_service_cases``, ``_repairs``, ``_invoices``, ``_ratings``,
``_customers``) are upserted whole; counters (``_part_months``, ``_satisfaction``) are
incremented; the monthly KPI rows (``_case_months``, ``_repair_months``) are computed again
from the entity rows of the months a batch touched (an index on month keeps that to the
month's rows), so every table is a function of the accepted events in log order, whatever
the batches were. Money is TEXT with exactly 2 decimals (exact; never a float column).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any

from journey.domain.cases import Case
from journey.domain.invoices import Invoice
from journey.domain.repairs import Repair
from journey.projections.classify import TOUCHPOINT_CLASSES
from journey.projections.moments import instant
from journey.projections.service.figures import P50, P90, percentile, span
from journey.projections.service.fold import ServiceWrites
from journey.projections.service.state import (
    CaseRow,
    InvoiceRecord,
    InvoiceSums,
    MemoryServiceState,
    RatingRow,
    RepairRow,
)
from journey.projections.tables import Dialect, Tables, select_in, write_rows

_CASES = "case_id, customer_id, month, opened_us, resolved_us, reopened"
_REPAIRS = ("repair_id, customer_id, serial, month, requested_us, request_error, done_us, "
            "done_seq, done_outcome, fixed_us, part_error_us")
_INVOICES = ("invoice_id, customer_id, currency, month, due_date, issued_amount, corrections, "
             "amount, paid, balance, unpaid, reminders")
_RATINGS = "touchpoint_id, customer_id, case_id, month, occurred_us, score, after_error"
_INVOICE_MONTHS = "month, currency, issued, amount, paid, outstanding"
#: What ``prepare`` looks for in each touchpoint class (0: only a possible error code).
_RESOLVED, _CASE, _REQUESTED, _COMPLETED, _ISSUED, _INVOICE = range(1, 7)
_NEEDS = {cls: 0 for cls in TOUCHPOINT_CLASSES} | {
    Case.Resolved: _RESOLVED, Case.Reopened: _CASE, Repair.Requested: _REQUESTED,
    Repair.Completed: _COMPLETED, Invoice.Issued: _ISSUED, Invoice.Paid: _INVOICE,
    Invoice.Corrected: _INVOICE, Invoice.ReminderSent: _INVOICE}
#: Classes with an error code of their own (others have one only from an upstream ``error``).
_RULED = frozenset(cls for cls, touchpoint in TOUCHPOINT_CLASSES.items() if touchpoint.code_rule)


def statements(t: Tables, uid: str) -> list[str]:
    """DDL of the tables and their indexes (``uid``: see ``projections.views``)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {t.view_service_cases} (case_id TEXT PRIMARY KEY, "
        "customer_id TEXT NOT NULL, month TEXT NOT NULL, opened_us BIGINT NOT NULL, "
        "resolved_us BIGINT, reopened INTEGER NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS ix_{uid}_cases_month ON {t.view_service_cases} "
        "(month, opened_us, resolved_us, reopened)",  # covers a month's KPIs
        f"CREATE TABLE IF NOT EXISTS {t.view_service_repairs} (repair_id TEXT PRIMARY KEY, "
        "customer_id TEXT, serial TEXT, month TEXT, requested_us BIGINT, "
        "request_error INTEGER NOT NULL, done_us BIGINT, done_seq BIGINT, done_outcome TEXT, "
        "fixed_us BIGINT, part_error_us BIGINT)",
        f"CREATE INDEX IF NOT EXISTS ix_{uid}_repairs_month ON {t.view_service_repairs} "
        "(month, requested_us, done_outcome, fixed_us) WHERE month IS NOT NULL",
        f"CREATE INDEX IF NOT EXISTS ix_{uid}_repairs_serial ON {t.view_service_repairs} "
        "(serial) WHERE serial IS NOT NULL",
        f"CREATE TABLE IF NOT EXISTS {t.view_service_case_months} (month TEXT PRIMARY KEY, "
        "opened BIGINT NOT NULL, resolved BIGINT NOT NULL, reopened BIGINT NOT NULL, "
        "resolve_p50_us BIGINT, resolve_p90_us BIGINT)",
        f"CREATE TABLE IF NOT EXISTS {t.view_service_repair_months} (month TEXT PRIMARY KEY, "
        "requested BIGINT NOT NULL, completed BIGINT NOT NULL, "
        "first_time_fixed BIGINT NOT NULL, fixed BIGINT NOT NULL, fix_p50_us BIGINT, "
        "fix_p90_us BIGINT)",
        f"CREATE TABLE IF NOT EXISTS {t.view_service_part_months} (month TEXT PRIMARY KEY, "
        "reservations BIGINT NOT NULL, filled BIGINT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {t.view_service_ratings} (touchpoint_id TEXT PRIMARY KEY, "
        "customer_id TEXT NOT NULL, case_id TEXT NOT NULL, month TEXT NOT NULL, "
        "occurred_us BIGINT NOT NULL, score INTEGER NOT NULL, after_error INTEGER NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS ix_{uid}_ratings_no_error ON {t.view_service_ratings} "
        "(customer_id) WHERE after_error = 0",
        f"CREATE TABLE IF NOT EXISTS {t.view_service_satisfaction} (month TEXT NOT NULL, "
        "after_error INTEGER NOT NULL, score INTEGER NOT NULL, ratings BIGINT NOT NULL, "
        "PRIMARY KEY (month, after_error, score))",
        f"CREATE TABLE IF NOT EXISTS {t.view_service_customers} ("
        "customer_id TEXT PRIMARY KEY, first_error_us BIGINT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {t.view_service_invoices} (invoice_id TEXT PRIMARY KEY, "
        "customer_id TEXT NOT NULL, currency TEXT NOT NULL, month TEXT NOT NULL, "
        "due_date TEXT NOT NULL, issued_amount TEXT NOT NULL, corrections TEXT NOT NULL, "
        "amount TEXT NOT NULL, paid TEXT NOT NULL, balance TEXT NOT NULL, "
        "unpaid INTEGER NOT NULL, reminders BIGINT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS ix_{uid}_invoices_unpaid ON {t.view_service_invoices} "
        "(due_date, month, currency, balance) WHERE unpaid = 1",  # covers what is overdue
        f"CREATE TABLE IF NOT EXISTS {t.view_service_invoice_months} (month TEXT NOT NULL, "
        "currency TEXT NOT NULL, issued BIGINT NOT NULL, amount TEXT NOT NULL, "
        "paid TEXT NOT NULL, outstanding TEXT NOT NULL, PRIMARY KEY (month, currency))",
        f"CREATE TABLE IF NOT EXISTS {t.view_service_meta} ("
        "key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    ]


def _invoice(r: Sequence[Any]) -> InvoiceRecord:
    return InvoiceRecord(r[0], r[1], r[2], r[3], r[4], Decimal(r[5]), Decimal(r[6]),
                         Decimal(r[7]), Decimal(r[8]), Decimal(r[9]), int(r[11]))


def _invoice_month(r: Sequence[Any]) -> InvoiceSums:
    return InvoiceSums(r[0], r[1], int(r[2]), Decimal(r[3]), Decimal(r[4]), Decimal(r[5]))


class SqlServiceState(MemoryServiceState):
    """The fold's state for one batch: ``prepare`` loads the rows the batch's events name
    in a few bulk reads (``WHERE key IN (...)``); anything else asked is read on demand."""

    def __init__(self, db: Dialect, c: Any, t: Tables) -> None:
        super().__init__()
        self.db, self.c, self.t = db, c, t
        #: Keys looked for in the tables and not found there.
        self.absent: dict[str, set[str]] = {"cases": set(), "repairs": set(), "invoices": set(),
                                            "customers": set()}
        self.loaded_months: set[str] = set()  # of the invoice sums (all their currencies)

    def _in(self, columns: str, table: str, key: str, keys: Collection[Any],
            where: str = "") -> list[Any]:
        return select_in(self.db, self.c, f"SELECT {columns} FROM {table} WHERE {where}{key}",
                         keys)

    def prepare(self, events: Sequence[tuple[int, Any]]) -> None:
        cases: set[str] = set()
        repairs: set[str] = set()
        invoices: set[str] = set()
        serials: set[str] = set()
        customers: set[str] = set()
        months: set[str] = set()
        fixed: list[str] = []
        part_repairs: list[str] = []
        for _, event in events:
            cls = type(event)
            need = _NEEDS.get(cls)
            if need is None:
                continue  # not a touchpoint
            if need == _RESOLVED:
                cases.add(event.case_id)
                if event.satisfaction is not None:
                    customers.add(event.customer_id)
            elif need == _CASE:
                cases.add(event.case_id)
            elif need == _REQUESTED:
                repairs.add(event.repair_id)
                serials.add(event.serial)
                customers.add(event.customer_id)  # a repeat_repair is an error of theirs
            elif need == _COMPLETED:
                repairs.add(event.repair_id)
                if event.outcome == "fixed":
                    fixed.append(event.repair_id)
            elif need == _ISSUED:
                months.add(instant(event.occurred_at)[2])
            elif need == _INVOICE:
                invoices.add(event.invoice_id)
            if ((event.error is not None or cls in _RULED)
                    and TOUCHPOINT_CLASSES[cls].code(event) is not None):
                if event.customer_id is not None:
                    customers.add(event.customer_id)
                elif getattr(event, "repair_id", None) is not None:
                    part_repairs.append(event.repair_id)
        repairs.update(part_repairs)
        self.load_cases(cases)
        self.load_repairs(repairs)
        self.load_invoices(invoices)
        serials.update(row.serial for r in fixed
                       if (row := self.repairs.get(r)) is not None and row.serial is not None)
        self.load_serials(serials)
        customers.update(row.customer_id for r in part_repairs
                         if (row := self.repairs.get(r)) is not None and row.customer_id)
        customers.update(row.customer_id for serial in serials for row in self.serials[serial]
                         if row.customer_id is not None)
        self.load_errors(customers)
        months.update(row.month for row in self.invoices.values())
        self.load_months(months)

    # --- bulk loads ---------------------------------------------------------------------------

    def load_cases(self, keys: Collection[str]) -> None:
        keys = [k for k in keys if k not in self.cases]
        for r in self._in(_CASES, self.t.view_service_cases, "case_id", keys):
            self.cases[r[0]] = CaseRow(*r)
        self.absent["cases"].update(k for k in keys if k not in self.cases)

    def load_repairs(self, keys: Collection[str]) -> None:
        keys = [k for k in keys if k not in self.repairs]
        for r in self._in(_REPAIRS, self.t.view_service_repairs, "repair_id", keys):
            self.repairs[r[0]] = RepairRow(*r)
        self.absent["repairs"].update(k for k in keys if k not in self.repairs)

    def load_serials(self, keys: Collection[str]) -> None:
        keys = [k for k in keys if k not in self.serials]
        for key in keys:
            self.serials[key] = []
        for r in self._in(_REPAIRS, self.t.view_service_repairs, "serial", keys):
            row = self.repairs.get(r[0])  # one object per repair, however it was found
            if row is None:
                row = self.repairs[r[0]] = RepairRow(*r)
            self.serials[r[2]].append(row)

    def load_invoices(self, keys: Collection[str]) -> None:
        keys = [k for k in keys if k not in self.invoices]
        for r in self._in(_INVOICES, self.t.view_service_invoices, "invoice_id", keys):
            self.invoices[r[0]] = _invoice(r)
        self.absent["invoices"].update(k for k in keys if k not in self.invoices)

    def load_errors(self, keys: Collection[str]) -> None:
        keys = [k for k in keys if k not in self.errors]
        for customer_id, first in self._in("customer_id, first_error_us",
                                           self.t.view_service_customers, "customer_id", keys):
            self.errors[customer_id] = int(first)
        self.absent["customers"].update(k for k in keys if k not in self.errors)

    def load_months(self, keys: Collection[str]) -> None:
        keys = [k for k in keys if k not in self.loaded_months]
        for r in self._in(_INVOICE_MONTHS, self.t.view_service_invoice_months, "month", keys):
            self.invoice_months.setdefault((r[0], r[1]), _invoice_month(r))
        self.loaded_months.update(keys)

    # --- what the fold asks: loaded by ``prepare``, or now ------------------------------------

    def case(self, case_id: str) -> CaseRow | None:
        if case_id not in self.cases and case_id not in self.absent["cases"]:
            self.load_cases([case_id])
        return self.cases.get(case_id)

    def repair(self, repair_id: str) -> RepairRow | None:
        if repair_id not in self.repairs and repair_id not in self.absent["repairs"]:
            self.load_repairs([repair_id])
        return self.repairs.get(repair_id)

    def serial_repairs(self, serial: str) -> list[RepairRow]:
        if serial not in self.serials:
            self.load_serials([serial])
        return self.serials[serial]

    def invoice(self, invoice_id: str) -> InvoiceRecord | None:
        if invoice_id not in self.invoices and invoice_id not in self.absent["invoices"]:
            self.load_invoices([invoice_id])
        return self.invoices.get(invoice_id)

    def invoice_month(self, month: str, currency: str) -> InvoiceSums | None:
        if month not in self.loaded_months:
            self.load_months([month])
        return self.invoice_months.get((month, currency))

    def first_error(self, customer_id: str) -> int | None:
        if customer_id not in self.errors and customer_id not in self.absent["customers"]:
            self.load_errors([customer_id])
        return self.errors.get(customer_id)

    def no_error_ratings(self, customers: Collection[str]) -> dict[str, list[RatingRow]]:
        found: dict[str, list[RatingRow]] = {}
        for r in self._in(_RATINGS, self.t.view_service_ratings, "customer_id", customers,
                          where="after_error = 0 AND "):
            found.setdefault(r[1], []).append(RatingRow(*r))
        return found

    def keep_ratings(self, customer_id: str, rows: list[RatingRow]) -> None:
        pass  # the table keeps them

    def add_ratings(self, customer_id: str, rows: list[RatingRow]) -> None:
        pass  # written with the batch


def write_service(db: Dialect, c: Any, t: Tables, w: ServiceWrites) -> None:
    """Write a batch's rows, then compute the KPI rows of the months it touched."""
    q = db.sql
    upserts = (
        (t.view_service_cases, _CASES, "case_id", "text text text bigint bigint int", w.cases),
        (t.view_service_repairs, _REPAIRS, "repair_id",
         "text text text text bigint int bigint bigint text bigint bigint", w.repairs),
        (t.view_service_invoices, _INVOICES, "invoice_id",
         "text text text text text text text text text text int bigint", w.invoices),
        (t.view_service_invoice_months, _INVOICE_MONTHS, "month, currency",
         "text text bigint text text text", w.invoice_months),
        (t.view_service_ratings, _RATINGS, "touchpoint_id", "text text text text bigint int int",
         w.ratings),
        (t.view_service_customers, "customer_id, first_error_us", "customer_id", "text bigint",
         w.customers),
    )
    for table, columns, key, types, rows in upserts:
        write_rows(db, c, _upsert(table, columns, key), types, rows)
    if w.satisfaction:
        write_rows(db, c, f"INSERT INTO {t.view_service_satisfaction} AS s VALUES (?,?,?,?) "
                   "ON CONFLICT (month, after_error, score) "
                   "DO UPDATE SET ratings = s.ratings + excluded.ratings", "text int int bigint",
                   w.satisfaction)
        if any(n < 0 for *_, n in w.satisfaction):  # ratings moved away: no empty rows
            c.execute(f"DELETE FROM {t.view_service_satisfaction} WHERE ratings = 0")
    write_rows(db, c, f"INSERT INTO {t.view_service_part_months} AS p VALUES (?,?,?) "
               "ON CONFLICT (month) DO UPDATE SET "
               "reservations = p.reservations + excluded.reservations, "
               "filled = p.filled + excluded.filled", "text bigint bigint", w.parts)
    if w.latest_us is not None:
        c.execute(q(
            f"INSERT INTO {t.view_service_meta} AS m VALUES ('latest_occurred_us', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = CASE WHEN excluded.value > m.value "
            "THEN excluded.value ELSE m.value END"), (w.latest_us,))
    if w.case_months:
        _case_months(db, c, t, w.case_months)
    if w.repair_months:
        _repair_months(db, c, t, w.repair_months)


def _upsert(table: str, columns: str, key: str) -> str:
    names = [name.strip() for name in columns.split(",")]
    keys = {name.strip() for name in key.split(",")}
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name not in keys)
    return (f"INSERT INTO {table} ({columns}) VALUES ({','.join('?' * len(names))}) "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates}")


def _by_month(db: Dialect, c: Any, columns: str, table: str, months: list[str]
              ) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {month: [] for month in months}
    for row in select_in(db, c, f"SELECT month, {columns} FROM {table} WHERE month", months):
        found[row[0]].append(row)
    return found


def _case_months(db: Dialect, c: Any, t: Tables, months: list[str]) -> None:
    rows = []
    for month, cases in _by_month(db, c, "opened_us, resolved_us, reopened",
                                  t.view_service_cases, months).items():
        spans = sorted(span(r[1], r[2]) for r in cases if r[2] is not None)
        rows.append((month, len(cases), len(spans), sum(r[3] for r in cases),
                     percentile(spans, P50), percentile(spans, P90)))
    write_rows(db, c, _upsert(
        t.view_service_case_months,
        "month, opened, resolved, reopened, resolve_p50_us, resolve_p90_us", "month"),
        "text bigint bigint bigint bigint bigint", rows)


def _repair_months(db: Dialect, c: Any, t: Tables, months: list[str]) -> None:
    rows = []
    for month, repairs in _by_month(db, c, "requested_us, done_outcome, fixed_us",
                                    t.view_service_repairs, months).items():
        spans = sorted(span(r[1], r[3]) for r in repairs if r[3] is not None)
        completed = sum(1 for r in repairs if r[2] is not None)
        first_time = sum(1 for r in repairs if r[2] == "fixed")
        rows.append((month, len(repairs), completed, first_time, len(spans),
                     percentile(spans, P50), percentile(spans, P90)))
    write_rows(db, c, _upsert(
        t.view_service_repair_months,
        "month, requested, completed, first_time_fixed, fixed, fix_p50_us, fix_p90_us",
        "month"), "text bigint bigint bigint bigint bigint bigint", rows)
