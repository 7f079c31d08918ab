"""Table and schema names as SQL: always quoted, never pasted raw.

Values go to the drivers as parameters; names cannot, so they are quoted here: on
PostgreSQL by ``psycopg.sql.Identifier`` (libpq's escaping), on SQLite by the standard
double-quote quoting SQLite follows. The schema name from a store URL is also validated
where the URL is parsed (``urls.schema_name``), because eventsourcing pastes it unquoted
into one lookup of its own.
"""

from __future__ import annotations


def quote_identifier(name: str) -> str:
    """``name`` as one quoted SQL identifier (SQLite; the SQL standard's quoting)."""
    if "\x00" in name:
        raise ValueError(f"an SQL identifier cannot hold NUL: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def pg_identifier(*parts: str) -> str:
    """The dotted, quoted PostgreSQL name of ``parts`` (e.g. schema, table)."""
    from psycopg.sql import Identifier  # psycopg loads for PostgreSQL stores only

    return Identifier(*parts).as_string()
