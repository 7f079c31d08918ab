"""Every stored event of a workload is the bytes eventsourcing's own JSON transcoder writes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from eventsourcing.persistence import EventStore, JSONTranscoder

from journey.infra.ingest import Ingestor
from journey.infra.store import open_store
from journey.infra.store.events import JourneyEventStore
from journey.infra.workload import WorkloadOptions, generate
from tests.conftest import _drop_schema, _postgres_url


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


def test_the_event_stores_one_pass_stores_what_the_librarys_put_stores(store_url: str,
                                                                        tmp_path: Path) -> None:
    """The same decided batches through our put and through the library's EventStore.put
    (mapper, StoredEvent, insert_events) into a twin store: the same rows, chain, seals and
    recordings."""
    schema = None
    if store_url.startswith("sqlite"):
        twin_url = f"sqlite:///{tmp_path / 'library.db'}"
    else:
        schema = f"l_{uuid.uuid4().hex[:12]}"
        twin_url = _postgres_url(schema)
    app, twin = open_store(store_url), open_store(twin_url)
    library = EventStore(mapper=twin.mapper, recorder=twin.recorder)
    assert type(app.events) is JourneyEventStore
    ours = app.events.put
    recordings: list[tuple[list[Any], list[Any]]] = []

    def put(events: Any, **kwargs: Any) -> Any:
        fast, slow = ours(events, **kwargs), library.put(events, **kwargs)
        recordings.append((list(fast), slow))
        return fast

    app.events.put = put  # type: ignore[method-assign]
    try:
        Ingestor(app).ingest([line.encode() for line in generate(WorkloadOptions(customers=40,
                                                                                  seed=5))])
        assert recordings and all(fast == slow for fast, slow in recordings)
        assert _stored(app) == _stored(twin)
    finally:
        app.close()
        twin.close()
        if schema is not None:
            _drop_schema(schema)


def _stored(app: Any) -> tuple[list[Any], ...]:
    recorder = app.journey_recorder
    with recorder.read_rows() as c:
        log = [(entry.originator_id, entry.originator_version, entry.topic, bytes(entry.state))
               for entry in recorder.read_log(c, 0, 1_000_000)]
        tables = []
        for sql in (f"SELECT position, hash FROM {recorder.chain_sql} ORDER BY position",
                    f"SELECT position, mac FROM {recorder.seals_sql} ORDER BY position",
                    f"SELECT touchpoint_id, content_hash, type, source "
                    f"FROM {recorder.touchpoints_sql} ORDER BY touchpoint_id"):
            c.execute(sql)
            tables.append([tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                           for row in c.fetchall()])
    return (log, *tables)
