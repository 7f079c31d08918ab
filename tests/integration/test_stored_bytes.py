"""Every stored event of a workload is the bytes eventsourcing's own JSON transcoder writes."""

from __future__ import annotations

from pathlib import Path

from eventsourcing.persistence import JSONTranscoder

from journey.infra.ingest import Ingestor
from journey.infra.store import open_store
from journey.infra.workload import WorkloadOptions, generate


def test_each_stored_event_is_what_the_library_would_have_written(tmp_path: Path) -> None:
    app = open_store(f"sqlite:///{tmp_path / 'j.db'}")
    try:
        lines = [text.encode() for text in generate(WorkloadOptions(customers=60, seed=9))]
        Ingestor(app).ingest(lines)
        library = JSONTranscoder()
        app.register_transcodings(library)
        with app.journey_recorder.read_rows() as c:
            entries = app.journey_recorder.read_log(c, 0, 1_000_000)
        topics = {entry.topic for entry in entries}
        for entry in entries:
            state = app.mapper.transcoder.decode(entry.state)
            assert library.encode(state) == bytes(entry.state), entry.topic
    finally:
        app.close()
    assert len(entries) > len(lines) // 2 and len(topics) >= 20  # every kind of event
