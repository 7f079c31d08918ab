"""Seals fail closed, through the real ``journey`` command on every store: ``audit verify``
says ok only with the store's own secret, and a writer never mixes keys in one store."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from journey.infra.audit.verify import verify_log
from journey.infra.ingest import Ingestor
from journey.infra.store import AuditKeyMismatch, JourneyApplication, StoreError, open_store
from journey.infra.store.chain import (
    DEFAULT_FINGERPRINT,
    audit_key,
    key_fingerprint,
    link,
    oid_text,
    seal_mac,
)
from journey.infra.workload import WorkloadOptions, write_workload
from tests.support import JOURNEY, behind_the_engines_back, line, order

SECRET = "the-store-secret"
OTHER = "another-secret"
STORE_KEY = key_fingerprint(audit_key(SECRET))
OTHER_KEY = key_fingerprint(audit_key(OTHER))


def workload(customers: int = 12, seed: int = 4) -> bytes:
    out = io.StringIO()
    write_workload(WorkloadOptions(customers=customers, seed=seed), out)
    return out.getvalue().encode()


def fresh_orders(*ids: str) -> bytes:
    """Lines no workload holds (the workload's touchpoint ids repeat from seed to seed)."""
    return b"\n".join(line(order(i, customer_id=f"C-{i}")) for i in ids) + b"\n"


def journey(url: str, *args: str, secret: str | None = None, stdin: bytes | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The installed command; JOURNEY_AUDIT_SECRET(_FILE) only as given here."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEY_AUDIT_SECRET")}
    extra = {} if secret is None else {"JOURNEY_AUDIT_SECRET": secret}
    return subprocess.run([JOURNEY, "--db", url, *args], input=stdin, capture_output=True,
                          env={**clean, "JOURNEY_LOG_FORMAT": "json", **extra, **(env or {})},
                          timeout=300, check=False)


