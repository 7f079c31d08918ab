"""Readers never create a store; connection failures name their cause (issue 12).

A typo in ``--db`` for a query used to create an empty store (and its lock file) and answer
``[]``; a wrong PostgreSQL database, port or user all used to give the pool's "couldn't get
a connection after 5.00 sec". The real CLI, on real SQLite files and a real PostgreSQL.
"""

from __future__ import annotations

import socket
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import POSTGRES
from tests.support import Journey, line, order

#: Every command that only reads a store, with its arguments (a reader never creates one).
READERS = [
    ("timeline", "C1"), ("customers",), ("errors",), ("stock",), ("rejects",),
    ("rejects", "retry"),  # a writer, but with no store there is nothing to retry
    ("history", "customer:C1"), ("export", "-o", "out.avro"), ("audit", "verify"),
    ("audit", "replay"), ("publish",), ("verify-export", "exported.avro"),
]


def _error_lines(stderr: bytes) -> list[str]:
    return [row for row in stderr.decode().splitlines() if not row.startswith("{")]


def _listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize("args", READERS, ids=lambda args: " ".join(args))
def test_a_reader_on_a_missing_sqlite_file_is_an_error_and_creates_nothing(
    tmp_path: Path, args: tuple[str, ...],
) -> None:
    (tmp_path / "exported.avro").write_bytes(b"not read: the store is looked for first")
    before = _listing(tmp_path)
    url = f"sqlite:///{tmp_path / 'x2.db'}"

    result = Journey(url, tmp_path).run(*args, check=False)

    assert result.returncode == 1, result.stderr
    assert result.stdout == b""
    assert _error_lines(result.stderr) == [
        f"journey: error: no store at {url} (the file does not exist); journey ingest "
        "creates one"]
    assert _listing(tmp_path) == before  # no x2.db, no x2.db.writer-lock, no out.avro


def test_a_reader_on_another_programs_sqlite_file_adds_nothing_to_it(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    content = path.read_bytes()

    result = Journey(f"sqlite:///{path}", tmp_path).run("errors", check=False)

    assert result.returncode == 1
    assert _error_lines(result.stderr) == [
        f"journey: error: no store at sqlite:///{path} (the file holds no journey store: no "
        "stored_events table); journey ingest creates one"]
    assert path.read_bytes() == content
    assert _listing(tmp_path) == ["other.db"]


@pytest.mark.parametrize("writer", [("ingest", "-"), ("project",), ("rebuild",)],
                         ids=lambda args: " ".join(args))
def test_writers_still_create_the_store(tmp_path: Path, writer: tuple[str, ...]) -> None:
    journey = Journey(f"sqlite:///{tmp_path / 'new.db'}", tmp_path)

    journey.run(*writer, stdin=line(order("O1")) + b"\n")

    assert (tmp_path / "new.db").exists()
    expected = 1 if writer[0] == "ingest" else 0
    assert len(journey.json("timeline", "C1")["entries"]) == expected


# --- PostgreSQL ----------------------------------------------------------------------------------

needs_postgres = pytest.mark.skipif(not POSTGRES, reason="JOURNEY_TEST_POSTGRES is not set")


def _schemas(prefix: str) -> list[str]:
    import psycopg

    assert POSTGRES is not None
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                            (prefix + "%",)).fetchall()
    return sorted(row[0] for row in rows)


def _tables(schema: str) -> list[str]:
    import psycopg

    assert POSTGRES is not None
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s",
                            (schema,)).fetchall()
    return sorted(row[0] for row in rows)


def _url(schema: str) -> str:
    assert POSTGRES is not None
    return f"{POSTGRES}{'&' if '?' in POSTGRES else '?'}schema={schema}"


@pytest.fixture
def schema() -> Iterator[str]:
    """A schema name of this test's own, dropped afterwards if anything made it."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    assert POSTGRES is not None
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@needs_postgres
@pytest.mark.postgres
@pytest.mark.parametrize("args", [("timeline", "C1"), ("rejects",), ("audit", "verify")],
                         ids=lambda args: " ".join(args))
def test_a_reader_on_a_missing_postgresql_schema_creates_no_schema(
    tmp_path: Path, schema: str, args: tuple[str, ...],
) -> None:
    result = Journey(_url(schema), tmp_path).run(*args, check=False)

    assert result.returncode == 1, result.stderr
    assert _error_lines(result.stderr) == [
        f"journey: error: no store at {_url(schema)} (schema {schema!r} has no journey "
        "tables); journey ingest creates one"]
    assert _schemas(schema) == []


@needs_postgres
@pytest.mark.postgres
def test_a_reader_on_an_empty_postgresql_schema_creates_no_table(
    tmp_path: Path, schema: str,
) -> None:
    import psycopg

    assert POSTGRES is not None
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')

    result = Journey(_url(schema), tmp_path).run("errors", "--json", check=False)

    assert result.returncode == 1, result.stderr
    assert result.stdout == b""
    assert "has no journey tables" in _error_lines(result.stderr)[0]
    assert _tables(schema) == []


@needs_postgres
@pytest.mark.postgres
def test_a_postgresql_writer_still_creates_schema_and_tables(tmp_path: Path, schema: str) -> None:
    journey = Journey(_url(schema), tmp_path)

    journey.run("ingest", "-", stdin=line(order("O1")) + b"\n")

    assert "journey_events" in _tables(schema)
    assert len(journey.json("timeline", "C1")["entries"]) == 1


def _server() -> tuple[str, str]:
    """(host:port, database) of the test server."""
    from urllib.parse import urlparse

    assert POSTGRES is not None
    parsed = urlparse(POSTGRES)
    return f"{parsed.hostname}:{parsed.port or 5432}", parsed.path.lstrip("/") or "postgres"


@needs_postgres
@pytest.mark.postgres
@pytest.mark.parametrize("command", [("timeline", "C1"), ("ingest", "-")],
                         ids=lambda args: args[0])
def test_a_missing_postgresql_database_is_named(tmp_path: Path,
                                                command: tuple[str, ...]) -> None:
    server, _ = _server()
    missing = f"nodb_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://postgres@{server}/{missing}"

    result = Journey(url, tmp_path).run(*command, stdin=b"", check=False)

    assert result.returncode == 1, result.stderr  # not "try again later"
    assert _error_lines(result.stderr) == [
        f"journey: error: no database {missing!r} on the PostgreSQL server at {server} "
        f"({url}): create it (createdb {missing}) or fix the store URL"]


@needs_postgres
@pytest.mark.postgres
def test_a_missing_role_is_named_without_the_password(tmp_path: Path) -> None:
    server, database = _server()
    role = f"nobody_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://{role}:s3cret@{server}/{database}"

    result = Journey(url, tmp_path).run("errors", check=False)

    assert result.returncode == 1, result.stderr
    assert _error_lines(result.stderr) == [
        f"journey: error: PostgreSQL at {server} refused the login of {role!r} "
        f"(postgresql://{role}:***@{server}/{database}): role \"{role}\" does not exist"]
    assert b"s3cret" not in result.stderr


def test_a_wrong_port_is_named_as_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{port}/test"

    result = Journey(url, tmp_path).run("stock", check=False)

    assert result.returncode == 75, result.stderr  # the server may come back: try again later
    assert _error_lines(result.stderr) == [
        f"journey: error: the database is unreachable ({url}): connection refused: nothing "
        f"listens at 127.0.0.1:{port} (is PostgreSQL running, and are the host and port "
        "right?)"]
