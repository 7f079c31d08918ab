"""An ingest run of a file, at its edges: one live run per file, a view that cannot take an
event, lines too long to hold, and what counts as a blank line. Real stores, the real CLI."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from journey.infra.ingest import Ingestor, IngestSummary
from journey.infra.store import open_store
from journey.infra.workload import WorkloadOptions, write_workload
from journey.schemas.parsing import KEPT_PREFIX_BYTES, MAX_LINE_BYTES
from tests.support import JOURNEY, Journey, behind_the_engines_back, line, order, tp

pytestmark = pytest.mark.slow


def workload(path: Path, customers: int = 150, seed: int = 21) -> Path:
    with path.open("w", encoding="utf-8") as out:
        write_workload(WorkloadOptions(customers=customers, seed=seed), out)
    return path


def one_line_error(result: subprocess.CompletedProcess[bytes]) -> str:
    """The error a command printed: one line, no traceback."""
    err = result.stderr.decode()
    assert "Traceback" not in err
    errors = [ln for ln in err.splitlines() if ln.startswith("journey: error: ")]
    assert len(errors) == 1, err
    return errors[0]


def test_a_second_ingest_of_a_live_run_is_refused_and_only_a_dead_owners_run_resumes(
        store_url: str, tmp_path: Path) -> None:
    source = workload(tmp_path / "w.jsonl")
    clean = Journey(f"sqlite:///{tmp_path / 'clean.db'}", tmp_path).json("ingest", str(source))
    journey = Journey(store_url, tmp_path)

    # The owner stops (alive, holding its run) between its third and fourth batch.
    owner = subprocess.Popen(
        [JOURNEY, "--db", store_url, "--json", "ingest", str(source), "--batch-size", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "JOURNEY_FAILPOINTS": "ingest.between_batches=3:stop"})
    try:
        _, status = os.waitpid(owner.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), "the owner never reached its third batch"

        second = journey.run("--json", "ingest", str(source), check=False)
        assert second.returncode == 1
        assert second.stdout == b""  # nothing decided, nothing to report
        assert "another process is ingesting" in one_line_error(second)
        assert str(source.resolve()) in one_line_error(second)
        app = open_store(store_url)
        try:
            stored_while_refused = app.journey_recorder.counts()
        finally:
            app.close()
    finally:
        owner.kill()  # SIGKILL ends a stopped process too: a dead owner
        owner.communicate()
    assert owner.returncode == -signal.SIGKILL

    assert 0 < stored_while_refused["touchpoints"] < clean["accepted"]
    resumed = journey.json("ingest", str(source))
    assert resumed == clean  # the dead owner's run, resumed: one clean run's summary


def test_a_view_that_cannot_take_an_event_never_wedges_the_log(
        store_url: str, tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    lines = [line(order(f"O{i}", customer_id=f"C{i}")) for i in range(30)]
    lines.insert(12, line(order("O-POISON", touchpoint_id="tp-poison")))
    first.write_bytes(b"\n".join(lines) + b"\n")
    second.write_bytes(b"\n".join(
        line(order(f"P{i}", customer_id=f"D{i}")) for i in range(20)) + b"\n")
    journey = Journey(store_url, tmp_path)
    journey.run("project")  # the view tables exist, so the poison can be laid in one

    app = open_store(store_url)
    try:
        with behind_the_engines_back(app) as c:
            _refuse_in_views(app.env, c, "tp-poison")
    finally:
        app.close()

    # The log takes everything; the summary says so; the error names the event.
    failed = journey.run("--json", "ingest", str(first), check=False)
    assert failed.returncode == 1
    summary = json.loads(failed.stdout)
    assert summary == {"read": 31, "accepted": 31, "duplicates": 0, "rejected": 0,
                       "rejected_by_reason": {}}
    error = one_line_error(failed)
    assert "the views cannot take event 13 (" in error
    assert "journey project" in error
    # Later ingests still store (never a permanent loop): the views wait at the same event.
    later = journey.run("--json", "ingest", str(second), check=False)
    assert json.loads(later.stdout)["accepted"] == 20
    assert "event 13 (" in one_line_error(later)
    project = journey.run("project", check=False)
    assert project.returncode == 1 and "event 13 (" in one_line_error(project)
    timeline = journey.json("timeline", "C0")["entries"]
    assert [e["touchpoint_id"] for e in timeline]  # the views hold what came before it

    app = open_store(store_url)
    try:
        with behind_the_engines_back(app) as c:  # the cause fixed
            _refuse_in_views(app.env, c, None)
    finally:
        app.close()
    journey.run("project")
    clean = Journey(f"sqlite:///{tmp_path / 'clean.db'}", tmp_path)
    clean.json("ingest", str(first)), clean.json("ingest", str(second))
    for command in (("customers", "--top", "100"), ("errors",), ("timeline", "C-none")):
        assert journey.json(*command) == clean.json(*command)
    customers = {c["customer_id"]: c for c in journey.json("customers", "--top", "100")
                 ["customers"]}
    assert len(customers) == 50 and customers["C1"]["touchpoints"] == 2  # the poison's too

    # The first file's run stayed open while its views were behind: re-running it reports
    # that run; once complete, a re-run is a new run (all duplicates).
    assert journey.json("ingest", str(first)) == summary
    again = journey.json("ingest", str(first))
    assert (again["accepted"], again["duplicates"]) == (0, 31)


def _refuse_in_views(env: dict[str, str], c: Any, touchpoint_id: str | None) -> None:
    """A trigger that makes the timeline table refuse one touchpoint (None: drop it)."""
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        c.execute("DROP TRIGGER IF EXISTS poison")
        if touchpoint_id:
            c.execute("CREATE TRIGGER poison BEFORE INSERT ON view_touchpoints "
                      f"WHEN NEW.touchpoint_id = '{touchpoint_id}' "
                      "BEGIN SELECT RAISE(ABORT, 'the view refuses this row'); END")
        return
    schema = env["POSTGRES_SCHEMA"]
    c.execute(f'DROP TRIGGER IF EXISTS poison ON "{schema}".view_touchpoints')
    if touchpoint_id:
        c.execute(f'CREATE OR REPLACE FUNCTION "{schema}".poison() RETURNS trigger AS $$ '
                  f"BEGIN IF NEW.touchpoint_id = '{touchpoint_id}' THEN "
                  "RAISE EXCEPTION 'the view refuses this row'; END IF; RETURN NEW; END $$ "
                  "LANGUAGE plpgsql")
        c.execute(f'CREATE TRIGGER poison BEFORE INSERT ON "{schema}".view_touchpoints '
                  f'FOR EACH ROW EXECUTE FUNCTION "{schema}".poison()')


def _max_rss_mib(journey: Journey, *args: str) -> tuple[int, bytes]:
    """Run the command; its peak resident memory in MiB, and its stdout."""
    process = subprocess.Popen([JOURNEY, "--db", journey.db, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, cwd=journey.cwd)
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_maxrss // 1024, out


def test_memory_stays_bounded_by_line_and_batch_size(sqlite_url: str, tmp_path: Path) -> None:
    journey = Journey(sqlite_url, tmp_path)
    small = tmp_path / "small.jsonl"
    small.write_bytes(line(order("O0")) + b"\n")
    baseline, _ = _max_rss_mib(journey, "--json", "ingest", str(small))

    # One 64 MiB line, written without ever holding it: stored as a prefix, length, hash.
    huge = tmp_path / "huge.jsonl"
    with huge.open("wb") as out:
        out.write(b'{"touchpoint_id": "big", "x": "')
        for _ in range(64):
            out.write(b"y" * (1 << 20))
        out.write(b'"}\n' + line(order("O1")) + b"\n")
    peak, out = _max_rss_mib(journey, "--json", "ingest", str(huge))
    assert json.loads(out)["rejected_by_reason"] == {"invalid": 1}
    assert peak < baseline + 40, (peak, baseline)  # was baseline + ~230 MiB
    reject = journey.json("rejects")["rejects"][0]
    assert reject["touchpoint_id"] is None
    assert len(reject["raw"]) == KEPT_PREFIX_BYTES
    assert reject["raw"].startswith('{"touchpoint_id": "big", "x": "yyy')
    length = huge.stat().st_size - len(line(order("O1"))) - 2
    assert reject["detail"].startswith(
        f"line: exceeds the limit of {MAX_LINE_BYTES} bytes ({length} bytes); "
        f"raw keeps its first {KEPT_PREFIX_BYTES} bytes, the whole line's sha256 is ")

    # 100 valid lines of almost 1 MiB each: batches are cut by bytes, not only by count.
    many = tmp_path / "many.jsonl"
    with many.open("w", encoding="utf-8") as out:
        out.write(line(order("O-MANY")).decode() + "\n")
        for i in range(100):
            out.write(json.dumps(tp("purchase.cancelled", touchpoint_id=f"k{i}",
                                    order_id="O-MANY", reason="r" * 1_000_000)) + "\n")
    peak, out = _max_rss_mib(journey, "--json", "ingest", str(many))
    summary = json.loads(out)
    assert summary["read"] == 101 and summary["rejected"] + summary["accepted"] == 101
    assert peak < baseline + 160, (peak, baseline)  # was baseline + ~300 MiB; the page
    # cache of SQLite (64 MiB) and one batch of 8 MiB of lines are the bound now


def test_rejects_stream_exactly_the_document_they_describe(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    journey = Journey(sqlite_url, tmp_path)
    bad = [b"not json %d \xff" % i for i in range(250)] + [b'{"type": "x\\u00e9"}']
    journey.run("ingest", "-", stdin=b"\n".join(bad) + b"\n")
    out = journey.run("--json", "rejects").stdout
    document = json.loads(out)
    assert out.decode() == json.dumps(document, ensure_ascii=False) + "\n"  # emit_json's form
    assert [r["raw"] for r in document["rejects"]] == [
        b.decode("utf-8", errors="replace") for b in bad]
    table = journey.run("rejects").stdout.decode()
    assert "251 open rejects of 251" in table and "unknown_type" in table


@pytest.mark.parametrize("blank, outcome", [
    (b" \t \r", None),                # JSON whitespace only: blank, not counted
    (b"\x0b", "invalid_json"),         # vertical tab is not JSON whitespace
    (b"\x0c", "invalid_json"),         # nor form feed
    (b" \x0b\x0c ", "invalid_json"),
])
def test_only_json_whitespace_makes_a_line_blank(sqlite_url: str, tmp_path: Path,
                                                 blank: bytes, outcome: str | None) -> None:
    journey = Journey(sqlite_url, tmp_path)
    source = tmp_path / "w.jsonl"
    source.write_bytes(line(order("O1")) + b"\n" + blank + b"\n")
    summary = journey.json("ingest", str(source))
    expected = {} if outcome is None else {outcome: 1}
    assert summary["rejected_by_reason"] == expected
    assert summary["read"] == 1 + len(expected)
    if outcome:
        assert journey.json("rejects")["rejects"][0]["raw"] == blank.decode()


def test_a_batch_whose_write_fails_leaves_nothing_behind_in_the_ingestor(
        store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deciding changes the cached aggregates in place. When the write then fails for
    another reason than a conflict (a full disk, a lost connection: the store raises its
    OperationalError), the same Ingestor deciding the batch again (the HTTP intake's
    client retrying after a 503, a Kafka consumer after reconnecting) must decide it as
    if the failed attempt had never been: the same outcomes as one clean run, and every
    aggregate's versions 1, 2, ... without a gap."""
    out = io.StringIO()
    write_workload(WorkloadOptions(customers=40, seed=5), out)
    lines = [text.encode() for text in out.getvalue().splitlines()]
    batches = [lines[start:start + 150] for start in range(0, len(lines), 150)]
    assert len(batches) >= 4

    clean = open_store(f"sqlite:///{tmp_path / 'clean.db'}")
    expected = Ingestor(clean).ingest_batch(lines)
    clean.close()

    app = open_store(store_url)
    try:
        ingestor = Ingestor(app)
        total = IngestSummary()
        for number, batch in enumerate(batches):
            if number == 2:  # this batch's first write fails after it was decided
                with monkeypatch.context() as patch:
                    def unwritable(*args: Any, **kwargs: Any) -> None:
                        raise OperationalError("database or disk is full")
                    patch.setattr(app.events, "put", unwritable)
                    with pytest.raises(OperationalError):
                        ingestor.ingest_batch(batch)
            total.add(ingestor.ingest_batch(batch))
        assert total == expected and total.accepted > 0

        versions: dict[Any, list[int]] = {}
        for n in app.recorder.select_notifications(start=1, limit=10**9):
            versions.setdefault(n.originator_id, []).append(n.originator_version)
        assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
        assert any(len(v) > 1 for v in versions.values())
    finally:
        app.close()
