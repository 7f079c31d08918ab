"""The audit key's fingerprint and where the secret comes from (pure logic, files in tmp)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from journey.infra.settings import audit_secret_from
from journey.infra.store.chain import (
    DEFAULT_FINGERPRINT,
    DEFAULT_SECRET,
    audit_key,
    describe_key,
    key_fingerprint,
)


def test_a_fingerprint_is_the_documented_hmac_and_names_the_key_without_it() -> None:
    key = audit_key("s3cret")
    expected = hmac.new(b"s3cret", b"journey-audit-key-fingerprint", hashlib.sha256)

    fingerprint = key_fingerprint(key)

    assert fingerprint == expected.hexdigest()[:16]
    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    assert key_fingerprint(audit_key("s3cret!")) != fingerprint
    assert key_fingerprint(DEFAULT_SECRET.encode()) == DEFAULT_FINGERPRINT
    assert key_fingerprint(audit_key(None)) == key_fingerprint(audit_key("")) \
        == DEFAULT_FINGERPRINT
    assert describe_key(DEFAULT_FINGERPRINT).endswith("(the public default key)")
    assert describe_key(fingerprint) == fingerprint


def test_the_secret_comes_from_the_variable_before_the_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-the-file\nsecond line ignored\n")

    assert audit_secret_from({}) is None
    assert audit_secret_from({"JOURNEY_AUDIT_SECRET": ""}) is None
    assert audit_secret_from({"JOURNEY_AUDIT_SECRET_FILE": str(secret_file)}) == "from-the-file"
    assert audit_secret_from({"JOURNEY_AUDIT_SECRET": "direct",
                              "JOURNEY_AUDIT_SECRET_FILE": str(secret_file)}) == "direct"


def test_an_empty_or_missing_secret_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")

    with pytest.raises(ValueError, match="first line is empty"):
        audit_secret_from({"JOURNEY_AUDIT_SECRET_FILE": str(empty)})
    with pytest.raises(FileNotFoundError):
        audit_secret_from({"JOURNEY_AUDIT_SECRET_FILE": str(tmp_path / "missing")})
