"""``POST /v1/touchpoints`` in process (FastAPI's TestClient, the app's lifespan run): the
same decisions and stored rows as ``journey ingest`` of the same lines, one outcome per line,
the body's limits and forms, idempotency keys, and never a 500 for a body."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey.infra.audit.answers import answer
from journey.infra.http.access import new_token, token_digest
from journey.infra.http.bodies import MAX_TOUCHPOINTS
from journey.infra.http.server import create_app
from journey.infra.ingest import Ingestor, LineSource
from journey.infra.settings import Settings
from journey.infra.store import open_store
from journey.schemas.parsing import MAX_LINE_BYTES
from tests.support import line, order, part, store_digest, tp

LINES_TYPE = {"Content-Type": "application/x-ndjson"}
ARRAY_TYPE = {"Content-Type": "application/json"}

PLACED = order("O1", touchpoint_id="placed")
#: Every outcome and the reasons a line can have on its own; blank lines skipped.
LINES = [
    line(PLACED),
    line(tp("purchase.delivered", "2026-03-02T10:00:00Z", order_id="O1",
            touchpoint_id="delivered")),
    b"",
    line(PLACED),  # a duplicate
    line({**PLACED, "currency": "USD"}),  # conflicting_duplicate
    b"not json",
    b"[1, 2]",  # invalid_json: not an object
    line(tp("purchase.teleported", touchpoint_id="odd")),  # unknown_type
    line(part("received", qty=0, touchpoint_id="zero")),  # invalid
    line(tp("purchase.delivered", order_id="O9", touchpoint_id="orphan")),  # unknown_entity
    b'{"touchpoint_id": "big", "pad": "' + b"x" * MAX_LINE_BYTES + b'"}',  # over the limit
    b"   ",
]
EXPECTED = [
    ("placed", "accepted", None), ("delivered", "accepted", None),
    ("placed", "duplicate", None), ("placed", "rejected", "conflicting_duplicate"),
    (None, "rejected", "invalid_json"), (None, "rejected", "invalid_json"),
    ("odd", "rejected", "unknown_type"), ("zero", "rejected", "invalid"),
    ("orphan", "rejected", "unknown_entity"), (None, "rejected", "invalid"),
]


@pytest.fixture
def served(sqlite_url: str) -> Iterator[tuple[TestClient, str]]:
    """The app on a SQLite store, and the store's URL."""
    with TestClient(create_app(Settings(db=sqlite_url, http_max_body=4 << 20))) as client:
        yield client, sqlite_url


@pytest.fixture
def served_anywhere(store_url: str) -> Iterator[tuple[TestClient, str]]:
    """The app on each store (PostgreSQL with JOURNEY_TEST_POSTGRES), and the store's URL."""
    with TestClient(create_app(Settings(db=store_url, http_max_body=4 << 20))) as client:
        yield client, store_url


def ingested(tmp_path: Path, body: bytes) -> tuple[dict[str, Any], dict[str, object]]:
    """What ``journey ingest`` of ``body`` (as a file) answers and stores, in a store of its own."""
    url = f"sqlite:///{tmp_path / 'ingest.db'}"
    app = open_store(url, create=True)
    try:
        summary = Ingestor(app).ingest(LineSource(io.BytesIO(body))).as_json()
    finally:
        app.close()
    return summary, store_digest(url)


def summary_of(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: answer[key] for key in
            ("read", "accepted", "duplicates", "rejected", "rejected_by_reason")}


def test_a_json_lines_body_is_decided_and_stored_as_journey_ingest_decides_it(
        served_anywhere: tuple[TestClient, str], tmp_path: Path) -> None:
    client, url = served_anywhere
    body = b"\n".join(LINES) + b"\n"

    response = client.post("/v1/touchpoints", content=body, headers=LINES_TYPE)

    assert response.status_code == 200, response.text
    got = response.json()
    assert [(o["touchpoint_id"], o["outcome"], o["reason"]) for o in got["outcomes"]] == EXPECTED
    assert [o["index"] for o in got["outcomes"]] == list(range(len(EXPECTED)))
    assert all((o["detail"] is None) == (o["outcome"] != "rejected") for o in got["outcomes"])
    summary, digest = ingested(tmp_path, body)
    assert summary == summary_of(got)
    assert digest == store_digest(url)
    assert response.headers["X-Request-ID"] == got["request_id"]


