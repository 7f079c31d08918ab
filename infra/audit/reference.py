"""The SQL reference, ``docs/tables.md``: every table and column of a store, described.

The tables, columns, types, keys and indexes are read from fresh stores (the real schema, on
SQLite and PostgreSQL); the words come from ``table_docs.TABLES``. Regenerate with::

    python -m journey.infra.audit.reference -o docs/tables.md --postgres postgresql://...

Without ``--postgres`` (or ``JOURNEY_TEST_POSTGRES``) the PostgreSQL types are kept from the
file being replaced; a column it does not list yet needs a PostgreSQL server. ``--check``
only compares and exits 1 when the file is stale or something lacks a description.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from journey.infra.audit.table_docs import TABLES
from journey.infra.store import open_store
from journey.infra.store.urls import postgres_connection_args, store_env
from journey.infra.views.projector import Projector


@dataclass(frozen=True)
class TableShape:
    """A table as one database has it: columns in order with their declared types, the
    primary key, the indexes (``(a, b) WHERE ...``), and whether it is a SQL view."""

    columns: dict[str, str]
    key: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()
    is_view: bool = False


#: Tables by name (SQLite's name, the key of ``TABLES``).
Schema = dict[str, TableShape]
#: PostgreSQL: per table (by SQLite's name), per column, its type.
PostgresTypes = dict[str, dict[str, str]]

_PG_TO_KEY = {doc.postgres_name: key for key, doc in TABLES.items() if doc.postgres_name}
_GROUPS = (("", "The event log (eventsourcing)", "the library's tables."),
           ("journey_", "The engine's tables", "written in the transaction of the events "
            "they belong to (`infra/store/`)."),
           ("view_", "The views", "derived from the log by `journey project` and `journey "
            "ingest` (`projections/`); the query commands read them, with `available = "
            "on_hand - reserved`, `error_rate = errors / touchpoints`, `ratio = failure / "
            "contacts`. `journey rebuild` builds them afresh beside the live ones (suffix "
            "`_next`) and swaps them in, in one transaction; SQL views of your own on them "
            "keep answering."))


def read_sqlite(path: str | Path) -> Schema:
    """The tables and SQL views of the SQLite database at ``path`` (SQLite's own left out)."""
    with sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True) as conn:
        found: Schema = {}
        for name, kind in conn.execute(
                "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"):
            info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
            columns = {row[1]: row[2] + (" NOT NULL" if row[3] else "") for row in info}
            key = tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5])
            indexes = sorted(_index_text(sql) for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL", (name,)))
            found[name] = TableShape(columns, key, tuple(indexes), kind == "view")
    return found


def _index_text(sql: str) -> str:
    """``CREATE INDEX ix_1f_x ON "t" (a, b) WHERE c`` -> ``(a, b) WHERE c`` (the names of
    indexes carry a generation's random id)."""
    match = re.search(r"\bON\s+\S+\s*(\(.*)$", sql, re.S)
    text = " ".join((match.group(1) if match else sql).split())
    return ("unique " if sql.upper().startswith("CREATE UNIQUE") else "") + text


def read_postgres(url: str) -> PostgresTypes:
    """The columns' types of the tables in the schema the store URL ``url`` names, by
    SQLite's table names."""
    import psycopg

    env = store_env(url)
    found: PostgresTypes = {}
    with psycopg.connect(**postgres_connection_args(env)) as conn:
        for table, column, data_type, udt, nullable, default in conn.execute(
                "SELECT table_name, column_name, data_type, udt_name, is_nullable, "
                "column_default FROM information_schema.columns WHERE table_schema = %s "
                "ORDER BY table_name, ordinal_position", (env["POSTGRES_SCHEMA"],)):
            kind = udt if data_type in ("USER-DEFINED", "ARRAY") else data_type
            if kind in ("bigint", "integer") and str(default or "").startswith("nextval("):
                kind = "bigserial" if kind == "bigint" else "serial"
            kind += " not null" if nullable == "NO" else ""
            found.setdefault(_PG_TO_KEY.get(table, table), {})[column] = kind
    return found


def fresh_store(url: str) -> None:
    """Create every table a store has (log, bookkeeping, views) at ``url``."""
    app = open_store(url)
    try:
        Projector(app).catch_up()
    finally:
        app.close()


def fresh_sqlite() -> Schema:
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "fresh.db"
        fresh_store(f"sqlite:///{path}")
        return read_sqlite(path)


def fresh_postgres(url: str) -> PostgresTypes:
    """A fresh store in a new schema of the PostgreSQL database at ``url``, read, then
    the schema dropped."""
    import psycopg
    from psycopg.sql import SQL, Identifier

    schema = f"reference_{uuid.uuid4().hex[:12]}"
    scratch = f"{url}{'&' if '?' in url else '?'}schema={schema}"
    try:
        fresh_store(scratch)
        return read_postgres(scratch)
    finally:
        with psycopg.connect(**postgres_connection_args(store_env(scratch)),
                             autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))


def recorded_postgres_types(text: str) -> PostgresTypes:
    """The PostgreSQL types a generated reference lists (to render it again without a
    PostgreSQL server)."""
    found: PostgresTypes = {}
    table = None
    for line in text.splitlines():
        heading = re.match(r"### `([^`]+)`", line)
        if heading:
            table = heading.group(1)
            continue
        row = re.match(r"\| `([^`]+)` \| ([^|]*) \| ([^|]*) \|", line)
        if table and row and row.group(3).strip() != "—":
            found.setdefault(table, {})[row.group(1)] = row.group(3).strip()
    return found


