"""Stores for the behavioural suites: SQLite always, PostgreSQL with JOURNEY_TEST_POSTGRES."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

POSTGRES = os.environ.get("JOURNEY_TEST_POSTGRES")


def _postgres_url(schema: str) -> str:
    assert POSTGRES is not None
    separator = "&" if "?" in POSTGRES else "?"
    return f"{POSTGRES}{separator}schema={schema}"


def _drop_schema(schema: str) -> None:
    import psycopg

    assert POSTGRES is not None
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'journey.db'}"
        return
    if not POSTGRES:
        pytest.skip("JOURNEY_TEST_POSTGRES is not set (CI sets it; no PostgreSQL here)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield _postgres_url(schema)
    _drop_schema(schema)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'journey.db'}"


# -- Kafka: one real broker per session, unique names per test ----------------------------------

KAFKA = os.environ.get("JOURNEY_TEST_KAFKA")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers: JOURNEY_TEST_KAFKA if set, else the bundled broker for the session.

    Shared by every test, so a test must not restart or kill it (start its own
    ``EmbeddedBroker`` for that) and must use ``unique_name`` for topics and groups.
    """
    if KAFKA:
        yield KAFKA
        return
    from journey.infra.kafka.broker import EmbeddedBroker

    log_path = tmp_path_factory.mktemp("kafka") / "broker.log"
    with EmbeddedBroker(log_path=log_path) as broker:
        yield broker.bootstrap


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Builds topic and group names no other test (or earlier run on the same broker) uses."""
    prefix = f"t{uuid.uuid4().hex[:8]}"

    def name(suffix: str = "") -> str:
        return f"{prefix}-{suffix}" if suffix else prefix

    return name
