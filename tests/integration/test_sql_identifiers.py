"""SQL injection through the store URL (issue 11, hole 5), against a real PostgreSQL.

Before the fix, ``?schema=x"; CREATE TABLE public.pwned(a int); --`` created the table
(``CREATE SCHEMA IF NOT EXISTS "{schema}"`` was an f-string). Now the name is refused
where the URL is parsed, in one line, before any connection; and legal but unusual names
work end to end, every name reaching SQL quoted (``psycopg.sql.Identifier``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import POSTGRES, _drop_schema
from tests.support import Journey, line, order, part


@pytest.fixture
def postgres() -> str:
    if not POSTGRES:
        pytest.skip("JOURNEY_TEST_POSTGRES is not set (CI sets it; no PostgreSQL here)")
    return POSTGRES


def _with_schema(base: str, raw_schema: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}schema={raw_schema}"


def _exists(base: str, regclass: str) -> bool:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (regclass,)).fetchone()
        return row is not None and row[0] is not None


def _schemas(base: str, like: str) -> list[str]:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                            (like,)).fetchall()
        return [row[0] for row in rows]


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["rejects"], ["ingest", "-"], ["export", "-o", "x.avro"]])
def test_an_injected_schema_is_refused_in_one_line_and_runs_nothing(
        postgres: str, tmp_path: Path, command: list[str]) -> None:
    tag = uuid.uuid4().hex[:10]
    table = f"pwned_{tag}"
    payload = f'x{tag}"; CREATE TABLE public.{table}(a int); --'
    url = _with_schema(postgres, quote(payload, safe=""))

    result = Journey(url, tmp_path).run(*command, stdin=line(order("O1")), check=False)

    stderr = result.stderr.decode()
    assert result.returncode == 1
    assert stderr.startswith(f"journey: error: invalid schema name {payload!r} in the store "
                             "URL: use 1 to 63 lower-case letters")
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not _exists(postgres, f"public.{table}")
    assert _schemas(postgres, f"x{tag}%") == []
    assert not (tmp_path / "x.avro").exists()


@pytest.mark.postgres
def test_a_password_never_appears_in_the_refusal(postgres: str, tmp_path: Path) -> None:
    url = "postgresql://postgres:hunter2secret@127.0.0.1:1/test?schema=Bad"
    result = Journey(url, tmp_path).run("rejects", check=False)
    assert b"invalid schema name 'Bad'" in result.stderr
    assert b"hunter2secret" not in result.stderr + result.stdout


@pytest.fixture
def odd_schema(postgres: str, request: pytest.FixtureRequest) -> Iterator[str]:
    tag = uuid.uuid4().hex[:8]
    names = {"leading_underscore_digit": f"_9{tag}",
             "longest": f"s{tag}".ljust(63, "_")[:62] + "9"}
    name = names[request.param]
    yield name
    _drop_schema(name)


@pytest.mark.postgres
@pytest.mark.parametrize("odd_schema", ["leading_underscore_digit", "longest"],
                         indirect=True)
def test_legal_but_unusual_schema_names_work_end_to_end(
        postgres: str, odd_schema: str, tmp_path: Path) -> None:
    assert len(odd_schema) <= 63
    journey = Journey(_with_schema(postgres, odd_schema), tmp_path)
    touchpoints = b"".join(line(o) + b"\n" for o in (
        order("O1"), part("received", qty=5), part("received", qty=2),
    ))

    summary = journey.json("ingest", "-", stdin=touchpoints)
    journey.run("rebuild")  # the views' tables, their _next generation and the swap
    stock = journey.json("stock")["items"]
    journey.run("export", "-o", str(tmp_path / "all.avro"))
    verified = journey.json("verify-export", str(tmp_path / "all.avro"))

    assert (summary["accepted"], summary["rejected"]) == (3, 0)
    assert [(s["part_id"], s["location"], s["on_hand"]) for s in stock] == [("P1", "WH1", 7)]
    assert verified["ok"] and verified["records"] >= 3
    assert _view_tables(postgres, odd_schema) >= 9  # the views landed in that schema


def _view_tables(base: str, schema: str) -> int:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_schema = %s AND table_name LIKE 'view_%%'",
                           (schema,)).fetchone()
        return 0 if row is None else int(row[0])


def test_the_same_commands_work_on_sqlite_with_quoted_names(tmp_path: Path) -> None:
    journey = Journey(f"sqlite:///{tmp_path / 'j.db'}", tmp_path)
    journey.run("ingest", "-", stdin=line(part("received", qty=4)) + b"\n")
    journey.run("rebuild")
    assert [s["on_hand"] for s in journey.json("stock")["items"]] == [4]
    assert json.loads(journey.run("rejects", "--json").stdout) == {"rejects": []}
    assert os.path.exists(tmp_path / "j.db")