@dataclass
class Reference:
    """The reference rendered from the schemas, and what keeps it from being complete."""

    text: str
    problems: list[str] = field(default_factory=list)


def undescribed(tables: Mapping[str, Iterable[str]], where: str) -> list[str]:
    """What exists in a database (``tables``: each with its columns) without a description."""
    problems = [f"{where}: table {name} has no description in infra/audit/table_docs.py"
                for name in tables if name not in TABLES]
    problems += [f"{where}: column {name}.{column} has no description in "
                 "infra/audit/table_docs.py"
                 for name, columns in tables.items() if name in TABLES
                 for column in columns if column not in TABLES[name].columns]
    return problems


def render(sqlite: Schema, postgres: PostgresTypes) -> Reference:
    """The reference for these schemas (``postgres``: types by SQLite's table names)."""
    problems = undescribed({n: s.columns for n, s in sqlite.items()}, "SQLite")
    problems += undescribed(postgres, "PostgreSQL")
    for name, doc in TABLES.items():
        present = set(sqlite.get(name, TableShape({})).columns) | set(postgres.get(name, {}))
        if name not in sqlite and name not in postgres:
            problems.append(f"table {name} is described but exists in neither database")
        problems += [f"column {name}.{column} is described but exists in neither database"
                     for column in doc.columns if column not in present]
        problems += [f"column {name}.{column}: no PostgreSQL type known (regenerate with "
                     "--postgres URL)" for column in sqlite.get(name, TableShape({})).columns
                     if name in postgres and column not in postgres[name]]
    if not postgres:
        problems.append("no PostgreSQL types known (regenerate with --postgres URL)")
    lines = [
        "# The SQL tables of a store",
        "",
        "<!-- Generated by `python -m journey.infra.audit.reference -o docs/tables.md` from "
        "fresh SQLite and PostgreSQL stores; the descriptions live in "
        "`infra/audit/table_docs.py`. Do not edit by hand. -->",
        "",
        "Every table of a store, in one database: the SQLite file, or the PostgreSQL schema "
        "the store URL names (`?schema=`, default `public`). Read them with SQL as you like; "
        "write only through `journey`. Times are text, RFC 3339 in UTC; business time is "
        "`occurred_at`, record time `recorded_at`. A column marked `NOT NULL` or in the "
        "primary key never holds NULL; `—`: the column does not exist in that database.",
    ]
    names = sorted(set(sqlite) | set(postgres) | set(TABLES), key=_order)
    for prefix, title, about in _GROUPS:
        lines += ["", f"## {title}", "", about[0].upper() + about[1:]]
        for name in names:
            if _group(name) == prefix and (name in sqlite or name in postgres):
                lines += _table(name, sqlite.get(name, TableShape({})), postgres.get(name, {}))
    return Reference("\n".join(lines) + "\n", problems)


def _group(name: str) -> str:
    return next((prefix for prefix, _, _ in _GROUPS if prefix and name.startswith(prefix)), "")


def _order(name: str) -> tuple[int, int, str]:
    listed = list(TABLES)
    return (0, listed.index(name), "") if name in listed else (1, 0, name)


def _table(name: str, shape: TableShape, types: dict[str, str]) -> list[str]:
    doc = TABLES.get(name)
    aliases = f" (PostgreSQL: `{doc.postgres_name}`)" if doc and doc.postgres_name else ""
    view = " (a SQL view)" if shape.is_view else ""
    lines = ["", f"### `{name}`{aliases}{view}", "",
             doc.about if doc else "**Not described.**", "",
             "| column | SQLite | PostgreSQL | meaning |", "|---|---|---|---|"]
    columns = [*shape.columns, *(c for c in types if c not in shape.columns)]
    for column in columns:
        meaning = doc.columns.get(column, "**not described**") if doc else "**not described**"
        lines.append(f"| `{column}` | {shape.columns.get(column, '—')} | "
                     f"{types.get(column, '—')} | {meaning.replace('|', '&#124;')} |")
    if shape.key:
        lines += ["", "Primary key: " + ", ".join(f"`{c}`" for c in shape.key) + "."]
    if shape.indexes:
        lines += ["", "Indexes: " + "; ".join(f"`{i}`" for i in shape.indexes) + "."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m journey.infra.audit.reference",
                                     description="Write the SQL reference (docs/tables.md).")
    parser.add_argument("-o", "--output", default="-", help="the file (default: stdout)")
    parser.add_argument("--postgres", default=os.environ.get("JOURNEY_TEST_POSTGRES"),
                        help="a PostgreSQL URL to read the types from (a scratch schema is "
                             "created and dropped; default: $JOURNEY_TEST_POSTGRES)")
    parser.add_argument("--check", action="store_true",
                        help="compare with the file instead of writing it")
    args = parser.parse_args(argv)
    if args.check and args.output == "-":
        parser.error("--check compares with a file: give it with -o")
    output = None if args.output == "-" else Path(args.output)
    before = output.read_text() if output is not None and output.exists() else ""
    postgres = fresh_postgres(args.postgres) if args.postgres else recorded_postgres_types(
        before)
    reference = render(fresh_sqlite(), postgres)
    for problem in reference.problems:
        print(f"reference: {problem}", file=sys.stderr)
    if reference.problems:
        return 1
    if args.check:
        if reference.text != before:
            print(f"reference: {args.output} is stale: regenerate it", file=sys.stderr)
            return 1
    elif output is None:
        sys.stdout.write(reference.text)
    elif reference.text != before:
        output.write_text(reference.text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
