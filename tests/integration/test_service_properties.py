"""Any arrival order of the same accepted touchpoints gives the same KPIs and invoices.

Hypothesis builds a few customers' entities, each a chain of touchpoints in an order its
lifecycle accepts (contract 2.2), with business times drawn freely (so a chain's later
touchpoints are often dated before its earlier ones: late arrivals). Any interleaving of the
chains is an arrival order in which every touchpoint is accepted; part movements of a pair stay
in their repair's chain, so stock-outs (decided in arrival order) are the same in every one.
The engine, through the Python API (``open_store``, ``Ingestor``, ``Projector``,
``view_queries``), must give the same ``kpis``, ``invoices`` and ``errors --contact-cost``
documents for the chain-by-chain order and for the interleaving (taken in two ingests with a
catch-up between them), and both must be the reference's (``tests/reference_support.py``).
"""

from __future__ import annotations

import itertools
import json
import tempfile
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import journey
from tests.conftest import POSTGRES, _drop_schema, _postgres_url
from tests.reference_support import Arrival, Reference, ServiceReference, load

BASE = datetime(2026, 1, 20, tzinfo=UTC)  # 60 days from here cross two month ends
CUSTOMERS = ["C1", "C2", "C3"]
SERIALS = ["SN1", "SN2"]
COST = Decimal("12.50")
DAYS = [date(2026, 2, 1), date(2026, 2, 28), date(2026, 3, 15)]

Chain = list[dict[str, Any]]

#: Business times on a 3-hour grid over 60 days (ties happen), a few with odd seconds.
instants = st.one_of(
    st.integers(0, 480).map(lambda k: BASE + timedelta(hours=3 * k)),
    st.integers(0, 60 * 86_400).map(lambda s: BASE + timedelta(seconds=s, microseconds=500)),
)


