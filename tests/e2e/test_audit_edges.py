"""Auditors' edges (issue 12): what `verify-export` says and checks, offline verification of
an export, and `audit verify --expect-head`, through the real command on both stores.

Before: `verify-export` printed ``N records: MISMATCH: Mismatch(position=..., ...)`` (a
Python repr), its JSON ``store`` named the store the file came from rather than the one
checked, an export carried nothing to verify it without the store (no chain hashes), and
`audit verify` had no way to check the head against a value kept elsewhere.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import fastavro
import pytest

from journey.infra.store import open_store
from journey.infra.store.chain import link
from tests.support import JOURNEY, Journey, behind_the_engines_back, line, order, part, tp

SECRET = {"JOURNEY_AUDIT_SECRET": "auditors-edge-secret"}


def _lines(first: int, n: int) -> bytes:
    rows = []
    for i in range(first, first + n):
        rows += [order(f"O{i}", customer_id=f"C{i % 3}"),
                 tp("purchase.delivered", order_id=f"O{i}", customer_id=f"C{i % 3}"),
                 part("received", qty=2, part_id=f"P{i % 4}")]
    return b"".join(line(r) + b"\n" for r in rows)


@pytest.fixture
def journey(store_url: str, tmp_path: Path) -> Journey:
    journey = Journey(store_url, tmp_path)
    journey.run("ingest", "-", stdin=_lines(0, 12), env=SECRET)
    return journey


def _offline(path: Path, *args: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[bytes]:
    """`journey verify-export PATH` with no store named anywhere, in a folder without the
    default store (``journey.db``: verify-export would check against it)."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("JOURNEY_DB", "JOURNEY_AUDIT_SECRET", "JOURNEY_AUDIT_SECRET_FILE")}
    elsewhere = path.parent / "no-store-here"
    elsewhere.mkdir(exist_ok=True)
    return subprocess.run([JOURNEY, "verify-export", str(path), *args], capture_output=True,
                          cwd=elsewhere, env={**clean, **(env or {})}, timeout=120)


def _rewrite(src: Path, dst: Path, change: Any) -> None:
    """Write ``dst``: ``src`` with ``change(records, metadata)`` applied (a forger's tool)."""
    with src.open("rb") as f:
        reader = fastavro.reader(f)
        schema = reader.writer_schema
        metadata = {k: v.decode() if isinstance(v, bytes) else v
                    for k, v in reader.metadata.items() if k.startswith("journey.")}
        records = list(reader)
    change(records, metadata)
    out = io.BytesIO()
    fastavro.writer(out, schema, records, codec="deflate", metadata=metadata)
    dst.write_bytes(out.getvalue())


def _recompute(records: list[dict[str, Any]], start: int, stop: int | None = None) -> None:
    """Recompute the records' hashes from index ``start`` (to ``stop``), as a forger would."""
    import hashlib
    from uuid import UUID

    for i in range(start, len(records) if stop is None else stop):
        r = records[i]
        r["state_sha256"] = hashlib.sha256(r["state"]).hexdigest()
        prev = r["chain_prev"] if i == start else records[i - 1]["chain_hash"]
        r["chain_prev"] = prev
        r["chain_hash"] = link(bytes.fromhex(prev), r["position"],
                               UUID(str(r["originator_id"])).hex, r["originator_version"],
                               r["topic"], r["state"]).hex()


