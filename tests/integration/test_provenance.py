"""Where each decision came from: every reject and accepted touchpoint keeps its provenance
(file and physical line, ``-`` for stdin, Kafka topic/partition@offset), and ``journey
rejects`` shows it, filters by reason, stops at a limit, prints table, CSV or JSON, and gives
the exact bytes of a line that is not UTF-8. Real stores, the real CLI, a real broker."""

from __future__ import annotations

import base64
import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from journey.consumers.touchpoints import TouchpointConsumer
from journey.infra.kafka.client import ensure_topics, make_producer
from journey.infra.kafka.topics import Topics
from journey.infra.store import JourneyApplication, open_store
from journey.schemas.parsing import MAX_LINE_BYTES
from tests.support import Journey, behind_the_engines_back, line, order, tp

NOT_UTF8 = b'{"touchpoint_id": "caf\xe9", "type": "x"}'

#: Physical lines of the file: blank ones count, a CRLF line is one line, an oversize line
#: is one line whatever its length.
LINES = [
    line(order("O1")),                                                    # 1 accepted
    b"",                                                                  # 2 blank
    b"not json",                                                          # 3 invalid_json
    b"   \t",                                                             # 4 blank
    line(tp("purchase.delivered", order_id="O-none", touchpoint_id="tp-ghost")) + b"\r",  # 5
    NOT_UTF8,                                                             # 6 invalid_json
    b'{"touchpoint_id": "' + b"x" * MAX_LINE_BYTES + b'"}',               # 7 invalid (size)
    line(tp("purchase.delivered", order_id="O1", touchpoint_id="tp-ok")),  # 8 accepted
    line({"touchpoint_id": "tp-typeless", "type": "nope"}),               # 9 unknown_type
]
EXPECTED = [("3", "invalid_json", None), ("5", "unknown_entity", "tp-ghost"),
            ("6", "invalid_json", None), ("7", "invalid", None),
            ("9", "unknown_type", "tp-typeless")]


def accepted_sources(app: JourneyApplication) -> dict[str, str | None]:
    recorder = app.journey_recorder
    with recorder.read_rows() as c:
        c.execute(f"SELECT touchpoint_id, source FROM {recorder.touchpoints_sql}")
        return dict(c.fetchall())


def test_a_file_s_rejects_and_accepted_touchpoints_name_their_physical_line(
        store_url: str, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "tp.jsonl").write_bytes(b"\n".join(LINES) + b"\n")
    journey = Journey(store_url, tmp_path)

    journey.run("ingest", "in/tp.jsonl")  # the name as given, relative to where it runs
    rejects = journey.json("rejects")["rejects"]

    assert [(r["source"], r["reason"], r["touchpoint_id"]) for r in rejects] == [
        (f"in/tp.jsonl:{n}", reason, tid) for n, reason, tid in EXPECTED]
    assert set(rejects[0]) == {"touchpoint_id", "reason", "detail", "raw", "source"}
    app = open_store(store_url)
    try:
        assert accepted_sources(app) == {_id(LINES[0]): "in/tp.jsonl:1",
                                         "tp-ok": "in/tp.jsonl:8"}
    finally:
        app.close()


def _id(raw: bytes) -> str:
    return str(json.loads(raw)["touchpoint_id"])


def test_standard_input_is_dash_with_line_numbers(store_url: str, tmp_path: Path) -> None:
    journey = Journey(store_url, tmp_path)

    journey.run("ingest", "-", stdin=b"\n".join([b"", b"[]", line(order("O1")), b"{"]))

    assert [r["source"] for r in journey.json("rejects")["rejects"]] == ["-:2", "-:4"]


def test_a_line_that_is_not_utf8_comes_back_byte_for_byte(store_url: str,
                                                           tmp_path: Path) -> None:
    journey = Journey(store_url, tmp_path)
    journey.run("ingest", "-", stdin=b"[1]\n" + NOT_UTF8 + b"\n")

    utf8, latin1 = journey.json("rejects")["rejects"]

    assert "raw_base64" not in utf8 and utf8["raw"] == "[1]"
    assert base64.b64decode(latin1["raw_base64"]) == NOT_UTF8  # exact bytes
    assert latin1["raw"] == NOT_UTF8.decode("utf-8", "replace")  # readable, marked lossy