def test_an_array_body_is_decided_as_its_elements_would_be_as_lines_each_kept_as_sent(
        served: tuple[TestClient, str], tmp_path: Path) -> None:
    client, url = served
    # every line but the blank ones, and the one that is not JSON (an array of it is a 400)
    elements = [raw for raw in LINES if raw.strip() and raw != b"not json"]
    pretty = b'{\n    "touchpoint_id": "pretty",\n    "type": "purchase.lost"\n  }'
    body = b"\xef\xbb\xbf[\n  " + b",\n  ".join(elements) + b"\n]\n"

    got = client.post("/v1/touchpoints", content=body, headers=ARRAY_TYPE).json()
    late = client.post("/v1/touchpoints", content=b"[" + pretty + b"]", headers=ARRAY_TYPE)

    assert [(o["touchpoint_id"], o["outcome"], o["reason"]) for o in got["outcomes"]] == [
        *EXPECTED[:4], *EXPECTED[5:]]
    summary, digest = ingested(tmp_path, b"\n".join(elements))
    assert summary == summary_of(got)
    assert digest["events"] == store_digest(url)["events"]
    app = open_store(url)
    try:
        stored = app.journey_recorder.rejects()
    finally:
        app.close()
    assert stored[-1].raw == pretty
    assert stored[-1].source == f"http:{late.json()['request_id']}:0"
    assert [r.source for r in stored[:-1]] == [
        f"http:{got['request_id']}:{o['index']}" for o in got["outcomes"]
        if o["outcome"] == "rejected"]


def test_the_views_reflect_what_a_request_accepted_when_it_answers(
        served: tuple[TestClient, str]) -> None:
    client, url = served
    body = b"\n".join(LINES[:2])

    got = client.post("/v1/touchpoints", content=body, headers=LINES_TYPE).json()

    app = open_store(url)
    try:
        timeline = answer(app, lambda views: views.timeline("C1"))
        head = app.journey_recorder.position()
    finally:
        app.close()
    assert [e["touchpoint_id"] for e in timeline["entries"]] == ["placed", "delivered"]
    assert got["freshness"] == {"view_position": head, "log_head": head, "stored_at": head}
    metrics = client.get("/metrics").text
    assert 'journey_touchpoints_decided_total{outcome="accepted",reason=""} 2.0' in metrics