def cents(low: int, high: int) -> st.SearchStrategy[Any]:
    """Money as the contract allows it: a decimal string or a JSON integer."""
    def text(c: int) -> str:
        return f"{'-' if c < 0 else ''}{abs(c) // 100}.{abs(c) % 100:02d}"

    return st.integers(low, high).flatmap(
        lambda c: st.sampled_from([text(c), c // 100] if c % 100 == 0 else [text(c)]))


#: Now and then an upstream system flags a touchpoint as an error.
upstream = st.sampled_from([None] * 11 + ["upstream_glitch"])


class Builder:
    """Touchpoints with fresh ids; each draws its own business time."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.ids = itertools.count()

    def tp(self, type_: str, **fields: Any) -> dict[str, Any]:
        at = self.draw(instants)
        obj = {"touchpoint_id": f"tp{next(self.ids)}", "type": type_,
               "occurred_at": at.isoformat().replace("+00:00", "Z"), **fields}
        error = self.draw(upstream)
        if error is not None:
            obj["error"] = error
        return obj


def case_chain(b: Builder, n: int, customer: str) -> Chain:
    c = {"customer_id": customer, "case_id": f"K{n}"}
    chain = [b.tp("complaint.opened", **c, category="service")]
    for round_ in range(b.draw(st.integers(0, 3))):
        if round_:
            chain.append(b.tp("complaint.reopened", **c, reason="again"))
        for _ in range(b.draw(st.integers(0, 1))):
            chain.append(b.tp("complaint.contact_logged", **c, direction="inbound"))
        rating = b.draw(st.none() | st.integers(1, 5))
        chain.append(b.tp("complaint.resolved", **c, resolution="done",
                          **({} if rating is None else {"satisfaction": rating})))
    if len(chain) > 1 and b.draw(st.booleans()):
        chain.append(b.tp("complaint.closed", **c))
    return chain


def repair_chain(b: Builder, n: int, customer: str) -> Chain:
    c = {"customer_id": customer, "repair_id": f"R{n}"}
    pair = {"part_id": f"P{n}", "location": "L1"}
    chain = [b.tp("repair.requested", **c, serial=b.draw(st.sampled_from(SERIALS)),
                  fault="dead", warranty=b.draw(st.booleans()))]
    for _ in range(b.draw(st.integers(0, 1))):
        chain.append(b.tp("part.received", **pair, qty=b.draw(st.integers(1, 2))))
    for _ in range(b.draw(st.integers(0, 2))):
        chain.append(b.tp("part.reserved", **pair, qty=b.draw(st.integers(1, 2)),
                          repair_id=f"R{n}"))
    for _ in range(b.draw(st.integers(0, 2))):
        chain.append(b.tp("repair.completed", **c, outcome="not_fixed"))
    final = b.draw(st.sampled_from([None, "fixed", "fixed", "no_fault_found"]))
    if final is not None:
        chain.append(b.tp("repair.completed", **c, outcome=final))
        if b.draw(st.booleans()):
            chain.append(b.tp("repair.returned", **c))
    return chain


def invoice_chain(b: Builder, n: int, customer: str) -> Chain:
    c = {"customer_id": customer, "invoice_id": f"I{n}"}
    chain = [b.tp("invoice.issued", **c, amount=b.draw(cents(0, 50_000)),
                  currency=b.draw(st.sampled_from(["EUR", "USD"])),
                  due_date=b.draw(st.sampled_from(DAYS)).isoformat())]
    for _ in range(b.draw(st.integers(0, 3))):
        step = b.draw(st.sampled_from(["paid", "paid", "reminder_sent", "corrected"]))
        if step == "paid":
            chain.append(b.tp("invoice.paid", **c, amount=b.draw(cents(1, 30_000))))
        elif step == "reminder_sent":
            chain.append(b.tp("invoice.reminder_sent", **c))
        else:
            chain.append(b.tp("invoice.corrected", **c, error_type="pricing",
                              amount_delta=b.draw(cents(-20_000, 20_000))))
    return chain


def order_chain(b: Builder, n: int, customer: str) -> Chain:
    c = {"customer_id": customer, "order_id": f"O{n}"}
    chain = [b.tp("purchase.placed", **c, currency="EUR",
                  lines=[{"sku": "S1", "qty": 1, "unit_price": "5.00"}])]
    for _ in range(b.draw(st.integers(0, 2))):
        chain.append(b.tp("purchase.delivery_failed", **c, reason="away"))
    if b.draw(st.booleans()):
        chain.append(b.tp("purchase.delivered", **c))
    return chain


BUILDERS = [case_chain, case_chain, repair_chain, repair_chain, invoice_chain, order_chain]


@st.composite
def workloads(draw: st.DrawFn) -> tuple[list[Chain], list[int]]:
    """Chains of entities, and an interleaving: which chain gives its next touchpoint."""
    b = Builder(draw)
    chains = []
    for n in range(draw(st.integers(1, 9))):
        build = draw(st.sampled_from(BUILDERS))
        chains.append(build(b, n, draw(st.sampled_from(CUSTOMERS))))
    turns = draw(st.permutations([i for i, chain in enumerate(chains) for _ in chain]))
    return chains, turns


def interleave(chains: Sequence[Chain], turns: Sequence[int]) -> Chain:
    nexts = [iter(chain) for chain in chains]
    return [next(nexts[i]) for i in turns]


def documents(url: str, objs: Chain, parts: int, batch_size: int) -> dict[str, Any]:
    """Ingest ``objs`` in ``parts`` ingests (catching the views up after each) and read."""
    app = journey.open_store(url)
    try:
        size = -(-len(objs) // parts)
        for n in range(parts):
            lines = [json.dumps(o).encode() for o in objs[n * size:(n + 1) * size]]
            summary = journey.Ingestor(app, batch_size=batch_size).ingest(lines)
            assert (summary.accepted, summary.rejected) == (len(lines), 0), summary
            journey.Projector(app).catch_up()
        with journey.view_queries(app) as views:
            found: dict[str, Any] = {"kpis": views.kpis(), "invoices": views.invoices()}
            for day in DAYS:
                found[f"invoices {day}"] = views.invoices(as_of_day=day)
            found["errors"] = views.errors(contact_cost=COST)
        for document in found.values():
            document.pop("freshness", None)
        plain: dict[str, Any] = json.loads(json.dumps(found))  # as the CLI prints them
        return plain
    finally:
        app.close()


def reference(objs: Chain) -> dict[str, Any]:
    model = ServiceReference(Reference.build([Arrival(obj=load(json.dumps(o))) for o in objs]))
    found = {"kpis": model.kpis(), "invoices": model.invoices()}
    for day in DAYS:
        found[f"invoices {day}"] = model.invoices(day.isoformat())
    return found


def check(urls: tuple[str, str], chains: list[Chain], turns: list[int],
          batch_size: int) -> None:
    in_chains = [obj for chain in chains for obj in chain]
    arrived = interleave(chains, turns)
    first = documents(urls[0], in_chains, 1, 500)
    second = documents(urls[1], arrived, 2, batch_size)
    assert second == first
    expected = reference(arrived)
    assert {k: first[k] for k in expected} == expected
    costs = {row["month"]: row["cost"] for row in first["errors"]["failure_demand"]}
    assert costs == ServiceReference(Reference.build(
        [Arrival(obj=load(json.dumps(o))) for o in arrived])).failure_costs(COST)


SETTINGS = settings(deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(SETTINGS, max_examples=40)
@given(workloads(), st.integers(1, 4))
def test_any_arrival_order_gives_the_same_figures_on_sqlite(
        workload: tuple[list[Chain], list[int]], batch_size: int) -> None:
    chains, turns = workload
    with tempfile.TemporaryDirectory() as tmp:
        check((f"sqlite:///{Path(tmp) / 'a.db'}", f"sqlite:///{Path(tmp) / 'b.db'}"),
              chains, turns, batch_size)


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="JOURNEY_TEST_POSTGRES is not set (CI sets it)")
@settings(SETTINGS, max_examples=6)
@given(workloads(), st.integers(1, 4))
def test_any_arrival_order_gives_the_same_figures_on_postgres(
        workload: tuple[list[Chain], list[int]], batch_size: int) -> None:
    chains, turns = workload
    schemas = (f"t_{uuid.uuid4().hex[:12]}", f"t_{uuid.uuid4().hex[:12]}")
    try:
        check((_postgres_url(schemas[0]), _postgres_url(schemas[1])), chains, turns,
              batch_size)
    finally:
        for schema in schemas:
            _drop_schema(schema)
