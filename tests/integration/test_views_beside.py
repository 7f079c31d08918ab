"""Views folded by a follower process while the lines are decided equal views folded after."""

from __future__ import annotations

import time
from pathlib import Path

from journey.infra.ingest import Ingestor
from journey.infra.store import open_store
from journey.infra.views.beside import ViewsBeside
from journey.infra.views.projector import Projector
from journey.infra.workload import WorkloadOptions, generate
from tests.support import all_views


def test_views_folded_beside_the_decisions_equal_views_folded_after_them(tmp_path: Path) -> None:
    lines = [text.encode() for text in generate(WorkloadOptions(customers=120, seed=3))]
    beside_app = open_store(f"sqlite:///{tmp_path / 'beside.db'}")
    after_app = open_store(f"sqlite:///{tmp_path / 'after.db'}")
    try:
        Projector(beside_app)  # the tables exist before the follower starts (as in an ingest)
        with ViewsBeside(dict(beside_app.env), view_batch_size=50) as beside:
            beside.start()
            ingestor = Ingestor(beside_app, batch_size=40)
            for start in range(0, len(lines), 400):
                ingestor.ingest(lines[start:start + 400])
            head = beside_app.journey_recorder.position()
            projector = Projector(beside_app)
            deadline = time.monotonic() + 60
            while max(projector.lag().values()) == head and time.monotonic() < deadline:
                time.sleep(0.05)  # the follower folds (its process takes a while to start)
            beside.stop()
            assert not beside.started
        folded_beside = head - max(projector.lag().values())
        projector.catch_up()
        Ingestor(after_app, batch_size=40).ingest(lines)
        Projector(after_app).catch_up()
        assert all_views(beside_app) == all_views(after_app)
    finally:
        beside_app.close()
        after_app.close()
    assert folded_beside > 0  # the follower did fold (else this test would show nothing)
