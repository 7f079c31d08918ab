"""The short way to the views' answers (``journey.infra.http.hot``) answers as FastAPI's long
way does, in process: the same status, headers and bytes for answers, refusals and failures,
each request taken the way it should be; and a kept answer follows a write made by another
connection (as another process writes)."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from journey.infra.http.access import new_token, token_digest
from journey.infra.http.server import create_app
from journey.infra.ingest import Ingestor, LineSource
from journey.infra.settings import Settings
from journey.infra.store import open_store
from journey.infra.views.projector import Projector
from tests.http_support import store_fixture
from tests.integration.test_http_access import fill
from tests.support import line, order

ANALYST, WRITER = new_token(), new_token()
TOKENS = f"bi:analyst:{token_digest(ANALYST)},crm:writer:{token_digest(WRITER)}"

store = store_fixture("shortcut", fill)

#: (path, request headers, the status expected, whether the short way takes it): it takes
#: the views' answers and their refusals of a parameter; a refused Host or token goes the
#: long way.
OPEN = [
    ("/v1/customers/C1/timeline", {}, 200, True),
    ("/v1/customers/NOBODY/timeline", {}, 200, True),
    ("/v1/customers/C1/timeline?as_of=2026-03", {}, 200, True),  # a replay: in a thread
    ("/v1/stock", {"Accept-Encoding": "gzip"}, 200, True),
    ("/v1/stock?needs_reorder=true&lead_time=10", {"Accept-Encoding": "identity"}, 200, True),
    ("/v1/errors?kind=purchase", {}, 200, True),
    ("/v1/customers?top=3", {}, 200, True),
    ("/v1/errors?kind=nonsense", {}, 400, True),
    ("/v1/stock?part=P1&part=P2", {}, 400, True),
    ("/v1/stock?nope=1", {}, 400, True),
    ("/v1/customers//timeline", {}, 400, True),
    ("/v1/stock", {"Host": "evil.example"}, 421, False),
    ("/v1/history/order:O1", {}, 200, False),  # not a view's answer
]
GUARDED = [
    ("/v1/stock", {}, 401, False),
    ("/v1/stock", {"Authorization": "Bearer " + new_token()}, 401, False),
    ("/v1/stock", {"Authorization": "Bearer " + WRITER}, 403, False),
    ("/v1/stock", {"Authorization": "Bearer " + ANALYST}, 200, True),
    ("/v1/customers/C1/timeline", {"Cookie": f"journey_token={ANALYST}"}, 200, True),
    ("/v1/stock", {"Host": "evil.example", "Authorization": "Bearer " + ANALYST}, 200, True),
]


@contextmanager
def both_ways(store: str, **settings: Any) -> Iterator[tuple[TestClient, TestClient, list[bool]]]:
    """Two apps on ``store``: one as served (it records whether each request went the short
    way), one with no short way at all."""
    short, long = (create_app(Settings(db=store, **settings)) for _ in range(2))
    taken: list[bool] = []
    shortcut, long.shortcut = short.shortcut, None
    assert shortcut is not None

    async def recorded(scope: Scope, receive: Receive, send: Send) -> bool:
        answered = await shortcut(scope, receive, send)
        taken.append(answered)
        return answered

    short.shortcut = recorded
    with TestClient(short) as short_client, TestClient(long) as long_client:
        yield short_client, long_client, taken


@pytest.mark.parametrize(("settings", "cases"), [({}, OPEN), ({"tokens": TOKENS}, GUARDED)],
                         ids=["open", "tokens"])
def test_the_short_way_answers_and_refuses_as_the_long_way(
        store: str, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str],
        cases: list[tuple[str, dict[str, str], int, bool]]) -> None:
    monkeypatch.setattr("journey.infra.http.hot.GZIP_FROM", 100)  # small answers gzipped too
    with both_ways(store, **settings) as (short, long, taken):
        for path, headers, status, short_way in cases:
            taken.clear()
            expected = long.get(path, headers=headers)
            actual = short.get(path, headers=headers)

            assert (actual.status_code, actual.headers.raw, actual.content) == (
                expected.status_code, expected.headers.raw, expected.content), path
            assert actual.status_code == status, (path, actual.text)
            assert taken == [short_way], path
            if status == 200 and "Accept-Encoding" in headers:  # as the client asked
                gzipped = actual.headers.get("content-encoding") == "gzip"
                assert gzipped == (headers["Accept-Encoding"] == "gzip"), path


def test_a_kept_answer_follows_a_write_by_another_connection(store: str) -> None:
    with both_ways(store) as (short, _, taken):
        before = short.get("/v1/customers/C1/timeline").json()
        again = short.get("/v1/customers/C1/timeline").json()
        writer = open_store(store)  # as journey ingest in another process would
        try:
            Ingestor(writer).ingest(LineSource(io.BytesIO(line(order("O7")))))
            Projector(writer).catch_up()
        finally:
            writer.close()
        after = short.get("/v1/customers/C1/timeline").json()

    assert again == before
    assert len(after["entries"]) == len(before["entries"]) + 1
    assert after["freshness"]["log_head"] > before["freshness"]["log_head"]
    assert taken == [True, True, True]


def test_a_failure_is_answered_as_the_guard_answers_it(store: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(*_: Any, **__: Any) -> None:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr("journey.infra.http.memo.answer", gone)
    with both_ways(store) as (short, long, taken):
        expected = long.get("/v1/kpis?to=2026-01")  # asked of neither before
        actual = short.get("/v1/kpis?to=2026-01")

    assert (actual.status_code, actual.headers.raw, actual.content) == (
        expected.status_code, expected.headers.raw, expected.content)
    assert actual.status_code == 503
    assert taken == [True]
