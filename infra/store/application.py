"""The event-sourced application and how a store is opened."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import (
    ApplicationRecorder,
    JSONTranscoder,
    PersistenceError,
    Transcoding,
)

from journey.domain.legacy_topics import register_old_topics
from journey.infra.settings import AUDIT_SECRET_FILE_ENV, audit_secret_from
from journey.infra.store.chain import audit_key
from journey.infra.store.errors import StoreError
from journey.infra.store.postgres import JourneyPostgresRecorder
from journey.infra.store.recorder import JourneyRecorderMixin
from journey.infra.store.urls import postgres_connection_args, redact, store_env

# --- the application ---------------------------------------------------------------------------


class DateAsISO(Transcoding):
    """Calendar dates (``due_date``) as ``YYYY-MM-DD``."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class JourneyApplication(Application[UUID]):
    """The event-sourced application: its recorder is one of ours, chosen by the store URL."""

    name = "Journey"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        register_old_topics()  # stores written before the journey namespace read as before
        super().__init__(*args, **kwargs)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

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
    if not isinstance(app.journey_recorder, JourneyPostgresRecorder):
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


def open_store(url: str, audit_secret: str | None = None) -> JourneyApplication:
    """Open (creating tables if needed) the store at ``url``; errors become ``StoreError``.

    The audit seals are keyed with ``audit_secret`` (e.g. ``Settings.audit_secret``); ``None``
    reads JOURNEY_AUDIT_SECRET (else the file JOURNEY_AUDIT_SECRET_FILE names) from the
    environment; without either the public default key is used.
    """
    env = store_env(url, audit_secret)
    try:
        if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
            _ensure_schema(env)
        return JourneyApplication(env=env)
    except (PersistenceError, OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open store {redact(url)}: {exc}") from exc


def _ensure_schema(env: dict[str, str]) -> None:
    schema = env["POSTGRES_SCHEMA"]
    if schema == "public":
        return
    import psycopg
    from psycopg.sql import SQL, Identifier

    try:
        with psycopg.connect(**postgres_connection_args(env), connect_timeout=5,
                             autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(724210502)")
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
    except psycopg.Error as exc:
        raise StoreError(f"cannot reach PostgreSQL: {exc}") from exc

