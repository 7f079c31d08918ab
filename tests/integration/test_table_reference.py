"""The SQL reference, ``docs/tables.md``: every table and column of a store described, and the
file current.

The schemas are read from real stores (SQLite always, PostgreSQL with JOURNEY_TEST_POSTGRES);
the words live in ``infra/audit/table_docs.py``. When a table or column changes on purpose,
describe it there and rewrite the file with
``JOURNEY_UPDATE_REFERENCE=1 pytest tests/integration/test_table_reference.py`` (with
JOURNEY_TEST_POSTGRES set: the file lists PostgreSQL's types too); the diff shows the change.
Without PostgreSQL the comparison keeps the PostgreSQL types the file lists.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from journey.infra.audit import reference
from journey.infra.audit.table_docs import TABLES
from tests.conftest import POSTGRES

DOC = Path(__file__).resolve().parents[2] / "docs" / "tables.md"
UPDATE = os.environ.get("JOURNEY_UPDATE_REFERENCE") == "1"


def _columns(url: str) -> dict[str, dict[str, str]]:
    """Per table (by SQLite's name), its columns and their types, read from the store."""
    if url.startswith("sqlite:///"):
        return {name: shape.columns
                for name, shape in reference.read_sqlite(url[len("sqlite:///"):]).items()}
    return reference.read_postgres(url)


def _execute(url: str, *statements: str) -> None:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url[len("sqlite:///"):]) as conn:
            for statement in statements:
                conn.execute(statement)
        return
    import psycopg

    from journey.infra.store.urls import postgres_connection_args, store_env

    env = store_env(url)
    with psycopg.connect(**postgres_connection_args(env), autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{env["POSTGRES_SCHEMA"]}"')
        for statement in statements:
            conn.execute(statement)


def test_every_table_and_column_of_a_fresh_store_is_described(store_url: str) -> None:
    reference.fresh_store(store_url)
    columns = _columns(store_url)
    # the walk sees the log, the engine's tables and the views
    assert {"stored_events", "tracking", "journey_rejects", "view_stock"} <= set(columns)
    assert reference.undescribed(columns, "store") == []


def test_a_table_or_column_without_a_description_is_named(store_url: str) -> None:
    reference.fresh_store(store_url)
    _execute(store_url, "ALTER TABLE journey_rejects ADD COLUMN mystery TEXT",
             "CREATE TABLE view_mystery (x TEXT)")
    columns = _columns(store_url)
    assert reference.undescribed(columns, "store") == [
        "store: table view_mystery has no description in infra/audit/table_docs.py",
        "store: column journey_rejects.mystery has no description in "
        "infra/audit/table_docs.py",
    ]


def test_the_reference_describes_every_table_and_is_current() -> None:
    sqlite = reference.fresh_sqlite()
    if POSTGRES:
        postgres = reference.fresh_postgres(POSTGRES)
    elif UPDATE:
        pytest.fail("JOURNEY_UPDATE_REFERENCE needs JOURNEY_TEST_POSTGRES (PostgreSQL's types)")
    else:
        postgres = reference.recorded_postgres_types(DOC.read_text())
    rendered = reference.render(sqlite, postgres)
    assert rendered.problems == []
    if UPDATE:
        DOC.write_text(rendered.text)
    assert DOC.read_text() == rendered.text, (
        "docs/tables.md is stale: JOURNEY_UPDATE_REFERENCE=1 pytest " + __file__)
    for name, doc in TABLES.items():  # every table, every column, every word of it
        assert f"### `{name}`" in rendered.text
        for column, meaning in doc.columns.items():
            assert f"| `{column}` |" in rendered.text and meaning.replace("|", "&#124;") in (
                rendered.text)


def test_a_description_of_nothing_and_a_stale_file_are_caught() -> None:
    sqlite = reference.fresh_sqlite()
    postgres = reference.recorded_postgres_types(DOC.read_text())
    assert postgres["stored_events"]["notification_id"] == "bigserial not null"
    # A column that went away in both databases: its description names nothing.
    shape = sqlite["journey_rejects"]
    sqlite["journey_rejects"] = reference.TableShape(
        {c: t for c, t in shape.columns.items() if c != "detail"}, shape.key, shape.indexes)
    del postgres["journey_rejects"]["detail"]
    rendered = reference.render(sqlite, postgres)
    assert rendered.problems == [
        "column journey_rejects.detail is described but exists in neither database"]
    assert rendered.text != DOC.read_text()
    # A column SQLite has and the PostgreSQL types do not know yet.
    assert "column view_stock.on_hand: no PostgreSQL type known (regenerate with --postgres " \
        "URL)" in reference.render(reference.fresh_sqlite(), {
            **postgres, "view_stock": {"part_id": "text not null"}}).problems
