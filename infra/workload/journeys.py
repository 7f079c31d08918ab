"""The composed simulation: customers arrive and start their activities; entry points."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TextIO

from journey.infra.workload.bad_lines import Saboteur
from journey.infra.workload.cases import CaseSteps
from journey.infra.workload.catalogue import (
    CURRENCY,
    DAY,
    HOUR,
    LIFE,
    ORDERS_PER_CUSTOMER,
    REPAIRS_PER_CUSTOMER,
)
from journey.infra.workload.entities import Customer
from journey.infra.workload.invoices import InvoiceSteps
from journey.infra.workload.options import WorkloadOptions
from journey.infra.workload.orders import OrderSteps
from journey.infra.workload.repairs import RepairSteps
from journey.infra.workload.simulation import Step
from journey.infra.workload.stock import StockSteps


def generate_with_labels(options: WorkloadOptions) -> Iterator[tuple[str, str]]:
    """Yield (line, label): label is "valid", "duplicate" or the contract's reject reason."""
    return Journeys(options).run()


def generate(options: WorkloadOptions) -> Iterator[str]:
    """Yield the workload's JSON lines, without trailing newlines."""
    return (line for line, _ in generate_with_labels(options))


def write_workload(options: WorkloadOptions, out: TextIO) -> int:
    """Write the workload as JSON Lines to `out`; return the number of lines."""
    count = 0
    for line in generate(options):
        out.write(line)
        out.write("\n")
        count += 1
    return count


class Journeys(OrderSteps, InvoiceSteps, CaseSteps, RepairSteps, StockSteps):
    """The whole simulation: the core with every lifecycle mixed in, and the customers."""

    def __init__(self, options: WorkloadOptions) -> None:
        super().__init__(options)
        self.arrived = 0
        # the catalogues take the generator's first draws: SKU prices, then part costs
        self._build_skus()
        self._build_stock()
        self.saboteur = Saboteur(self)

    def _start(self) -> None:
        self._open_stock()
        self._at(self._arrival_time(0), self._arrive, None)
        processes: tuple[tuple[Step, float], ...] = (
            (self._cycle_count, 0.12),
            (self._rebalance, 0.04),
            (self._loose_return, 0.03),
        )
        for process, per_customer in processes:
            self._at(self._process_gap(per_customer), process, per_customer)

    # -- customers ----------------------------------------------------------------------

    def _arrival_time(self, i: int) -> int:
        return int((i + self.rng.random()) * self.span / self.options.customers)

    def _arrive(self, t: int, _: Any) -> None:
        rng = self.rng
        n = self.arrived = self.arrived + 1
        devices = 2 if rng.random() < 0.35 else 1
        serials = [f"SN{n:07d}{k}{int(rng.random() * 4096):03X}" for k in range(devices)]
        customer = Customer(f"CUST-{n:07d}", CURRENCY.draw(rng), serials)
        self.recent_customers.append(customer)
        if n < self.options.customers:
            self._at(max(t, self._arrival_time(n)), self._arrive, None)
        life = max(DAY, min(LIFE, self.span - t))
        orders = ORDERS_PER_CUSTOMER.draw(rng)
        for k in range(orders):
            self._at(t if k == 0 else t + self._between(HOUR, life), self._place_order, customer)
        for _ in range(REPAIRS_PER_CUSTOMER.draw(rng)):
            self._at(t + self._between(HOUR, life), self._start_repair, customer)
        if rng.random() < 0.5:
            self._at(t + self._between(HOUR, life), self._inquire, customer)