def verify(url: str, secret: str | None = None,
           env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = journey(url, "--json", "audit", "verify", secret=secret, env=env)
    return result.returncode, json.loads(result.stdout)


def ingest(url: str, secret: str | None, data: bytes) -> subprocess.CompletedProcess[bytes]:
    return journey(url, "--json", "ingest", "-", secret=secret, stdin=data)


def counts(url: str) -> dict[str, int]:
    application = open_store(url, audit_secret=SECRET)  # reading only: any key will do
    try:
        return application.journey_recorder.counts()
    finally:
        application.close()


def forge_and_reseal_with_the_default_key(url: str, position: int = 5) -> None:
    """What anyone who reads this code can do to a store: alter an event, recompute the chain
    from there and make every seal again with the public default key."""
    application = open_store(url, audit_secret=SECRET)
    r = application.journey_recorder
    ph, key = r.ph, audit_key(None)
    try:
        with behind_the_engines_back(application) as c:
            c.execute(f"SELECT state FROM {r.events_sql} WHERE {r.position_sql} = {ph}",
                      (position,))
            state = bytes(c.fetchone()[0])
            c.execute(f"UPDATE {r.events_sql} SET state = {ph} WHERE {r.position_sql} = {ph}",
                      (state.replace(b"EUR", b"USD", 1) if b"EUR" in state
                       else state + b" ", position))
            c.execute(f"SELECT hash FROM {r.chain_sql} WHERE position < {ph} "
                      "ORDER BY position DESC LIMIT 1", (position,))
            before = c.fetchone()
            prev = bytes(before[0]) if before else bytes(32)
            c.execute(f"SELECT {r.position_sql}, originator_id, originator_version, topic, state "
                      f"FROM {r.events_sql} WHERE {r.position_sql} >= {ph} "
                      f"ORDER BY {r.position_sql}", (position,))
            for pos, oid, version, topic, row_state in c.fetchall():
                prev = link(prev, pos, oid_text(oid), version, topic, bytes(row_state))
                c.execute(f"UPDATE {r.chain_sql} SET hash = {ph} WHERE position = {ph}",
                          (prev, pos))
            c.execute(f"SELECT s.position, h.hash FROM {r.seals_sql} s JOIN {r.chain_sql} h "
                      "ON h.position = s.position")
            for pos, chain_hash in c.fetchall():
                c.execute(f"UPDATE {r.seals_sql} SET mac = {ph} WHERE position = {ph}",
                          (seal_mac(key, pos, bytes(chain_hash)), pos))
    finally:
        application.close()


def forget_the_fingerprint(url: str) -> None:
    """As a store sealed before fingerprints were recorded (or a forger) would have it."""
    application = open_store(url, audit_secret=SECRET)
    try:
        with behind_the_engines_back(application) as c:
            c.execute(f"DELETE FROM {application.journey_recorder.audit_key_sql}")
    finally:
        application.close()


# --- a forger with the public default key ---------------------------------------------------------


def test_a_store_forged_and_resealed_with_the_default_key_is_not_ok(store_url: str) -> None:
    assert ingest(store_url, None, workload()).returncode == 0
    forge_and_reseal_with_the_default_key(store_url)

    code, report = verify(store_url)

    assert code == 3, report
    assert (report["ok"], report["chain"], report["seals"]) == (False, "intact", "default-key")
    assert (report["recorded_fingerprint"], report["configured_fingerprint"]) == (
        DEFAULT_FINGERPRINT, None)
    assert (report["sealed_up_to"], report["head_hash"], report["problem"]) == (0, None, None)
    assert "public default key" in report["reason"]
    printed = journey(store_url, "audit", "verify")
    assert printed.returncode == 3
    assert printed.stdout.decode().startswith("NOT VERIFIED (default-key): ")


def test_a_secret_store_resealed_with_the_default_key_is_caught_or_unverified(
        store_url: str) -> None:
    assert ingest(store_url, SECRET, workload()).returncode == 0
    forge_and_reseal_with_the_default_key(store_url, position=7)

    without = verify(store_url)
    wrong = verify(store_url, OTHER)
    right = verify(store_url, SECRET)

    assert without[0] == 3 and (without[1]["ok"], without[1]["seals"]) == (False, "unverified")
    assert without[1]["recorded_fingerprint"] == STORE_KEY
    assert wrong[0] == 3 and (wrong[1]["ok"], wrong[1]["seals"]) == (False, "key-mismatch")
    assert right[0] == 1, right[1]
    assert (right[1]["ok"], right[1]["chain"], right[1]["seals"], right[1]["problem"]) == (
        False, "intact", "invalid", "seal_invalid")
    assert right[1]["sealed_up_to"] < 7 <= right[1]["first_bad_position"]


def test_a_forger_who_also_drops_the_fingerprint_is_still_not_ok(store_url: str) -> None:
    assert ingest(store_url, SECRET, workload()).returncode == 0
    forge_and_reseal_with_the_default_key(store_url)
    forget_the_fingerprint(store_url)

    without = verify(store_url)
    right = verify(store_url, SECRET)

    assert without[0] == 3 and (without[1]["ok"], without[1]["seals"]) == (False, "default-key")
    assert without[1]["recorded_fingerprint"] is None
    assert right[0] == 1 and right[1]["problem"] == "seal_invalid", right[1]


# --- an untouched store and the secret ------------------------------------------------------------


def test_a_store_sealed_with_a_secret_verifies_only_with_that_secret(store_url: str) -> None:
    assert ingest(store_url, SECRET, workload()).returncode == 0
    events = counts(store_url)["events"]

    without = verify(store_url)
    wrong = verify(store_url, OTHER)
    right = verify(store_url, SECRET)

    assert without[0] == 3
    assert {k: without[1][k] for k in ("ok", "chain", "seals", "recorded_fingerprint",
                                       "configured_fingerprint", "problem", "sealed_up_to")} == {
        "ok": False, "chain": "intact", "seals": "unverified", "recorded_fingerprint": STORE_KEY,
        "configured_fingerprint": None, "problem": None, "sealed_up_to": 0}
    assert "JOURNEY_AUDIT_SECRET is not set" in without[1]["reason"]
    assert wrong[0] == 3
    assert (wrong[1]["ok"], wrong[1]["seals"], wrong[1]["configured_fingerprint"]) == (
        False, "key-mismatch", OTHER_KEY)
    assert STORE_KEY in wrong[1]["reason"] and OTHER_KEY in wrong[1]["reason"]
    assert right[0] == 0, right[1]
    assert (right[1]["ok"], right[1]["chain"], right[1]["seals"], right[1]["reason"]) == (
        True, "intact", "verified", None)
    assert right[1]["events"] == right[1]["sealed_up_to"] == events > 0
    assert right[1]["configured_fingerprint"] == STORE_KEY
    assert "NOT VERIFIED (unverified)" in journey(store_url, "audit", "verify").stdout.decode()
    assert journey(store_url, "audit", "verify", secret=SECRET).stdout.startswith(b"ok: ")


def test_the_secret_can_come_from_a_file(store_url: str, tmp_path: Path) -> None:
    secret_file = tmp_path / "audit-secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    from_file = {"JOURNEY_AUDIT_SECRET_FILE": str(secret_file)}
    assert journey(store_url, "ingest", "-", stdin=workload(), env=from_file).returncode == 0

    code, report = verify(store_url, env=from_file)
    assert (code, report["ok"], report["recorded_fingerprint"]) == (0, True, STORE_KEY)
    assert verify(store_url, SECRET)[0] == 0  # the same key, given directly
    missing = journey(store_url, "audit", "verify",
                      env={"JOURNEY_AUDIT_SECRET_FILE": str(tmp_path / "nope")})
    assert missing.returncode == 2  # a bad setting: refused before the store is opened
    assert missing.stderr.decode().startswith(
        "journey: error: JOURNEY_AUDIT_SECRET_FILE: expected a readable file")


# --- writers keep one key per store ---------------------------------------------------------------


def test_a_writer_with_another_key_is_refused_and_writes_nothing(store_url: str) -> None:
    first, rest = workload(customers=6), fresh_orders("N1", "N2")
    assert ingest(store_url, SECRET, first).returncode == 0
    before = counts(store_url)

    other = ingest(store_url, OTHER, rest)
    unset = ingest(store_url, None, rest)

    for refused, configured in ((other, OTHER_KEY), (unset, DEFAULT_FINGERPRINT)):
        assert refused.returncode == 1
        message = refused.stderr.decode().splitlines()[-1]
        assert message.startswith("journey: error: refusing to write: "), message
        assert STORE_KEY in message and configured in message
        assert refused.stdout == b""
    assert counts(store_url) == before
    assert ingest(store_url, SECRET, rest).returncode == 0
    assert counts(store_url)["events"] == before["events"] + 2
    assert verify(store_url, SECRET)[0] == 0


def test_a_store_written_without_a_secret_refuses_one_later(store_url: str) -> None:
    assert ingest(store_url, None, workload(customers=4)).returncode == 0
    before = counts(store_url)

    refused = ingest(store_url, SECRET, fresh_orders("N1"))

    assert refused.returncode == 1
    assert f"sealed with the public default key {DEFAULT_FINGERPRINT}" in refused.stderr.decode()
    assert STORE_KEY in refused.stderr.decode()
    assert counts(store_url) == before


def test_a_store_without_a_fingerprint_adopts_only_the_key_of_its_seals(store_url: str) -> None:
    application: JourneyApplication = open_store(store_url, audit_secret=SECRET)
    try:
        Ingestor(application).ingest(workload(customers=4).splitlines())
    finally:
        application.close()
    forget_the_fingerprint(store_url)

    wrong = open_store(store_url, audit_secret=OTHER)
    try:
        with pytest.raises(AuditKeyMismatch, match="before fingerprints were recorded"):
            Ingestor(wrong).ingest(fresh_orders("N1").splitlines())
        assert wrong.journey_recorder.recorded_fingerprint() is None
    finally:
        wrong.close()
    right = open_store(store_url, audit_secret=SECRET)
    try:
        assert verify_log(right).warnings  # ok, and says no fingerprint was recorded
        Ingestor(right).ingest(fresh_orders("N1").splitlines())
        assert right.journey_recorder.recorded_fingerprint() == STORE_KEY
        report = verify_log(right)
        assert (report.ok, report.warnings) == (True, []), report.as_json()
    finally:
        right.close()


def test_an_unreadable_secret_file_is_a_store_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    os.environ["JOURNEY_AUDIT_SECRET_FILE"] = str(empty)
    secret = os.environ.pop("JOURNEY_AUDIT_SECRET", None)
    try:
        with pytest.raises(StoreError, match="first line is empty"):
            open_store(f"sqlite:///{tmp_path / 'journey.db'}")
    finally:
        del os.environ["JOURNEY_AUDIT_SECRET_FILE"]
        if secret is not None:
            os.environ["JOURNEY_AUDIT_SECRET"] = secret
