"""The queries over HTTP, in process (FastAPI's TestClient, lifespan run): each answer is the
service's document (what ``journey ... --json`` prints), bad query parameters are one 400
line and never a 500, answers kept in memory follow the log, a database that is gone is a
503, ``/metrics`` counts without personal data, and the API documents itself offline."""

from __future__ import annotations

import io
import sqlite3
from typing import Any

import fastavro
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey.infra.audit.answers import answer
from journey.infra.http.server import create_app
from journey.infra.settings import Settings
from journey.infra.store import open_store
from journey.projections.stock import Planning
from tests.http_support import client_fixture, store_fixture
from tests.integration.test_http_access import fill
from tests.support import line, order

#: Each route with the parameters it takes (values that are fine).
ROUTES: dict[str, dict[str, str]] = {
    "/v1/customers/C1/timeline": {"as_of": "2026-03", "known_at": "2026-12-31"},
    "/v1/customers": {"top": "3"},
    "/v1/errors": {"kind": "purchase", "from": "2026-01", "to": "2026-03",
                   "contact_cost": "12.50", "as_of": "2026-03-31T23:00:00+02:00"},
    "/v1/stock": {"part": "P1", "location": "WH1", "needs_reorder": "false",
                  "lead_time": "10", "service_level": "0.98", "known_at": "2026-12"},
    "/v1/kpis": {"from": "2026-01", "to": "2026-12"},
    "/v1/invoices": {"as_of_day": "2026-03-31", "status": "open"},
    "/v1/history/order:O1": {"as_of": "2026-03-01", "known_at": "2099-01"},
    "/v1/rejects": {"all": "true", "reason": "invalid_json", "limit": "5"},
    "/v1/audit/verify": {"expect_head": "a" * 64},
    "/v1/export": {"customer": "C1", "from": "2026-01", "to": "2026-12-31"},
}
#: Values each parameter refuses.
BAD = {"as_of": ["2026-13", "March", "2026-03-01T10:00:00"], "known_at": ["yesterday"],
       "top": ["0", "-1", "many", "1.5"], "kind": ["nonsense"], "from": ["2026/03"],
       "to": ["26-03"], "contact_cost": ["-1", "1.234", "nan"], "part": [""],
       "location": ["x" * 129], "needs_reorder": ["maybe"], "lead_time": ["0", "inf"],
       "service_level": ["1", "0", "x"], "as_of_day": ["2026-02-30", "2026-03"],
       "status": ["late"], "all": ["2"], "reason": ["nope"], "limit": ["0"],
       "expect_head": ["abc"], "customer": ["", "a\nb"]}


store = store_fixture("api", fill)
client = client_fixture()


@pytest.mark.parametrize("path", list(ROUTES))
def test_every_route_takes_its_parameters(client: TestClient, path: str) -> None:
    response = client.get(path, params=ROUTES[path])

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("path", "name", "value"), [
    (path, name, value) for path, params in ROUTES.items() for name in params
    for value in BAD[name]])
def test_a_bad_parameter_is_one_line_naming_it(client: TestClient, path: str, name: str,
                                               value: str) -> None:
    response = client.get(path, params={name: value})

    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"{name}: "), response.json()


def test_unknown_repeated_and_reversed_parameters_are_refused(client: TestClient) -> None:
    typo = client.get("/v1/stock", params={"parts": "P1"})
    twice = client.get("/v1/customers?top=1&top=2")
    reversed_ = client.get("/v1/errors", params={"from": "2026-05", "to": "2026-03"})
    bad_entity = client.get("/v1/history/thing:1")

    assert typo.json()["detail"].startswith("parts: not a parameter of this route (it takes "
                                            "part, location, needs_reorder")
    assert twice.json()["detail"] == ('top: given more than once, it takes one value '
                                      '(got ["1", "2"])')
    assert "reversed range" in reversed_.json()["detail"]
    assert bad_entity.json()["detail"].startswith("entity: expected customer:C1")
    assert {typo.status_code, twice.status_code, reversed_.status_code,
            bad_entity.status_code} == {400}


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(ROUTES)), st.dictionaries(
    st.sampled_from([*BAD, "x", "top "]), _TEXT, max_size=3))
def test_whatever_the_query_never_a_500(client: TestClient, path: str,
                                        params: dict[str, str]) -> None:
    response = client.get(path, params=params)

    assert response.status_code in (200, 400), (params, response.text)
    if response.status_code == 400:
        assert set(response.json()) == {"detail"}


