"""Re-deciding rejects (contract 4.9) through the Python API, on SQLite and PostgreSQL: which
rejects are open, a retry in decision order as a new decision at the end, its provenance,
reasons, lines that cannot be retried, two retries at once, a crash in the middle, and the
index an older store gets when opened."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey.infra.ingest import Ingestor, retry_provenance
from journey.infra.ingest.retry import whole_line
from journey.infra.store import JourneyApplication, RejectRow, open_store
from journey.infra.store import rejects as rejects_module
from journey.schemas.parsing import MAX_LINE_BYTES, OversizeLine
from tests.conftest import POSTGRES, _drop_schema, _postgres_url
from tests.support import JOURNEY, behind_the_engines_back, line, order, store_digest, tp


@pytest.fixture
def app(store_url: str) -> Iterator[JourneyApplication]:
    application = open_store(store_url)
    yield application
    application.close()


def delivered(order_id: str = "O1", **kw: Any) -> dict[str, Any]:
    return tp("purchase.delivered", at="2026-03-02T10:00:00Z", order_id=order_id, **kw)


def returned(order_id: str = "O1", **kw: Any) -> dict[str, Any]:
    return tp("purchase.returned", at="2026-03-03T10:00:00Z", order_id=order_id,
              lines=[{"sku": "S1", "qty": 1}], reason="r", **kw)


def open_ids(app: JourneyApplication, reasons: list[str] | None = None) -> list[str | None]:
    return [r.touchpoint_id for r in app.journey_recorder.open_rejects(reasons=reasons)]


def sources(app: JourneyApplication) -> dict[str, str | None]:
    recorder = app.journey_recorder
    with recorder.read_rows() as c:
        c.execute(f"SELECT touchpoint_id, source FROM {recorder.touchpoints_sql}")
        return {row[0]: row[1] for row in c.fetchall()}


# --- which rejects are open ---------------------------------------------------------------------

def test_open_rejects_are_the_latest_of_their_id_not_accepted_since(
        app: JourneyApplication) -> None:
    placed = order("O1", touchpoint_id="p1")
    lines = [
        line(delivered(touchpoint_id="d1")),                      # 1 unknown_entity, closed later
        b"garbage",                                               # 2 no id: open for good
        line(tp("purchase.placed", touchpoint_id="x1")),          # 3 invalid, superseded by 4
        line(tp("purchase.placed", touchpoint_id="x1", order_id="O9")),  # 4 invalid: open
        line(placed),                                             #   accepted
        line(delivered(touchpoint_id="d1")),                      #   accepted: closes 1
        line({**placed, "currency": "USD"}),                      # 5 conflicting_duplicate: open
        line(delivered("O7", touchpoint_id="d7")),                # 6 unknown_entity: open
        line(tp("purchase.placed", touchpoint_id="d1")),          # 7 invalid, d1 accepted
    ]                                                             #   before it: open
    Ingestor(app, batch_size=3).ingest(lines)
    recorder = app.journey_recorder

    every = recorder.rejects()
    assert [(r.touchpoint_id, r.reason, r.open) for r in every] == [
        ("d1", "unknown_entity", False), (None, "invalid_json", True),
        ("x1", "invalid", False), ("x1", "invalid", True),
        ("p1", "conflicting_duplicate", True), ("d7", "unknown_entity", True),
        ("d1", "invalid", True)]
    assert [r.accepted_before for r in every] == [False] * 4 + [True, False, True]
    still = (1, 3, 4, 5, 6)
    assert [r.seq for r in recorder.open_rejects()] == [every[i].seq for i in still]
    assert open_ids(app, ["unknown_entity"]) == ["d7"]
    assert recorder.reject_counts() == (5, 7)
    assert recorder.reject_counts(["unknown_entity", "invalid"]) == (3, 5)
    assert recorder.count_rejects(open_only=True, retryable=True) == 4
    assert recorder.open_reject_seqs([r.seq for r in every]) == {every[i].seq for i in still}
    # Paged as the CLI pages them: the same rows, in the same order.
    paged, after = [], 0
    while page := recorder.open_rejects(after=after, limit=1):
        paged += page
        after = page[-1].seq
    assert paged == recorder.open_rejects()


#: Lines of a few ids that are rejected, accepted, rejected again, in any order.
POOL = [line(order("O1", touchpoint_id="a")), line(delivered(touchpoint_id="b")),
        line({**order("O1", touchpoint_id="a"), "currency": "USD"}),
        line(delivered("O2", touchpoint_id="c")), line(order("O2", touchpoint_id="c")),
        line(order("O2", touchpoint_id="e")), line(delivered("O2", touchpoint_id="e")),
        b"[1]", line(tp("purchase.placed", touchpoint_id="b"))]


@settings(max_examples=15, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.sampled_from(POOL), max_size=14))
def test_open_is_what_a_walk_through_the_decisions_leaves_open(
        store_url: str, tmp_path: Path, picks: list[bytes]) -> None:
    """A model of 4.9 in arrival order: a reject opens; a later reject of its id or an
    accepted touchpoint of its id closes it; one without an id never closes."""
    url = _fresh(store_url, tmp_path)
    application = open_store(url)
    try:
        ingestor = Ingestor(application)
        opened: dict[int, str | None] = {}  # open rejects by their position among rejects
        rejected = 0
        for raw in picks:
            summary = ingestor.ingest_batch([raw])
            touchpoint_id = _id_of(raw)
            if summary.rejected or summary.accepted:
                for k, v in list(opened.items()):
                    if v is not None and v == touchpoint_id:
                        del opened[k]
            if summary.rejected:
                opened[rejected] = touchpoint_id
                rejected += 1
        recorder = application.journey_recorder
        every = recorder.rejects()
        expected = [every[k].seq for k in sorted(opened)]
        assert [r.seq for r in recorder.open_rejects()] == expected
        assert [r.seq for r in every if r.open] == expected
        assert recorder.reject_counts() == (len(expected), len(every))
        window = rejects_module.OPEN_WINDOW
        rejects_module.OPEN_WINDOW = 2  # windows end anywhere: pages must not care
        try:
            for size in (1, 3):
                paged, after = [], 0
                while page := recorder.open_rejects(after=after, limit=size):
                    paged += [r.seq for r in page]
                    after = page[-1].seq
                assert paged == expected
        finally:
            rejects_module.OPEN_WINDOW = window
    finally:
        application.close()
        _drop(url)


# --- retry ----------------------------------------------------------------------------------------

def test_a_retry_decides_in_decision_order_as_a_new_decision_at_the_end(
        app: JourneyApplication) -> None:
    lines = [line(delivered(touchpoint_id="d1")), line(returned(touchpoint_id="r1")),
             line(order("O1", touchpoint_id="p1"))]
    ingestor = Ingestor(app)
    Ingestor(app).ingest(lines)
    assert open_ids(app) == ["d1", "r1"]
    events_before = app.journey_recorder.counts()["events"]

    summary = ingestor.retry_rejects()

    assert summary.as_json() == {"read": 2, "accepted": 2, "duplicates": 0, "rejected": 0,
                                 "rejected_by_reason": {}}
    assert summary.not_retried == 0
    assert open_ids(app) == []
    assert [r.open for r in app.journey_recorder.rejects()] == [False, False]
    assert app.journey_recorder.counts()["events"] > events_before  # appended at the end
    found = sources(app)
    assert found["d1"] == "retry of reject #1" and found["r1"] == "retry of reject #2"
    assert ingestor.retry_rejects().as_json()["read"] == 0  # nothing open is left


def test_one_pass_in_order_a_line_needing_a_later_one_is_rejected_anew_then_passes(
        app: JourneyApplication) -> None:
    ingestor = Ingestor(app)
    ingestor.ingest([line(returned(touchpoint_id="r1")), line(delivered(touchpoint_id="d1")),
                     line(order("O1", touchpoint_id="p1"))], )
    first = app.journey_recorder.rejects()
    assert [r.touchpoint_id for r in first] == ["r1", "d1"]

    summary = ingestor.retry_rejects()

    assert (summary.accepted, summary.rejected, dict(summary.rejected_by_reason)) == (
        1, 1, {"invalid_transition": 1})
    every = app.journey_recorder.rejects()
    assert [(r.touchpoint_id, r.reason, r.open) for r in every] == [
        ("r1", "unknown_entity", False), ("d1", "unknown_entity", False),
        ("r1", "invalid_transition", True)]
    assert every[2].source == f"retry of reject #{first[0].seq}"
    assert ingestor.retry_rejects().accepted == 1
    assert open_ids(app) == []
    assert sources(app)["r1"] == f"retry of reject #{every[2].seq}"


def test_provenance_names_the_reject_and_the_line_s_first_source() -> None:
    assert retry_provenance(RejectRow("t", "invalid", "d", b"", 7, "", "in.jsonl:3")) == \
        "retry of reject #7 (in.jsonl:3)"
    again = RejectRow("t", "invalid", "d", b"", 9, "", "retry of reject #7 (in.jsonl:3)")
    assert retry_provenance(again) == "retry of reject #9 (in.jsonl:3)"
    assert retry_provenance(RejectRow("t", "invalid", "d", b"", 2)) == "retry of reject #2"
    assert retry_provenance(RejectRow("t", "invalid", "d", b"", 5, "", "retry of reject #2")) \
        == "retry of reject #5"


def test_reasons_choose_which_rejects_are_retried(app: JourneyApplication) -> None:
    ingestor = Ingestor(app)
    bad = tp("purchase.placed", touchpoint_id="x1")  # invalid: no order_id ...
    ingestor.ingest([line(delivered(touchpoint_id="d1")), line(bad),
                     line(order("O1", touchpoint_id="p1"))])

    summary = ingestor.retry_rejects(["invalid"])

    assert (summary.read, summary.rejected, dict(summary.rejected_by_reason)) == (
        1, 1, {"invalid": 1})
    assert open_ids(app) == ["d1", "x1"]  # d1 untouched; x1's new reject supersedes its old
    assert ingestor.retry_rejects(["unknown_entity"]).accepted == 1
    assert open_ids(app) == ["x1"]


def test_lines_without_a_string_id_or_whole_raw_stay_open_and_are_counted(
        app: JourneyApplication) -> None:
    huge = b'{"touchpoint_id": "big", "pad": "' + b"x" * MAX_LINE_BYTES + b'"}'
    ingestor = Ingestor(app)
    ingestor.ingest([b"not json", huge, line(delivered("O5", touchpoint_id="d5"))])
    assert open_ids(app) == [None, None, "d5"]  # the oversize line keeps no id: 1024 bytes

    summary = ingestor.retry_rejects()

    assert (summary.read, summary.rejected, summary.not_retried) == (1, 1, 2)
    assert open_ids(app) == [None, None, "d5"]
    every = app.journey_recorder.rejects()
    assert len(every[1].raw) == 1024 and every[1].raw == huge[:1024]
    assert len(every) == 4  # the two without an id were not decided again
    # A raw that is only a prefix is never taken for the line, whatever id it carries.
    detail = OversizeLine.of(huge).reject().detail
    assert not whole_line(RejectRow("big", "invalid", detail, huge[:1024]))
    assert whole_line(RejectRow("d5", "unknown_entity", "order:O5 does not exist", b"{}"))


def test_two_retries_at_once_decide_each_reject_once(store_url: str) -> None:
    first, second, holder = open_store(store_url), open_store(store_url), open_store(store_url)
    try:
        lines = [line(delivered(f"O{i}", touchpoint_id=f"d{i}")) for i in range(300)]
        never = [line(delivered(f"N{i}", touchpoint_id=f"n{i}")) for i in range(200)]
        Ingestor(first).ingest(lines + never + [line(order(f"O{i}")) for i in range(300)])
        results: list[Any] = []
        started = threading.Barrier(3)

        def retry(application: JourneyApplication) -> None:
            ingestor = Ingestor(application, batch_size=50)
            started.wait()
            results.append(ingestor.retry_rejects())

        threads = [threading.Thread(target=retry, args=(a,)) for a in (first, second)]
        with holder.journey_recorder.writer_lock():  # both queue up for their first batch
            for thread in threads:
                thread.start()
            started.wait()
            threading.Event().wait(0.5)
        for thread in threads:
            thread.join(timeout=120)

        assert len(results) == 2
        assert sum(r.accepted for r in results) == 300  # each accepted once
        assert sum(r.duplicates for r in results) == 0  # nor found accepted by the other
        assert first.journey_recorder.counts()["touchpoints"] == 600
        assert open_ids(first) == [f"n{i}" for i in range(200)]
        # No reject was re-decided twice: each names a reject no other decision names.
        retried = [r.source for r in first.journey_recorder.rejects()][500:]
        retried += [s for s in sources(first).values() if s is not None]
        assert len(retried) == len(set(retried)) == sum(r.read for r in results) >= 500
    finally:
        for application in (first, second, holder):
            application.close()


def test_a_crash_in_a_retry_leaves_a_store_a_re_run_completes(
        store_url: str, tmp_path: Path) -> None:
    lines = [line(delivered(f"O{i}", touchpoint_id=f"d{i}")) for i in range(10)]
    lines += [line(returned(f"O{i}", touchpoint_id=f"r{i}")) for i in range(5)]
    lines += [line(order(f"O{i}")) for i in range(10)]
    clean_url = _fresh(store_url, tmp_path, "clean")
    try:
        for url in (store_url, clean_url):
            application = open_store(url)
            Ingestor(application).ingest(lines)
            application.close()
        command = [JOURNEY, "--db", store_url, "rejects", "retry", "--batch-size", "4"]
        killed = subprocess.run(command, capture_output=True, timeout=120, env={
            **os.environ, "JOURNEY_FAILPOINTS": "ingest.committed=2"})
        assert killed.returncode == -9
        partly = open_store(store_url)
        assert partly.journey_recorder.reject_counts() == (15 - 8, 15)  # 2 batches stored
        partly.close()
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        subprocess.run([JOURNEY, "--db", clean_url, "rejects", "retry"], check=True,
                       capture_output=True, timeout=120)
        assert store_digest(store_url) == store_digest(clean_url)
    finally:
        _drop(clean_url)


# --- the index --------------------------------------------------------------------------------

def test_a_store_of_an_older_engine_gets_the_column_and_index_when_opened(
        store_url: str) -> None:
    application = open_store(store_url)
    Ingestor(application).ingest([b"x", line(order("O1", touchpoint_id="p1")),
                                  line({**order("O1", touchpoint_id="p1"), "currency": "USD"}),
                                  line(tp("purchase.placed", touchpoint_id="p1"))])
    postgres = application.env["PERSISTENCE_MODULE"] != "eventsourcing.sqlite"
    schema = f'"{application.env["POSTGRES_SCHEMA"]}".' if postgres else ""
    with behind_the_engines_back(application) as c:  # as an older engine left it
        c.execute(f"DROP INDEX {schema}journey_rejects_by_touchpoint")
        c.execute(f"ALTER TABLE {schema}journey_rejects DROP COLUMN accepted_before")
    assert not _has_index(application)
    application.close()

    reopened = open_store(store_url, create=False)
    try:
        assert _has_index(reopened)
        # Older rows: a conflicting_duplicate names an id accepted before it (open); for any
        # other reason the id's acceptance is taken to have come after it.
        rows = reopened.journey_recorder.rejects()
        assert [(r.reason, r.accepted_before, r.open) for r in rows] == [
            ("invalid_json", False, True), ("conflicting_duplicate", True, False),
            ("invalid", False, False)]
        Ingestor(reopened).ingest([line(tp("purchase.placed", touchpoint_id="p1", x=1))])
        assert reopened.journey_recorder.rejects()[-1].open  # new rows say what they know
    finally:
        reopened.close()


def _has_index(application: JourneyApplication) -> bool:
    recorder = application.journey_recorder
    with recorder.read_rows() as c:
        if application.env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
            c.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND name = ?",
                      ("journey_rejects_by_touchpoint",))
        else:
            c.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND "
                      "indexname = %s", (application.env["POSTGRES_SCHEMA"],
                                         "journey_rejects_by_touchpoint"))
        return c.fetchone() is not None


# --- helpers ----------------------------------------------------------------------------------

def _id_of(raw: bytes) -> str | None:
    import json

    try:
        value = json.loads(raw)
    except ValueError:
        return None
    found = value.get("touchpoint_id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


def _fresh(store_url: str, tmp_path: Path, name: str | None = None) -> str:
    """Another empty store on the same backend as ``store_url``."""
    import uuid

    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / f'{name or uuid.uuid4().hex}.db'}"
    assert POSTGRES
    return _postgres_url(f"t_{uuid.uuid4().hex[:12]}")


def _drop(url: str) -> None:
    if url.startswith("postgresql"):
        _drop_schema(url.rpartition("schema=")[2])
