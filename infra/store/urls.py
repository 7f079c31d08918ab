"""Store URLs, both ways: a URL to the library's settings, an application's settings to a URL."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

from journey.infra.settings import AUDIT_SECRET_ENV
from journey.infra.store.errors import (
    OPERATIONAL_KINDS,
    LoginRefused,
    StoreError,
    StoreMissing,
    connection_refusal,
)


def store_env(url: str, audit_secret: str | None = None) -> dict[str, str]:
    """eventsourcing settings for a store URL (``sqlite:///PATH`` or ``postgresql://...``).

    ``audit_secret`` keys the audit chain's seals; ``None`` leaves it to the process
    environment (JOURNEY_AUDIT_SECRET; eventsourcing merges ``os.environ`` into the
    application's env), and without one there the public default is used.
    """
    env = _dialect_env(url)
    if audit_secret is not None:
        env[AUDIT_SECRET_ENV] = audit_secret
    return env


def _dialect_env(url: str) -> dict[str, str]:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else ""
        if not path:
            raise StoreError(f"bad SQLite URL {url!r}: expected sqlite:///PATH")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "60",
            "APPLICATION_RECORDER_TOPIC": "journey.infra.store.sqlite:JourneySQLiteRecorder",
        }
    if parsed.scheme in ("postgresql", "postgres"):
        schema = schema_name(parse_qs(parsed.query, keep_blank_values=True).get("schema", []))
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_SCHEMA": schema,
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "POSTGRES_LOCK_TIMEOUT": "60",
            "POSTGRES_POOL_SIZE": "3",
            "APPLICATION_RECORDER_TOPIC": "journey.infra.store.postgres:JourneyPostgresRecorder",
        }
    raise StoreError(f"unsupported store URL {url!r}: use sqlite:///PATH or postgresql://...")


#: A PostgreSQL schema name the store accepts: what PostgreSQL takes unquoted, in lower case
#: (the library looks its row type up by an unquoted ``schema.type`` name, which folds case),
#: at most 63 bytes (longer names are truncated by the server), and not ``pg_`` (reserved).
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def schema_name(values: list[str]) -> str:
    """The schema a URL's ``schema=`` query parameters name (``public`` when absent).

    The name reaches SQL as an identifier (quoted by ``psycopg.sql.Identifier`` here, but
    unquoted in parts of eventsourcing): anything else is refused before any connection.
    """
    if not values:
        return "public"
    if len(values) > 1:
        raise StoreError("the store URL names more than one schema (schema=...): give one")
    name = values[0]
    if not SCHEMA_NAME.fullmatch(name) or name.startswith("pg_"):
        shown = name if len(name) <= 80 else name[:80] + "..."
        raise StoreError(
            f"invalid schema name {shown!r} in the store URL: use 1 to 63 lower-case "
            "letters, digits and underscores, not starting with a digit or pg_"
        )
    return name


def redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def store_url(env: Mapping[str, str]) -> str:
    """The URL of the store an application's settings ``env`` name, never with a password."""
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        user = quote(env.get("POSTGRES_USER") or "postgres", safe="")
        host = env.get("POSTGRES_HOST") or "127.0.0.1"
        port = env.get("POSTGRES_PORT") or "5432"
        dbname = quote(env.get("POSTGRES_DBNAME") or "postgres", safe="")
        schema = env.get("POSTGRES_SCHEMA") or "public"
        return f"postgresql://{user}@{host}:{port}/{dbname}?schema={quote(schema, safe='')}"
    return f"sqlite:///{env.get('SQLITE_DBNAME')}"


def postgres_connection_args(env: Mapping[str, str]) -> dict[str, Any]:
    """``psycopg.connect`` keyword arguments for the PostgreSQL store ``env`` names."""
    return {"dbname": env.get("POSTGRES_DBNAME"), "host": env.get("POSTGRES_HOST"),
            "port": env.get("POSTGRES_PORT"), "user": env.get("POSTGRES_USER"),
            "password": env.get("POSTGRES_PASSWORD") or None}


def connection_error(exc: BaseException, env: Mapping[str, str], shown: str) -> StoreError:
    """A failed attempt to connect to the PostgreSQL store ``env`` names, as one error that
    names the cause: a missing database (``StoreMissing``) or a refused login
    (``LoginRefused``), which no retry cures; otherwise the server is unreachable (refused,
    timed out, down), said as an operational failure (the CLI exits 75 for those).
    ``shown`` is the store's URL as the user gave it, password hidden (``redact``)."""
    where = f"{env.get('POSTGRES_HOST')}:{env.get('POSTGRES_PORT')}"
    detail = _server_said(exc)
    refusal = connection_refusal(exc)
    if refusal == "database_missing":
        name = env.get("POSTGRES_DBNAME")
        return StoreMissing(f"no database {name!r} on the PostgreSQL server at {where} "
                            f"({shown}): create it (createdb {name}) or fix the store URL")
    if refusal == "login_refused":
        return LoginRefused(f"PostgreSQL at {where} refused the login of "
                            f"{env.get('POSTGRES_USER')!r} ({shown}): {detail}")
    text = str(exc).lower()
    if "connection refused" in text:
        detail = (f"connection refused: nothing listens at {where} (is PostgreSQL running, "
                  "and are the host and port right?)")
    elif "timeout expired" in text or "timed out" in text:
        detail = f"no answer from {where} within {env.get('POSTGRES_CONNECT_TIMEOUT')} s"
    return StoreError(f"{OPERATIONAL_KINDS['unreachable']} ({shown}): {detail}")


def _server_said(exc: BaseException) -> str:
    """The reason in libpq's message, without its preamble ("connection failed: connection
    to server at ... failed: FATAL: "), on one line."""
    text = str(exc)
    for marker in ("FATAL:", "failed:"):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
            break
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[0].split()) if lines else type(exc).__name__
