"""Names in SQL: the schema of a store URL is validated where the URL is parsed, and every
table name is quoted (issue 11, hole 5). Pure logic: no database here (see
tests/integration/test_sql_identifiers.py for the injection against a real PostgreSQL)."""

from __future__ import annotations

import pytest

from journey.infra.store import StoreError, store_env, store_url
from journey.infra.store.identifiers import pg_identifier, quote_identifier
from journey.infra.store.urls import schema_name
from journey.projections.tables import Tables

BASE = "postgresql://alice:s3cret@db.example:5433/journey"


@pytest.mark.parametrize("name", [
    "public", "a", "_", "_9", "t_0123456789ab", "x" * 63, "s" + "_" * 61 + "9", "pgx", "p_g",
])
def test_a_legal_schema_name_is_kept_as_given(name: str) -> None:
    env = store_env(f"{BASE}?schema={name}")
    assert name == env["POSTGRES_SCHEMA"]
    assert f"postgresql://alice@db.example:5433/journey?schema={name}" == store_url(env)


def test_no_schema_parameter_means_public() -> None:
    assert store_env(BASE)["POSTGRES_SCHEMA"] == "public"
    assert store_env(f"{BASE}?sslmode=disable")["POSTGRES_SCHEMA"] == "public"


@pytest.mark.parametrize("raw", [
    'x%22;%20CREATE%20TABLE%20public.pwned(a%20int);%20--',  # the campaign's payload
    "x%22", "a.b", "a-b", "a%20b", "%20a", "a%0A", "a%00", "9lives", "Mixed", "UPPER",
    "x" * 64, "pg_catalog", "pg_x", "caf%C3%A9", "a$b", "",
])
def test_anything_else_is_refused_before_any_connection(raw: str) -> None:
    with pytest.raises(StoreError, match=r"^invalid schema name .* in the store URL: use 1 to "
                                         r"63 lower-case letters") as caught:
        store_env(f"{BASE}?schema={raw}")
    message = str(caught.value)
    assert "\n" not in message
    assert "s3cret" not in message


def test_a_long_bad_name_is_shown_shortened_on_one_line() -> None:
    with pytest.raises(StoreError) as caught:
        schema_name(["x;" * 200])
    assert len(str(caught.value)) < 250
    assert "..." in str(caught.value)


def test_two_schemas_in_one_url_are_refused() -> None:
    with pytest.raises(StoreError, match="more than one schema"):
        store_env(f"{BASE}?schema=a&schema=b")


def test_sqlite_quoting_doubles_quotes_and_refuses_nul() -> None:
    assert quote_identifier("journey_chain") == '"journey_chain"'
    assert quote_identifier('a"b') == '"a""b"'
    with pytest.raises(ValueError, match="NUL"):
        quote_identifier("a\x00b")


def test_postgres_names_are_quoted_by_psycopg() -> None:
    assert pg_identifier("s", "stored_events") == '"s"."stored_events"'
    assert pg_identifier('x"; drop', "t") == '"x""; drop"."t"'


def test_view_table_names_are_quoted_after_the_store_prefix() -> None:
    assert Tables().view_stock == '"view_stock"'
    assert Tables('"s".', "_next").view_stock == '"s"."view_stock_next"'
    with pytest.raises(AttributeError):
        Tables().not_a_view  # noqa: B018
