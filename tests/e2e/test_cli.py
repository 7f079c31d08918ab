"""The `journey` command as a user runs it: exact --json, clear errors, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import JOURNEY, Journey, line, order, tp


def jsonl(*objs: object) -> bytes:
    return b"\n".join(line(o) if not isinstance(o, bytes) else o for o in objs) + b"\n"  # type: ignore[arg-type]


def test_ingest_json_is_exactly_the_contract_summary(journey: Journey, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl(
        order("O1", touchpoint_id="a"), b"", b"   ", order("O1", touchpoint_id="a"),
        tp("purchase.delivered", order_id="O2"), b"{oops",
    ))

    summary = journey.json("ingest", str(source))

    assert summary == {
        "read": 4, "accepted": 1, "duplicates": 1, "rejected": 2,
        "rejected_by_reason": {"invalid_json": 1, "unknown_entity": 1},
    }


def test_ingest_reads_standard_input(journey: Journey) -> None:
    summary = journey.json("ingest", "-", stdin=jsonl(order("O1")))
    assert summary["accepted"] == 1


def test_rejects_lists_reason_detail_and_the_raw_line_in_arrival_order(
    journey: Journey,
) -> None:
    raw_bad = b'{"touchpoint_id": "b1", "type": "nope"}'
    raw_bytes = b"\xff\xfe not utf-8"
    journey.run("ingest", "-", stdin=jsonl(raw_bad, order("O1"), raw_bytes, b"[1,2]"))

    rejects = journey.json("rejects")["rejects"]

    assert [(r["touchpoint_id"], r["reason"]) for r in rejects] == [
        ("b1", "unknown_type"), (None, "invalid_json"), (None, "invalid_json"),
    ]
    assert rejects[0]["raw"] == raw_bad.decode()
    assert rejects[2]["raw"] == "[1,2]"
    assert all(r["detail"] for r in rejects)
    # the contract's fields, and where each line came from (an engine extension)
    assert set(rejects[0]) == {"touchpoint_id", "reason", "detail", "raw", "source"}
    assert [r["source"] for r in rejects] == ["-:1", "-:3", "-:4"]
    assert "raw_base64" in rejects[1] and "raw_base64" not in rejects[0]


def test_json_flag_works_before_or_after_the_command(journey: Journey) -> None:
    journey.run("ingest", "-", stdin=jsonl(order("O1")))
    before = journey.run("--json", "rejects")
    after = journey.run("rejects", "--json")
    assert json.loads(before.stdout) == json.loads(after.stdout) == {"rejects": []}


def test_a_missing_file_is_one_clear_error_line_and_a_non_zero_exit(journey: Journey) -> None:
    result = journey.run("ingest", "does-not-exist.jsonl", "--json", check=False)

    assert result.returncode != 0
    assert result.stdout == b""
    assert b"Traceback" not in result.stderr
    assert b"does-not-exist.jsonl" in result.stderr


def test_an_unreachable_postgresql_is_one_clear_error_line(tmp_path: Path) -> None:
    journey = Journey("postgresql://nobody@127.0.0.1:1/none", tmp_path)

    result = journey.run("ingest", "-", stdin=jsonl(order("O1")), check=False)

    assert result.returncode == 75  # try again later: an operational failure, not bad input
    assert b"Traceback" not in result.stderr
    errors = [row for row in result.stderr.splitlines() if not row.startswith(b"{")]
    assert len(errors) == 1
    assert errors[0].startswith(
        b"journey: error: the database is unreachable (postgresql://nobody@127.0.0.1:1/none)")


def test_logs_go_to_stderr_as_json_lines(journey: Journey) -> None:
    result = journey.run("--json", "ingest", "-", stdin=jsonl(order("O1")))

    json.loads(result.stdout)  # stdout is the document alone
    events = [json.loads(row) for row in result.stderr.decode().splitlines() if row.strip()]
    assert any(e["event"] == "ingest.done" and e["accepted"] == 1 for e in events)


def test_generate_is_deterministic_and_ingests_with_only_the_planned_rejects(
    journey: Journey, tmp_path: Path,
) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    journey.run("generate", "--customers", "150", "--seed", "3", "-o", str(first))
    journey.run("generate", "--customers", "150", "--seed", "3", "-o", str(second))
    assert first.read_bytes() == second.read_bytes()

    from journey.infra.workload import WorkloadOptions, generate_with_labels

    labels = [label for _, label in generate_with_labels(WorkloadOptions(150, seed=3))]
    summary = journey.json("ingest", str(first))

    assert summary["read"] == len(labels)
    assert summary["accepted"] == labels.count("valid")
    assert summary["duplicates"] == labels.count("duplicate")
    expected = {r: labels.count(r) for r in set(labels) - {"valid", "duplicate"}}
    assert summary["rejected_by_reason"] == expected


def test_the_command_is_installed() -> None:
    assert Path(JOURNEY).exists()


def test_history_as_of_and_audit_replay_from_the_command_line(journey: Journey) -> None:
    journey.run("ingest", "-", stdin=jsonl(
        order("O1", at="2026-01-01T00:00:00Z"),
        tp("purchase.delivered", order_id="O1", at="2026-02-01T00:00:00Z")))

    full = journey.json("history", "order:O1")
    january = journey.json("history", "order:O1", "--as-of", "2026-01-31")
    replay = journey.json("audit", "replay")

    assert [e["type"] for e in full["events"]] == ["purchase.placed", "purchase.delivered"]
    assert [e["state"]["status"] for e in january["events"]] == ["placed"]
    assert january["as_of"] == "2026-01-31T23:59:59.999999Z"
    assert replay["ok"] is True


def test_bad_time_or_entity_arguments_are_one_clear_error_line(journey: Journey) -> None:
    for args in (("history", "planet:X"), ("errors", "--as-of", "yesterday"),
                 ("timeline", "C1", "--known-at", "2026-01-01T00:00:00")):
        result = journey.run(*args, check=False)
        lines = [r for r in result.stderr.splitlines() if not r.startswith(b"{")]
        assert result.returncode == 2, args  # a usage error (issue 12)
        assert len(lines) == 1 and lines[0].startswith(b"journey: error:"), lines


def test_export_opens_with_any_avro_reader_and_verifies_against_the_store(
    journey: Journey, tmp_path: Path,
) -> None:
    import fastavro

    journey.run("ingest", "-", stdin=jsonl(order("O1"), tp("purchase.delivered", order_id="O1"),
                                           order("O2", customer_id="C2")))
    target = tmp_path / "c1.avro"

    summary = journey.json("export", "--customer", "C1", "-o", str(target))
    with target.open("rb") as f:
        records = list(fastavro.reader(f))
    verified = journey.json("verify-export", str(target))

    assert summary["records"] == len(records) == 2
    assert [r["position"] for r in records] == sorted(r["position"] for r in records)
    assert {r["customer_id"] for r in records} == {"C1"}
    assert verified["ok"] is True


def test_audit_verify_says_ok_on_an_untouched_store_and_names_a_tampered_row(
    journey: Journey, tmp_path: Path,
) -> None:
    import sqlite3

    secret = {"JOURNEY_AUDIT_SECRET": "e2e-secret"}  # without one, verify never says ok
    journey.run("ingest", "-", stdin=jsonl(order("O1"), tp("purchase.delivered", order_id="O1"),
                                           order("O2")), env=secret)
    clean = journey.run("--json", "audit", "verify", env=secret)
    with sqlite3.connect(tmp_path / "journey.db") as db:
        db.execute("UPDATE stored_events SET state = replace(state, 'EUR', 'USD') WHERE rowid = 3")
    tampered = journey.run("--json", "audit", "verify", check=False, env=secret)

    assert clean.returncode == 0
    assert (json.loads(clean.stdout)["ok"], json.loads(clean.stdout)["seals"]) == (True, "verified")
    assert tampered.returncode == 1
    report = json.loads(tampered.stdout)
    assert (report["ok"], report["chain"], report["first_bad_position"]) == (False, "broken", 3)


def test_schema_touchpoint_prints_the_shipped_json_schema(journey: Journey) -> None:
    shipped = Path(__file__).resolve().parents[2] / "schemas" / "touchpoint.schema.json"

    printed = journey.run("schema", "touchpoint").stdout

    assert shipped.read_bytes() == printed
    assert json.loads(printed)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_help_lists_every_command_in_its_place(journey: Journey) -> None:
    expected = ["ingest", "rejects", "timeline", "customers", "errors", "kpis", "invoices",
                "stock", "project", "rebuild", "history", "export", "verify-export", "generate",
                "publish", "tail", "broker", "serve", "report", "audit", "consume", "token",
                "schema"]

    shown = journey.run("--help", env={"COLUMNS": "120"}).stdout.decode()

    listed = [line.split()[1] for line in shown.splitlines()
              if line.startswith("│ ") and line[2:3].isalpha()]
    assert expected == listed
