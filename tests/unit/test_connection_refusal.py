"""PostgreSQL's refusals of a connection are named, and are not "try again later" (issue 12).

libpq gives these errors no SQLSTATE, so the text decides; the server here trusts every
login, so a wrong password cannot be provoked for real (the CLI tests provoke a missing
role, a missing database and a refused port): pure classification logic, driver errors
built as psycopg builds them.
"""

from __future__ import annotations

import psycopg
import pytest

from journey.infra.store.errors import (
    LoginRefused,
    StoreMissing,
    connection_refusal,
    operational_failure,
)
from journey.infra.store.urls import connection_error, store_env

PREAMBLE = 'connection failed: connection to server at "127.0.0.1", port 5432 failed: '


@pytest.mark.parametrize(("said", "refusal"), [
    ('FATAL:  database "nosuch" does not exist', "database_missing"),
    ('FATAL:  role "nobody" does not exist', "login_refused"),
    ('FATAL:  password authentication failed for user "postgres"', "login_refused"),
    ('FATAL:  no pg_hba.conf entry for host "10.0.0.2", user "u", database "d", no encryption',
     "login_refused"),
    ("fe_sendauth: no password supplied", "login_refused"),
    ("Connection refused\n\tIs the server running on that host and accepting TCP/IP "
     "connections?", None),
    ("timeout expired", None),
    ("FATAL:  the database system is starting up", None),
])
def test_refusals_are_told_from_outages(said: str, refusal: str | None) -> None:
    exc = psycopg.OperationalError(PREAMBLE + said)

    assert connection_refusal(exc) == refusal
    if refusal is None:
        assert operational_failure(exc) is not None  # an outage: the followers wait it out
    else:
        assert operational_failure(exc) is None  # a retry cannot cure it


def test_a_wrong_password_is_a_refused_login_without_the_password() -> None:
    url = "postgresql://postgres:s3cret@db.example:5433/journey"
    exc = psycopg.OperationalError(
        PREAMBLE + 'FATAL:  password authentication failed for user "postgres"')

    error = connection_error(exc, store_env(url), "postgresql://postgres:***@db.example:5433/journey")

    assert isinstance(error, LoginRefused)
    assert str(error) == (
        "PostgreSQL at db.example:5433 refused the login of 'postgres' "
        "(postgresql://postgres:***@db.example:5433/journey): password authentication failed "
        'for user "postgres"')
    assert "s3cret" not in str(error)


def test_a_missing_database_is_a_missing_store() -> None:
    url = "postgresql://postgres@127.0.0.1/nosuch"
    exc = psycopg.OperationalError(PREAMBLE + 'FATAL:  database "nosuch" does not exist')

    error = connection_error(exc, store_env(url), url)

    assert isinstance(error, StoreMissing)
    assert "createdb nosuch" in str(error)