@pytest.mark.parametrize(("headers", "status"), [
    ({"Content-Type": "application/jsonl"}, 200),
    ({"Content-Type": "Application/X-NDJSON; charset=UTF-8"}, 200),
    ({"Content-Type": "application/json; charset=utf-8"}, 200),
    ({}, 415),
    ({"Content-Type": "text/plain"}, 415),
    ({"Content-Type": "application/json; charset=latin-1"}, 415),
    ({"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}, 415),
])
def test_the_content_type_says_the_body_s_form_and_anything_else_is_415(
        served: tuple[TestClient, str], headers: dict[str, str], status: int) -> None:
    client, _ = served

    response = client.post("/v1/touchpoints", content=b"[]", headers=headers)

    assert response.status_code == status, response.text


@pytest.mark.parametrize("body", [b"", b"{}", b"[1,]", b"[1] 2", b"[{}", b"\xff[]", b"[\"\x00\"]"])
def test_an_unreadable_array_body_is_400_with_what_is_wrong(
        served: tuple[TestClient, str], body: bytes) -> None:
    client, _ = served

    response = client.post("/v1/touchpoints", content=body, headers=ARRAY_TYPE)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("body: ")


def test_bad_json_lines_are_rejects_not_a_400_and_an_empty_body_decides_nothing(
        served: tuple[TestClient, str]) -> None:
    client, _ = served

    junk = client.post("/v1/touchpoints", content=b"\xff\n{\n]", headers=LINES_TYPE).json()
    empty = client.post("/v1/touchpoints", content=b"", headers=LINES_TYPE).json()

    assert (junk["read"], junk["rejected_by_reason"]) == (3, {"invalid_json": 3})
    assert (empty["read"], empty["outcomes"]) == (0, [])


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'small.db'}"
    body = line(PLACED) + b"\n"
    with TestClient(create_app(Settings(db=url, http_max_body=len(body)))) as client:
        declared = client.post("/v1/touchpoints", content=body + b"\n", headers=LINES_TYPE)
        streamed = client.post("/v1/touchpoints", content=iter([body, b"\n"]),
                               headers=LINES_TYPE)
        exact = client.post("/v1/touchpoints", content=iter([body]), headers=LINES_TYPE)

    assert (declared.status_code, streamed.status_code, exact.status_code) == (413, 413, 200)
    assert "over the limit of" in declared.json()["detail"]
    assert store_digest(url)["counts"] == {"events": 1, "touchpoints": 1, "rejects": 0}


def test_a_retry_with_the_idempotency_key_changes_nothing_and_gets_the_first_answer(
        served_anywhere: tuple[TestClient, str]) -> None:
    client, url = served_anywhere
    body = b"\n".join(LINES[:10])
    keyed = {**LINES_TYPE, "Idempotency-Key": "order-batch-7"}
    first = client.post("/v1/touchpoints", content=body, headers=keyed)
    stored = store_digest(url)

    again = client.post("/v1/touchpoints", content=body, headers=keyed)
    other = client.post("/v1/touchpoints", content=body + b"\n{}", headers=keyed)
    bad = client.post("/v1/touchpoints", content=body, headers={**keyed, "Idempotency-Key": ""})

    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert {**again.json(), "freshness": None} == {**first.json(), "freshness": None}
    assert store_digest(url) == stored
    assert (other.status_code, bad.status_code) == (422, 400)
    assert store_digest(url) == stored


def test_more_touchpoints_than_one_request_may_hold_is_413_and_stores_nothing(
        served: tuple[TestClient, str]) -> None:
    client, url = served
    lines = b"1\n" * (MAX_TOUCHPOINTS + 1)  # tiny: far under the byte limit
    array = b"[" + b",".join([b"1"] * (MAX_TOUCHPOINTS + 1)) + b"]"
    at_most = client.post("/v1/touchpoints", content=b"1\n" * MAX_TOUCHPOINTS,
                          headers=LINES_TYPE)
    before = store_digest(url)

    refused = [client.post("/v1/touchpoints", content=body, headers={"Content-Type": form})
               for body, form in ((lines, "application/x-ndjson"),
                                  (array, "application/json"))]

    assert (at_most.status_code, at_most.json()["rejected"]) == (200, MAX_TOUCHPOINTS)
    assert [r.status_code for r in refused] == [413, 413]
    assert "more than 10,000 touchpoints" in refused[0].json()["detail"]
    assert store_digest(url) == before


def test_one_client_s_idempotency_key_never_finds_another_s_answer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    crm, billing = new_token(), new_token()
    entries = ",".join(f"{name}:writer:{token_digest(token)}"
                       for name, token in (("crm", crm), ("billing", billing)))
    with TestClient(create_app(Settings(db=url, tokens=entries))) as client:
        def post(token: str, body: bytes) -> dict[str, Any]:
            answer = client.post("/v1/touchpoints", content=body, headers={
                **LINES_TYPE, "Idempotency-Key": "1", "Authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        mine = post(crm, LINES[0])
        theirs = post(billing, line(order("O77")))

    assert (mine["accepted"], theirs["accepted"]) == (1, 1)
    assert theirs["request_id"] != mine["request_id"]


def test_a_retry_without_a_key_finds_its_accepted_lines_as_duplicates(
        served: tuple[TestClient, str]) -> None:
    client, _ = served
    body = b"\n".join(LINES[:4])

    client.post("/v1/touchpoints", content=body, headers=LINES_TYPE)
    again = client.post("/v1/touchpoints", content=body, headers=LINES_TYPE).json()

    assert (again["accepted"], again["duplicates"]) == (0, 3)


def test_concurrent_requests_with_one_key_decide_it_once(
        served_anywhere: tuple[TestClient, str]) -> None:
    client, url = served_anywhere
    body = b"\n".join(LINES[:10])
    keyed = {**LINES_TYPE, "Idempotency-Key": "twins"}
    answers: list[Any] = []

    def post() -> None:
        answers.append(client.post("/v1/touchpoints", content=body, headers=keyed))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == [
        "", "true", "true", "true"]
    assert len({a.json()["request_id"] for a in answers}) == 1
    assert store_digest(url)["counts"] == {"events": 2, "touchpoints": 2, "rejects": 6}


def test_a_store_that_cannot_be_written_is_503_with_retry_after(
        served: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = served

    def locked(*_args: object, **_kwargs: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(Ingestor, "ingest_batch", locked)
    response = client.post("/v1/touchpoints", content=line(PLACED), headers=LINES_TYPE)

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert "nothing of this request was stored" in response.json()["detail"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path_factory.mktemp('any') / 'http.db'}"
    with TestClient(create_app(Settings(db=url, http_max_body=1 << 16))) as client:
        yield client


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode),
                      st.lists(st.one_of(st.just(line(PLACED)), st.binary(max_size=40),
                                         st.sampled_from([b"[", b"]", b",", b'"', b"{", b"\n"])),
                               max_size=8).map(b"".join)),
       form=st.sampled_from(["application/json", "application/x-ndjson"]))
def test_no_body_gives_a_500_only_200_or_400(shared: TestClient, body: bytes, form: str) -> None:
    response = shared.post("/v1/touchpoints", content=body, headers={"Content-Type": form})

    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert len(response.json()["outcomes"]) == response.json()["read"]
    json.loads(response.text)