def _elsewhere(journey: Journey, tmp_path: Path) -> str:
    """The same store under another URL (a restored copy), so 'checked' and 'exported from'
    differ."""
    if journey.db.startswith("sqlite"):
        copy = tmp_path / "restored.db"
        with sqlite3.connect(journey.db[len("sqlite:///"):]) as src, \
                sqlite3.connect(copy) as dst:
            src.backup(dst)
        return f"sqlite:///{copy}"
    schema = parse_qs(urlsplit(journey.db).query)["schema"][0]
    app = open_store(journey.db)
    with behind_the_engines_back(app) as c:
        c.execute(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_r"')
    app.close()
    return journey.db.replace(f"schema={schema}", f"schema={schema}_r")


def test_verify_export_says_what_it_checked_names_that_store_and_words_a_mismatch(
        journey: Journey, tmp_path: Path) -> None:
    target = tmp_path / "all.avro"
    journey.run("export", "-o", str(target), env=SECRET)
    checked = Journey(_elsewhere(journey, tmp_path), tmp_path)
    try:
        document = checked.json("verify-export", str(target))
        text = checked.run("verify-export", str(target), env=SECRET).stdout.decode()
        app = open_store(checked.db)
        r = app.journey_recorder
        with behind_the_engines_back(app) as c:
            c.execute(f"UPDATE {r.events_sql} SET state = {r.ph} WHERE {r.position_sql} = 7",
                      (b'{"tampered": true}',))
        app.close()
        bad = checked.run("verify-export", str(target), check=False)
        bad_json = checked.run("verify-export", str(target), "--json", check=False)
    finally:
        if not checked.db.startswith("sqlite"):
            _drop(checked.db)

    assert (document["ok"], document["offline"]) == (True, False)
    assert document["store"] == checked.db != journey.db
    assert document["exported_from"] == journey.db
    assert document["chain_checked"] == document["records"] > 30 and document["chain_linked"]
    assert text.splitlines()[0] == f"checked {target} against the store {checked.db}"
    assert "matched: every record is the store's event byte for byte" in text
    assert "head seal: verified with the configured secret" in text
    assert text.splitlines()[-1] == "ok"
    assert bad.returncode == 1, bad.stderr.decode()
    lines = bad.stdout.decode().splitlines()
    assert lines, bad.stderr.decode()
    assert lines[-1].startswith("MISMATCH at position 7: state: stored bytes differ from byte ")
    assert "Mismatch(" not in bad.stdout.decode()
    assert __import__("json").loads(bad_json.stdout)["first_mismatch"]["position"] == 7


def _drop(url: str) -> None:
    import psycopg

    from tests.conftest import POSTGRES
    schema = parse_qs(urlsplit(url).query)["schema"][0]
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_offline_verification_checks_the_chain_in_the_file_and_catches_a_tampered_event(
        journey: Journey, tmp_path: Path) -> None:
    import json

    target = tmp_path / "all.avro"
    journey.run("export", "-o", str(target), env=SECRET)
    journey.run("export", "--customer", "C1", "-o", str(tmp_path / "c1.avro"), env=SECRET)

    clean = json.loads(_offline(target, "--json").stdout)
    customer = json.loads(_offline(tmp_path / "c1.avro", "--json").stdout)
    sealed = _offline(target, env=SECRET).stdout.decode()

    # A forger edits one event and recomputes its SHA-256 (not its chain hash) ...
    def edit(records: list[dict[str, Any]], _: dict[str, str]) -> None:
        records[9]["state"] = records[9]["state"].replace(b'"C', b'"X', 1)
        records[9]["state_sha256"] = __import__("hashlib").sha256(records[9]["state"]).hexdigest()
    _rewrite(target, tmp_path / "edited.avro", edit)
    edited = _offline(tmp_path / "edited.avro", "--json")

    # ... or its chain hash too: the next record no longer follows on from it.
    def rehash(records: list[dict[str, Any]], metadata: dict[str, str]) -> None:
        edit(records, metadata)
        _recompute(records, 9, 10)  # the records after it stay as exported
    _rewrite(target, tmp_path / "rehashed.avro", rehash)
    rehashed = _offline(tmp_path / "rehashed.avro", "--json")

    # ... or every hash after it and the head hash: only the seal (with the secret) knows.
    def forge(records: list[dict[str, Any]], metadata: dict[str, str]) -> None:
        edit(records, metadata)
        _recompute(records, 9)
        metadata["journey.head_hash"] = records[-1]["chain_hash"]
    _rewrite(target, tmp_path / "forged.avro", forge)
    forged_without_secret = _offline(tmp_path / "forged.avro", "--json")
    forged_with_secret = _offline(tmp_path / "forged.avro", "--json", env=SECRET)

    assert (clean["ok"], clean["offline"], clean["store"]) == (True, True, None)
    assert clean["chain_linked"] and clean["chain_checked"] == clean["records"] > 30
    assert clean["head_seal"] == "unchecked"  # no secret given
    assert customer["ok"] and not customer["chain_linked"]
    assert customer["chain_checked"] == customer["records"] > 0
    assert "proven: the seal authenticates the head hash" in sealed
    position = clean_position(target, 9)
    assert edited.returncode == 1
    assert json.loads(edited.stdout)["first_mismatch"]["position"] == position
    assert json.loads(edited.stdout)["first_mismatch"]["field"] == "chain_hash"
    assert rehashed.returncode == 1
    assert json.loads(rehashed.stdout)["first_mismatch"]["field"] == "chain_prev"
    assert json.loads(forged_without_secret.stdout)["ok"] is True  # the documented limit
    assert forged_with_secret.returncode == 1
    assert json.loads(forged_with_secret.stdout)["first_mismatch"]["field"] == "head_seal"

    # An event slipped in without chain fields, the next one chained past it (as a gap in
    # PostgreSQL's ids would allow): a whole-log export chains every event, so it is caught.
    def insert(records: list[dict[str, Any]], _: dict[str, str]) -> None:
        slipped = dict(records[9], chain_prev=None, chain_hash=None)
        slipped["state"] = slipped["state"].replace(b'"C', b'"X', 1)
        slipped["state_sha256"] = __import__("hashlib").sha256(slipped["state"]).hexdigest()
        records[9] = slipped
        records[10]["chain_prev"] = records[8]["chain_hash"]
        _recompute(records, 10)
    _rewrite(target, tmp_path / "slipped.avro", insert)
    slipped = _offline(tmp_path / "slipped.avro", "--json", env=SECRET)
    assert slipped.returncode == 1
    assert json.loads(slipped.stdout)["first_mismatch"]["position"] == position

    # With the secret configured, stripping the seal (or its key's fingerprint) dodges nothing.
    def strip(records: list[dict[str, Any]], metadata: dict[str, str]) -> None:
        forge(records, metadata)
        del metadata["journey.head_seal"]
    _rewrite(target, tmp_path / "stripped.avro", strip)
    stripped = _offline(tmp_path / "stripped.avro", "--json", env=SECRET)
    assert stripped.returncode == 1
    assert json.loads(stripped.stdout)["head_seal"] == "absent"

    def refingerprint(records: list[dict[str, Any]], metadata: dict[str, str]) -> None:
        forge(records, metadata)
        metadata["journey.key_fingerprint"] = "0" * 16
    _rewrite(target, tmp_path / "refingerprinted.avro", refingerprint)
    other_key = _offline(tmp_path / "refingerprinted.avro", "--json", env=SECRET)
    assert other_key.returncode == 1
    assert json.loads(other_key.stdout)["first_mismatch"]["field"] == "head_seal"


def clean_position(path: Path, index: int) -> int:
    with path.open("rb") as f:
        return int(list(fastavro.reader(f))[index]["position"])


def test_audit_verify_expect_head_checks_the_head_against_a_value_kept_elsewhere(
        journey: Journey) -> None:
    import json

    first = json.loads(journey.run("audit", "verify", "--json", env=SECRET).stdout)
    journey.run("ingest", "-", stdin=_lines(100, 5), env=SECRET)
    later = json.loads(journey.run("audit", "verify", "--json", env=SECRET).stdout)

    found = journey.run("audit", "verify", "--expect-head", first["head_hash"], env=SECRET)
    found_json = json.loads(journey.run("audit", "verify", "--json", "--expect-head",
                                        first["head_hash"], env=SECRET).stdout)
    wrong = journey.run("audit", "verify", "--expect-head", "ab" * 32, env=SECRET, check=False)
    malformed = journey.run("audit", "verify", "--expect-head", "xyz", check=False)

    # Cut off the newest batch with its chain rows and seals: the chain alone cannot tell.
    app = open_store(journey.db)
    r = app.journey_recorder
    with behind_the_engines_back(app) as c:
        cut = first["sealed_up_to"]
        c.execute(f"DELETE FROM {r.events_sql} WHERE {r.position_sql} > {r.ph}", (cut,))
        c.execute(f"DELETE FROM {r.chain_sql} WHERE position > {r.ph}", (cut,))
        c.execute(f"DELETE FROM {r.seals_sql} WHERE position > {r.ph}", (cut,))
    app.close()
    truncated = journey.run("audit", "verify", env=SECRET, check=False)
    anchored = journey.run("audit", "verify", "--json", "--expect-head", later["head_hash"],
                           env=SECRET, check=False)

    assert first["ok"] and later["sealed_up_to"] > first["sealed_up_to"]
    assert found.stdout.decode().splitlines()[0] == (
        f"expected head: found at position {first['sealed_up_to']} "
        f"({later['events'] - first['events']} events appended since): nothing up to it was "
        "cut off or rewritten")
    assert found_json["ok"] is True
    assert found_json["expected_head"] == {"hash": first["head_hash"],
                                           "found_at": first["sealed_up_to"],
                                           "events_after": later["events"] - first["events"]}
    assert wrong.returncode == 1
    assert wrong.stdout.decode().strip().startswith(f"HEAD NOT FOUND: the expected head hash "
                                                    f"{'ab' * 32} is not the chain hash of any")
    assert malformed.returncode == 2
    assert b"expected 64 hex digits" in malformed.stderr
    assert truncated.returncode == 0  # without the anchor, a clean cut looks fine
    report = json.loads(anchored.stdout)
    assert anchored.returncode == 1
    assert (report["ok"], report["problem"], report["expected_head"]["found_at"]) == (
        False, "head_not_found", None)