def test_rejects_filter_by_reason_stop_at_a_limit_and_print_csv_and_a_table(
        store_url: str, tmp_path: Path) -> None:
    (tmp_path / "tp.jsonl").write_bytes(b"\n".join(LINES))  # no final newline
    journey = Journey(store_url, tmp_path)
    journey.run("ingest", "tp.jsonl")

    only = journey.json("rejects", "--reason", "invalid_json", "--reason", "unknown_type")
    assert [r["source"] for r in only["rejects"]] == ["tp.jsonl:3", "tp.jsonl:6", "tp.jsonl:9"]
    limited = journey.json("rejects", "--reason", "invalid_json", "--limit", "1")
    assert [r["source"] for r in limited["rejects"]] == ["tp.jsonl:3"]
    as_format = journey.run("rejects", "--format", "json", "--limit", "2").stdout
    assert [r["source"] for r in json.loads(as_format)["rejects"]] == ["tp.jsonl:3",
                                                                        "tp.jsonl:5"]

    rows = list(csv.DictReader(io.StringIO(journey.run("rejects", "--format", "csv")
                                           .stdout.decode())))
    assert [(r["seq"], r["source"], r["reason"]) for r in rows] == [
        (str(i), f"tp.jsonl:{n}", reason) for i, (n, reason, _) in enumerate(EXPECTED, 1)]
    assert base64.b64decode(rows[2]["raw_base64"]) == NOT_UTF8
    assert rows[0]["raw"] == "not json" and rows[0]["raw_base64"] == ""

    table = journey.run("rejects", "--reason", "unknown_entity").stdout.decode()
    assert "tp.jsonl:5" in table and "tp-ghost" in table and "tp.jsonl:3" not in table
    assert "1 open rejects of 1" in table  # every reject of this file is open (4.9)
    assert "the first 2 of 5 open rejects of 5" in journey.run(
        "rejects", "--limit", "2").stdout.decode()


@pytest.mark.parametrize("args", [["--reason", "Nonsense"], ["--limit", "0"],
                                  ["--limit", "-1"], ["--format", "xml"]])
def test_bad_rejects_options_are_one_line_and_exit_2(sqlite_url: str, tmp_path: Path,
                                                     args: list[str]) -> None:
    journey = Journey(sqlite_url, tmp_path)
    journey.run("ingest", "-", stdin=b"[]\n")

    result = journey.run("rejects", *args, check=False)

    assert result.returncode == 2
    assert result.stdout == b""
    err = result.stderr.decode()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith("journey: error: ")


def test_a_store_without_provenance_columns_gets_them_when_opened(
        store_url: str, tmp_path: Path) -> None:
    journey = Journey(store_url, tmp_path)
    old, new = line(order("O1")), line(order("O2"))
    journey.run("ingest", "-", stdin=b"[]\n" + old + b"\n")
    app = open_store(store_url)
    recorder = app.journey_recorder
    try:  # the tables as an engine before provenance wrote them
        with behind_the_engines_back(app) as c:
            for table in (recorder.rejects_sql, recorder.touchpoints_sql):
                c.execute(f"ALTER TABLE {table} DROP COLUMN source")
    finally:
        app.close()

    (tmp_path / "more.jsonl").write_bytes(b"{\n" + new + b"\n")
    journey.run("ingest", "more.jsonl")

    assert [r["source"] for r in journey.json("rejects")["rejects"]] == [None, "more.jsonl:1"]
    app = open_store(store_url)
    try:
        assert accepted_sources(app) == {_id(old): None, _id(new): "more.jsonl:2"}
    finally:
        app.close()


def test_kafka_messages_name_their_topic_partition_and_offset(
        store_url: str, kafka_bootstrap: str) -> None:
    topics = Topics(f"t{uuid.uuid4().hex[:10]}", 1)
    ensure_topics(kafka_bootstrap, {topics.touchpoints: 1, topics.dlq: 1})
    values = [line(order("O1")), b"not json", line(tp("purchase.delivered", order_id="O1")),
              b"[]"]
    producer = make_producer(kafka_bootstrap)
    for value in values:
        producer.send(topics.touchpoints, value=value)
    producer.flush()
    producer.close()
    app = open_store(store_url)
    try:
        options: dict[str, Any] = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000,
                                   "max_poll_interval_ms": 10_000}
        TouchpointConsumer(app, kafka_bootstrap, topics, "g-" + topics.prefix, views=False,
                           consumer_options=options).run(idle=1.5)

        where = f"kafka:{topics.touchpoints}/0@"
        assert [r.source for r in app.journey_recorder.rejects()] == [where + "1", where + "3"]
        assert set(accepted_sources(app).values()) == {where + "0", where + "2"}
    finally:
        app.close()
