"""`journey rejects` (open ones), `--all` (every decision) and `journey rejects retry` as a user
runs them, on SQLite and PostgreSQL: the out-of-order feed made whole by a retry."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.integration.test_quiet_and_interrupted import _sigint_when_stopped
from tests.support import Journey, line, order, tp

CONTRACT_SUMMARY = {"read", "accepted", "duplicates", "rejected", "rejected_by_reason"}


@pytest.fixture
def journey(store_url: str, tmp_path: Path) -> Journey:
    return Journey(store_url, tmp_path)


def write(path: Path, *lines: bytes) -> str:
    """Writes the file; its name as given to ingest (the runner's cwd is its folder)."""
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path.name


DELIVERED = line(tp("purchase.delivered", at="2026-03-02T10:00:00Z", order_id="O1",
                    touchpoint_id="tp-delivered", customer_id="C7"))
PLACED = line(order("O1", touchpoint_id="tp-placed", customer_id="C7"))


def test_a_delivery_before_its_order_is_accepted_on_retry(journey: Journey,
                                                           tmp_path: Path) -> None:
    feed = write(tmp_path / "feed.jsonl", DELIVERED, PLACED)
    assert journey.json("ingest", feed)["rejected_by_reason"] == {"unknown_entity": 1}
    (shown,) = journey.json("rejects")["rejects"]
    assert (shown["touchpoint_id"], shown["reason"], shown["source"]) == (
        "tp-delivered", "unknown_entity", "feed.jsonl:1")

    retried = journey.run("rejects", "retry", "--json")

    assert json.loads(retried.stdout) == {"read": 1, "accepted": 1, "duplicates": 0,
                                          "rejected": 0, "rejected_by_reason": {}}
    assert retried.stdout.count(b"\n") == 1  # one document, nothing else on stdout
    assert journey.json("rejects") == {"rejects": []}
    assert journey.json("rejects", "--all") == {"rejects": [shown]}
    entries = journey.json("timeline", "C7")["entries"]  # views current when retry returns
    assert [e["touchpoint_id"] for e in entries] == ["tp-placed", "tp-delivered"]
    assert journey.json("rejects", "retry") == {"read": 0, "accepted": 0, "duplicates": 0,
                                                "rejected": 0, "rejected_by_reason": {}}


def test_listing_shows_open_rejects_all_every_decision_tables_say_how_many(
        journey: Journey, tmp_path: Path) -> None:
    feed = write(tmp_path / "in.jsonl", DELIVERED, b"{oops",
                 line(tp("purchase.delivered", order_id="O9", touchpoint_id="tp-never")), PLACED)
    journey.run("ingest", feed)
    journey.run("rejects", "retry", "--reason", "unknown_entity")  # one accepted, one again

    open_now = journey.json("rejects")["rejects"]
    every = journey.json("rejects", "--all")["rejects"]
    assert [(r["touchpoint_id"], r["source"]) for r in open_now] == [
        (None, "in.jsonl:2"), ("tp-never", "retry of reject #3 (in.jsonl:3)")]
    assert [r["touchpoint_id"] for r in every] == [
        "tp-delivered", None, "tp-never", "tp-never"]
    assert set(every[0]) == {"touchpoint_id", "reason", "detail", "raw", "source"}
    assert every[3]["raw"] == every[2]["raw"]  # the same line, decided again
    assert journey.json("rejects", "--reason", "unknown_entity")["rejects"] == open_now[1:]
    assert journey.json("rejects", "--all", "--limit", "1")["rejects"] == every[:1]

    table = journey.run("rejects").stdout.decode()
    assert "2 open rejects of 4" in table and "tp-delivered" not in table
    everything = journey.run("rejects", "--all").stdout.decode()
    assert "4 rejects, 2 open" in everything and "tp-delivered" in everything
    assert "the first 1 of 2 open rejects of 4" in journey.run(
        "rejects", "--limit", "1").stdout.decode()
    rows = list(csv.DictReader(io.StringIO(journey.run("rejects", "--all", "--format", "csv")
                                           .stdout.decode())))
    assert [row["seq"] for row in rows] == ["1", "2", "3", "4"]


def test_retry_prints_the_ingest_summary_and_says_what_it_cannot_retry(
        journey: Journey, tmp_path: Path) -> None:
    journey.run("ingest", write(tmp_path / "in.jsonl", b"not json", DELIVERED))

    result = journey.run("rejects", "retry")

    text = result.stdout.decode()
    assert "read" in text and "unknown_entity" in text
    assert "1 open reject not retried (still open)" in text
    events = [json.loads(x) for x in result.stderr.decode().splitlines() if x.startswith("{")]
    assert any(e["event"] == "rejects.retry.skipped" and e["open"] == 1 for e in events)
    summary = journey.json("--log-level", "warning", "rejects", "retry")
    assert set(summary) == CONTRACT_SUMMARY and summary["rejected"] == 1


def test_retry_options_are_its_own(journey: Journey, tmp_path: Path) -> None:
    journey.run("ingest", write(tmp_path / "in.jsonl", DELIVERED))
    for args in (("rejects", "--all", "retry"), ("rejects", "--reason", "invalid", "retry"),
                 ("rejects", "retry", "--reason", "nope"), ("rejects", "retry", "--limit", "1")):
        result = journey.run(*args, check=False)
        assert result.returncode == 2, args
        assert result.stderr.decode().count("\n") == 1, result.stderr
    assert json.loads(journey.run("rejects", "--json", "retry").stdout)["read"] == 1


def test_ctrl_c_during_a_retry_says_what_is_kept_and_a_rerun_finishes(
        journey: Journey, store_url: str, tmp_path: Path) -> None:
    early = [line(tp("purchase.delivered", order_id=f"O{i}", touchpoint_id=f"d{i}"))
             for i in range(6)]
    journey.run("ingest", write(tmp_path / "in.jsonl", *early,
                                *(line(order(f"O{i}")) for i in range(6))))

    interrupted = _sigint_when_stopped(
        ["--db", store_url, "rejects", "retry", "--batch-size", "2"], "ingest.committed=2:stop",
        tmp_path)

    assert interrupted.returncode == 130
    assert interrupted.stderr.decode().splitlines() == [
        "journey: interrupted: the batches re-decided so far are stored (their rejects are "
        "closed or superseded by new ones); run the same command to re-decide the rejects "
        "still open"]
    assert [r["touchpoint_id"] for r in journey.json("rejects")["rejects"]] == ["d4", "d5"]
    assert journey.json("rejects", "retry")["accepted"] == 2
    assert journey.json("rejects") == {"rejects": []}
