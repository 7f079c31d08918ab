"""The event-sourced application and how a store is opened."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any
from urllib.parse import quote
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import (
    ApplicationRecorder,
    EventStore,
    JSONTranscoder,
    PersistenceError,
    Transcoder,
)

from journey.domain.legacy_topics import register_old_topics
from journey.infra.settings import AUDIT_SECRET_FILE_ENV, audit_secret_from
from journey.infra.store.chain import audit_key
from journey.infra.store.errors import StoreError, StoreMissing
from journey.infra.store.events import JourneyEventStore
from journey.infra.store.identifiers import pg_identifier
from journey.infra.store.recorder import JourneyRecorderMixin
from journey.infra.store.transcoder import DateAsISO, OrjsonTranscoder
from journey.infra.store.urls import (
    connection_error,
    postgres_connection_args,
    redact,
    store_env,
)

# --- the application ---------------------------------------------------------------------------


class JourneyApplication(Application[UUID]):
    """The event-sourced application: its recorder is one of ours, chosen by the store URL."""

    name = "Journey"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        register_old_topics()  # stores written before the journey namespace read as before
        super().__init__(*args, **kwargs)

    def construct_transcoder(self) -> Transcoder:
        transcoder = self.factory.transcoder()
        if type(transcoder) is JSONTranscoder:  # the default: the same bytes, by orjson
            transcoder = OrjsonTranscoder()
        if isinstance(transcoder, JSONTranscoder):
            self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_event_store(self) -> EventStore[UUID]:
        return JourneyEventStore(mapper=self.mapper, recorder=self.recorder)

    def construct_recorder(self) -> ApplicationRecorder:
        recorder = super().construct_recorder()
        if isinstance(recorder, JourneyRecorderMixin):
            secret = _audit_secret(self.env)
            recorder.seal_key = audit_key(secret)
            recorder.seal_key_is_default = not secret
        return recorder

    @property
    def journey_recorder(self) -> JourneyRecorderMixin:
        assert isinstance(self.recorder, JourneyRecorderMixin)
        return self.recorder


def _audit_secret(env: Any) -> str | None:
    plain = dict(env)  # unprefixed: exactly JOURNEY_AUDIT_SECRET(_FILE), no per-app names
    try:
        return audit_secret_from(plain)
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read the audit secret ({AUDIT_SECRET_FILE_ENV}="
                         f"{plain.get(AUDIT_SECRET_FILE_ENV)}): {exc}") from exc


@contextmanager
def log_wake_ups(app: JourneyApplication) -> Iterator[Callable[[float], None]]:
    """``wait(timeout)``: returns when the log may have grown, or after ``timeout`` seconds.

    PostgreSQL wakes us through the recorder's LISTEN/NOTIFY channel (``timeout`` is
    then only a safety net); SQLite has no notifications, so the caller polls.
    """
    if not app.journey_recorder.postgres:
        yield time.sleep
        return
    import psycopg
    from psycopg.sql import SQL, Identifier

    recorder: Any = app.recorder
    env = app.env
    with psycopg.connect(**postgres_connection_args(env), autocommit=True) as conn:
        conn.execute(SQL("LISTEN {}").format(Identifier(recorder.channel_name)))

        def wait(timeout: float) -> None:
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                pass

        yield wait


def open_store(url: str, audit_secret: str | None = None, *,
               create: bool = True) -> JourneyApplication:
    """Open the store at ``url``; errors become ``StoreError``.

    ``create``: make the store if there is none (its SQLite file, its PostgreSQL schema, the
    tables; never a PostgreSQL database). A reader passes ``create=False``: where no store
    is, it gets ``StoreMissing`` naming what was expected, and nothing is created (no file,
    no lock file, no schema, no table). An existing store gets the tables a newer engine
    added either way.

    PostgreSQL is first reached with one direct connection, so a missing database, a refused
    login or an unreachable server is named at once (``LoginRefused``, ``StoreMissing``, or a
    ``StoreError`` saying "the database is unreachable") rather than as the pool's timeout.

    The audit seals are keyed with ``audit_secret`` (e.g. ``Settings.audit_secret``); ``None``
    reads JOURNEY_AUDIT_SECRET (else the file JOURNEY_AUDIT_SECRET_FILE names) from the
    environment; without either the public default key is used.
    """
    env = store_env(url, audit_secret)
    try:
        if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
            _check_postgres(env, redact(url), create)
        elif not create:
            _check_sqlite(env["SQLITE_DBNAME"], redact(url))
        return JourneyApplication(env=env)
    except (PersistenceError, OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open store {redact(url)}: {exc}") from exc


#: Where a journey store keeps its events (eventsourcing's table): its presence is the store's.
SQLITE_EVENTS_TABLE = "stored_events"
POSTGRES_EVENTS_TABLE = "journey_events"  # the application's name, lower-cased, + _events

_CREATES = "journey ingest creates one"


def _check_sqlite(path: str, shown: str) -> None:
    """A store exists at ``path``, checked read-only (nothing created), else ``StoreMissing``."""
    if path == ":memory:" or path.startswith("file:"):
        return  # SQLite's own URIs: nothing to look at beforehand
    if not os.path.exists(path):
        raise StoreMissing(f"no store at {shown} (the file does not exist); {_CREATES}")
    try:
        with closing(sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)) as conn:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                 (SQLITE_EVENTS_TABLE,)).fetchone()
    except sqlite3.DatabaseError as exc:
        if "file is not a database" not in str(exc):
            raise
        raise StoreMissing(f"no store at {shown} (the file is not an SQLite database)") from exc
    if found is None:
        raise StoreMissing(f"no store at {shown} (the file holds no journey store: no "
                           f"{SQLITE_EVENTS_TABLE} table); {_CREATES}")


def _check_postgres(env: dict[str, str], shown: str, create: bool) -> None:
    """One direct connection: the server, database and login checked (each failure named);
    then the store's schema made (``create``) or its events table required."""
    import psycopg
    from psycopg.sql import SQL, Identifier

    schema = env["POSTGRES_SCHEMA"]
    try:
        conn = psycopg.connect(**postgres_connection_args(env),
                               connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
                               autocommit=True)
    except psycopg.Error as exc:
        raise connection_error(exc, env, shown) from exc
    try:
        with conn:
            if not create:
                row = conn.execute("SELECT to_regclass(%s)",
                                   (pg_identifier(schema, POSTGRES_EVENTS_TABLE),)).fetchone()
                if row is None or row[0] is None:
                    raise StoreMissing(f"no store at {shown} (schema {schema!r} has no journey "
                                       f"tables); {_CREATES}")
            elif schema != "public":
                conn.execute("SELECT pg_advisory_lock(724210502)")
                conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
    except psycopg.Error as exc:
        raise StoreError(f"cannot prepare the store {shown}: {exc}") from exc
