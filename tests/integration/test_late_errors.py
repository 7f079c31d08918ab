"""A late error makes earlier-arrived contacts of *unknown* demand failure demand, and
only those: a contact the upstream marked ``value`` stays value demand. (Found by the
views built from Kafka topics, whose arrival order differs from the log's.)"""

from __future__ import annotations

import pytest

from journey.infra.ingest import Ingestor
from journey.infra.store import open_store
from journey.infra.views.projector import Projector, view_queries
from tests.support import case, line, order, tp


@pytest.mark.parametrize(("demand", "failures"), [("value", 0), ("unknown", 1)])
def test_a_late_error_reclassifies_only_unknown_demand(store_url: str, demand: str,
                                                       failures: int) -> None:
    app = open_store(store_url)
    ingestor, projector = Ingestor(app), Projector(app)
    ingestor.ingest([line(order("O1", at="2026-03-01T08:00:00Z")),
                     line(case("K1", at="2026-03-02T10:00:00Z", demand=demand,
                               subject={"type": "order", "id": "O1"}))])
    projector.catch_up()  # the contact is in the views before the error arrives
    ingestor.ingest([line(tp("purchase.delivery_failed", at="2026-03-02T09:00:00Z",
                             order_id="O1", reason="address"))])
    projector.catch_up()
    with view_queries(app) as views:
        demand_rows = views.errors()["failure_demand"]
    assert [(r["contacts"], r["failure"]) for r in demand_rows] == [(1, failures)]
    app.close()
