"""A view database a Kafka view worker filled before a view existed (``service`` came with
the KPIs) is refused, not half-filled: the new view would start at the group's committed
offsets and miss every earlier event."""

from __future__ import annotations

import pytest

from journey.consumers.views import ViewWorker
from journey.domain.errors import JourneyError
from journey.infra.kafka.topics import Topics
from journey.infra.store import OffsetRow, open_store
from journey.infra.views.database import ViewDb
from journey.infra.views.projector import Projector
from journey.projections.tables import PROJECTIONS


def test_a_worker_refuses_a_view_its_offsets_would_leave_half_filled(store_url: str) -> None:
    app = open_store(store_url)
    try:
        Projector(app)
        db = ViewDb(app)
        with db.transaction() as (c, _):
            app.journey_recorder.save_offsets(c, "views:g", [OffsetRow("t.repair", 0, 40, 40)])
            for table in PROJECTIONS["service"]:  # as made before the service view
                c.execute(f"DROP TABLE {getattr(db.tables(), table)}")

        with pytest.raises(JourneyError, match="no service view, but group g has consumed"):
            ViewWorker(app, "127.0.0.1:9", Topics("t"), "g")
        with app.journey_recorder.read_rows() as c:  # nothing was created meanwhile
            assert not db.table_exists(c, PROJECTIONS["service"][0])

        ViewWorker(app, "127.0.0.1:9", Topics("t"), "fresh")  # a group with no offsets: fine
        with app.journey_recorder.read_rows() as c:
            assert db.table_exists(c, PROJECTIONS["service"][0])
    finally:
        app.close()
