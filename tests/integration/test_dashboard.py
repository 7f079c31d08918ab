"""The dashboard's pages in-process (``TestClient``): they answer, escape every value, refer
to nothing outside the server, refuse bad filters with a page naming them, and send a page
asked for without a token to ``/login`` (the API's refusals stay JSON)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from journey.infra.http.dashboard import charts
from journey.infra.http.server import create_app
from journey.infra.settings import Settings
from tests.dashboard_support import EVIL, EVIL_PART, EVIL_PLACE, OUTSIDE, build_store
from tests.http_support import client_fixture, store_fixture

ANALYST, WRITER = "jt_analyst-token-for-tests", "jt_writer-token-for-tests"
TOKENS = ",".join(f"{name}:{role}:{hashlib.sha256(token.encode()).hexdigest()}"
                  for name, role, token in (("bi", "analyst", ANALYST),
                                            ("crm", "writer", WRITER)))


store = store_fixture("dashboard", build_store)
client = client_fixture()
guarded = client_fixture(tokens=TOKENS)


def customer_page(customer: str) -> str:
    return "/customers/" + quote(customer, safe="")


def test_every_page_answers_with_its_figures_and_their_freshness(client: TestClient) -> None:
    pages = {"/": "Error rate per kind and month", "/stock": "Parts to reorder per location",
             "/?from=2026-02&to=2026-06&contact_cost=12.50": "Failure demand cost",
             "/stock?needs_reorder=true&lead_time=10&service_level=0.9": "10.0 days",
             customer_page(EVIL): "delivery_failed"}

    answers = {path: client.get(path) for path in pages}

    for path, expected in pages.items():
        assert answers[path].status_code == 200, (path, answers[path].text[:300])
        assert expected in answers[path].text, path
        assert "Current · log position" in answers[path].text, path
        assert answers[path].headers["content-type"].startswith("text/html")
        assert "script-src" not in answers[path].headers["content-security-policy"]
    assert answers["/"].text.count("<svg") == 6
    assert answers["/stock"].text.count("<svg") == 1


def test_ids_holding_markup_are_shown_as_text(client: TestClient) -> None:
    overview, stock, journey = (client.get(path).text
                                for path in ("/", "/stock", customer_page(EVIL)))

    for html in (overview, stock, journey):
        for markup in ("<script", "<img", "<b>1</b>", "<i>"):
            assert markup not in html
    shown = EVIL.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert shown.replace('"', "&#34;") in journey
    assert f'href="{customer_page(EVIL)}"' in overview  # linked from the overdue invoices
    assert escape(EVIL_PART) in stock and escape(EVIL_PLACE) in stock


def test_pages_and_charts_refer_to_nothing_outside_the_server(client: TestClient) -> None:
    svg = charts.error_rates([{"kind": "repair", "month": "2026-01", "touchpoints": 4,
                               "errors": 1, "error_rate": 0.25}])

    pages = [client.get(path).text for path in ("/", "/stock", customer_page(EVIL), "/login")]

    for html in [*pages, str(svg)]:
        assert OUTSIDE.search(html) is None, OUTSIDE.search(html)
        assert "<script" not in html
    assert "<title>repair, 2026-01: 25.0 %</title>" in svg


def test_an_empty_store_shows_empty_pages(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(db=f"sqlite:///{tmp_path / 'empty.db'}"))) as empty:
        answers = {path: empty.get(path) for path in ("/", "/stock", "/customers/C1")}

    assert answers["/"].status_code == 200 and "No touchpoints yet." in answers["/"].text
    assert answers["/stock"].status_code == 200
    assert answers["/customers/C1"].status_code == 404
    assert "No touchpoint of this customer" in answers["/customers/C1"].text


@pytest.mark.parametrize(("path", "named"), [
    ("/?contact_cost=1.234", "contact_cost: expected a cost per contact"),
    ("/?from=2026-05&to=2026-03", "from 2026-05 starts after to 2026-03"),
    ("/?to=March", "to: expected a month"),
    ("/stock?lead_time=0", "lead_time: expected days"),
    ("/stock?needs_reorder=maybe", "needs_reorder: expected true or false"),
    ("/customers/" + "x" * 129, "customer_id: expected 1 to 128 characters"),
])
def test_a_bad_filter_is_a_page_naming_it(client: TestClient, path: str, named: str) -> None:
    answered = client.get(path)

    assert answered.status_code == 400
    assert answered.headers["content-type"].startswith("text/html")
    assert named in answered.text


def test_the_search_box_opens_the_customer_page(client: TestClient) -> None:
    answered = client.get("/customers", params={"id": EVIL}, follow_redirects=False)

    assert answered.status_code == 303
    assert answered.headers["location"] == customer_page(EVIL)


def test_without_a_token_a_page_goes_to_login_and_the_api_stays_json(
        guarded: TestClient) -> None:
    guarded.cookies.clear()

    page = guarded.get("/stock?part=P1", follow_redirects=False)
    api = guarded.get("/v1/stock", follow_redirects=False)
    metrics = guarded.get("/metrics", follow_redirects=False)

    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=" + quote("/stock?part=P1", safe="")
    assert api.status_code == 401 and api.json()["detail"]
    assert metrics.status_code == 401
    assert guarded.get("/static/dashboard.css").status_code == 200  # the sign-in page's look
    assert "Sign in" in guarded.get("/login").text


def test_signing_in_sets_a_strict_cookie_that_opens_the_pages(guarded: TestClient) -> None:
    guarded.cookies.clear()
    unknown = guarded.post("/login", data={"token": "jt_nope", "next": "/stock"})
    writer = guarded.post("/login", data={"token": WRITER, "next": "/stock"})
    assert (unknown.status_code, writer.status_code) == (401, 403)
    assert "set-cookie" not in unknown.headers and "set-cookie" not in writer.headers

    signed = guarded.post("/login", data={"token": ANALYST, "next": "/stock"},
                          follow_redirects=False)

    assert signed.status_code == 303 and signed.headers["location"] == "/stock"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"journey_token={ANALYST};")
    for attribute in ("HttpOnly", "Path=/", "SameSite=strict"):
        assert attribute.lower() in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http: a Secure cookie would never return
    assert guarded.get("/stock").status_code == 200
    assert "Sign out" in guarded.get("/").text
    out = guarded.post("/logout", follow_redirects=False)
    assert out.status_code == 303 and 'journey_token=""' in out.headers["set-cookie"]


def test_signing_in_refuses_other_sites_and_goes_only_to_this_one(guarded: TestClient) -> None:
    guarded.cookies.clear()

    forged = guarded.post("/login", data={"token": ANALYST},
                          headers={"Origin": "https://elsewhere.example"})
    fetched = guarded.post("/login", data={"token": ANALYST},
                           headers={"Sec-Fetch-Site": "same-site"})
    away = guarded.post("/login", data={"token": ANALYST, "next": "//elsewhere.example/x"},
                        follow_redirects=False)
    https = guarded.post("https://testserver/login", data={"token": ANALYST},
                         follow_redirects=False)

    for refused in (forged, fetched):
        assert refused.status_code == 403 and "set-cookie" not in refused.headers
    assert away.headers["location"] == "/"
    assert "secure" in https.headers["set-cookie"].lower()


def test_a_token_without_the_analyst_role_gets_a_page_saying_so(guarded: TestClient) -> None:
    answered = guarded.get("/", headers={"Authorization": f"Bearer {WRITER}"})

    assert answered.status_code == 403
    assert "analyst role" in answered.text


def test_an_open_server_needs_no_sign_in(client: TestClient) -> None:
    assert "nobody needs to sign in" in client.get("/login").text
    assert client.post("/login", data={"token": "x"}, follow_redirects=False
                       ).headers["location"] == "/"
    assert "Sign out" not in client.get("/stock").text