def _service(store: str, ask: Any, **window: Any) -> dict[str, Any]:
    application = open_store(store, create=False)
    try:
        return answer(application, ask)
    finally:
        application.close()


def test_answers_are_the_service_documents(client: TestClient, store: str) -> None:
    timeline = client.get("/v1/customers/C1/timeline")
    stock = client.get("/v1/stock", params={"lead_time": "10"})

    assert timeline.json() == _service(store, lambda views: views.timeline("C1"))
    assert stock.json() == _service(store, lambda views: views.stock(
        None, None, False, Planning(lead_time_days=10.0)))
    freshness = timeline.json()["freshness"]
    assert timeline.headers["X-Journey-View-Position"] == str(freshness["view_position"])
    assert timeline.headers["X-Journey-Log-Head"] == str(freshness["log_head"])


def test_an_answer_kept_in_memory_follows_the_log(store_url: str) -> None:
    fill(store_url)  # SQLite (answered on the event loop) and PostgreSQL (in threads)
    with TestClient(create_app(Settings(db=store_url))) as client:
        before = client.get("/v1/customers/C1/timeline").json()
        again = client.get("/v1/customers/C1/timeline").json()
        stock = client.get("/v1/stock").json()
        posted = client.post("/v1/touchpoints", content=line(order("O5")),
                             headers={"Content-Type": "application/x-ndjson"})
        after = client.get("/v1/customers/C1/timeline").json()
        metrics = client.get("/metrics").text

    assert again == before
    assert stock["items"][0]["on_hand"] == 5
    assert posted.status_code == 200
    assert len(after["entries"]) == len(before["entries"]) + 1
    assert after["freshness"]["view_position"] > before["freshness"]["view_position"]
    assert "journey_store_up 1.0" in metrics


def test_an_export_is_the_avro_file_journey_export_writes(client: TestClient) -> None:
    response = client.get("/v1/export", params={"customer": "C1"})

    records = list(fastavro.reader(io.BytesIO(response.content)))
    assert response.headers["Content-Type"] == "application/avro"
    assert response.headers["X-Journey-Records"] == str(len(records)) != "0"
    assert {record["customer_id"] for record in records} == {"C1"}


def test_a_database_that_is_gone_is_a_503_with_the_reason(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(*_: Any, **__: Any) -> None:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr("journey.infra.http.memo.answer", gone)
    monkeypatch.setattr("journey.infra.http.api.entity_history", gone)

    for path in ("/v1/kpis?to=2026-02", "/v1/history/order:O1"):  # not asked before
        response = client.get(path)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.json()["detail"].startswith("the database is unreachable (sqlite:///")
        assert response.json()["detail"].endswith(": unable to open database file")


def test_a_bug_is_a_500_without_a_traceback(client: TestClient,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(*_: Any, **__: Any) -> None:
        raise KeyError("customer C1")

    monkeypatch.setattr("journey.infra.http.memo.answer", bug)

    response = client.get("/v1/errors", params={"kind": "repair"})

    assert response.status_code == 500
    assert response.json() == {"detail": "internal error: KeyError (details in the server's "
                                         "log)"}


def test_metrics_count_requests_by_route_never_by_customer(client: TestClient) -> None:
    client.get("/v1/customers/C-SECRET/timeline")
    client.post("/v1/touchpoints", content=b"not json\n" + line(order("O6")),
                headers={"Content-Type": "application/x-ndjson"})

    text = client.get("/metrics").text

    assert "C-SECRET" not in text
    assert ('journey_http_request_duration_seconds_count{method="GET",'
            'route="/v1/customers/{customer_id:path}/timeline",status="200"}') in text
    assert 'journey_touchpoints_decided_total{outcome="accepted",reason=""}' in text
    assert 'journey_touchpoints_decided_total{outcome="rejected",reason="invalid_json"}' in text
    assert "journey_store_up 1.0" in text
    assert 'journey_view_lag_events{projection="touchpoints"} 0.0' in text


def test_the_api_documents_itself_with_no_internet(client: TestClient) -> None:
    openapi = client.get("/openapi.json").json()
    page = client.get("/docs").text

    for path, operations in openapi["paths"].items():
        for operation in operations.values():
            assert operation["security"] == [{"HTTPBearer": []}], path
            assert "role: " in operation["tags"][0] or path == "/v1/touchpoints", path
    assert {p["name"] for p in openapi["paths"]["/v1/stock"]["get"]["parameters"]} == {
        "part", "location", "needs_reorder", "lead_time", "service_level", "as_of", "known_at"}
    assert "//" not in page.split("<script>")[0].replace("http://testserver", "")
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
