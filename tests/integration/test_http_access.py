"""Who may do what on ``journey serve``, in process (FastAPI's TestClient, lifespan run): every
route and every role, no token and an unknown one; the dashboard's cookie (GET only); the
tokens file and JOURNEY_TOKENS read, refused, and re-read while serving."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from journey.infra.http import access
from journey.infra.http.access import (
    COOKIE,
    Access,
    Role,
    TokensError,
    new_token,
    token_digest,
    tokens_line,
)
from journey.infra.http.server import create_app
from journey.infra.ingest import Ingestor, LineSource
from journey.infra.settings import Settings, SettingsError
from journey.infra.store import open_store
from journey.infra.views.projector import Projector
from tests.http_support import client_fixture, store_fixture
from tests.support import line, order, part, tp

TOKENS = {role: new_token() for role in Role}
#: Each route, and the roles that may use it (a GET unless a body is given).
ROUTES: list[tuple[str, frozenset[Role], bytes | None]] = [
    ("/v1/customers/C1/timeline", frozenset({Role.analyst}), None),
    ("/v1/customers", frozenset({Role.analyst}), None),
    ("/v1/errors", frozenset({Role.analyst}), None),
    ("/v1/stock", frozenset({Role.analyst}), None),
    ("/v1/kpis", frozenset({Role.analyst}), None),
    ("/v1/invoices", frozenset({Role.analyst}), None),
    ("/v1/history/order:O1", frozenset({Role.auditor}), None),
    ("/v1/rejects", frozenset({Role.auditor}), None),
    ("/v1/audit/verify", frozenset({Role.auditor}), None),
    ("/v1/export", frozenset({Role.auditor}), None),
    ("/metrics", frozenset({Role.monitor, Role.analyst}), None),
    ("/", frozenset({Role.analyst}), None),  # the dashboard: no token, to /login (303)
    ("/v1/touchpoints", frozenset({Role.writer}), line(order("O9"))),
]
OPEN_TO_ALL = ["/healthz", "/docs", "/openapi.json"]


def fill(url: str) -> None:
    """A store where every route has something to answer."""
    application = open_store(url)
    try:
        lines = [order("O1"), tp("purchase.delivered", order_id="O1"),
                 part("received", qty=5), b"not json"]
        body = b"\n".join(item if isinstance(item, bytes) else line(item) for item in lines)
        Ingestor(application).ingest(LineSource(io.BytesIO(body)))
        Projector(application).catch_up()
    finally:
        application.close()


store = store_fixture("access", fill)
#: The app with one token per role (inline, as JOURNEY_TOKENS gives them).
guarded = client_fixture(tokens=",".join(f"{role}:{role}:{token_digest(token)}"
                                         for role, token in TOKENS.items()))


def call(client: TestClient, path: str, body: bytes | None, token: str | None) -> int:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    if body is None:
        return client.get(path, headers=headers, follow_redirects=False).status_code
    headers["Content-Type"] = "application/x-ndjson"
    return client.post(path, content=body, headers=headers).status_code


@pytest.mark.parametrize(("path", "allowed", "body"), ROUTES, ids=[r[0] for r in ROUTES])
def test_each_route_answers_its_roles_only(guarded: TestClient, path: str,
                                           allowed: frozenset[Role], body: bytes | None
                                           ) -> None:
    unknown = 303 if path == "/" else 401  # a person is sent to sign in
    for role, token in TOKENS.items():
        assert call(guarded, path, body, token) == (200 if role in allowed else 403), role
    assert call(guarded, path, body, None) == unknown
    assert call(guarded, path, body, new_token()) == unknown  # well formed, not configured


def test_a_refusal_says_why_and_asks_for_a_bearer_token(guarded: TestClient) -> None:
    missing = guarded.get("/v1/stock")
    writer = {"Authorization": f"Bearer {TOKENS[Role.writer]}"}
    wrong_role = guarded.get("/v1/stock", headers=writer)
    basic = guarded.get("/v1/stock", headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert missing.json() == {"detail": "a known bearer token is required (Authorization: "
                                        "Bearer <token>)"}
    assert wrong_role.json() == {"detail": "this token's roles do not include analyst"}
    assert basic.status_code == 401


@pytest.mark.parametrize("path", OPEN_TO_ALL)
def test_probes_and_the_api_description_need_no_token(guarded: TestClient, path: str) -> None:
    assert guarded.get(path).status_code == 200


def test_the_cookie_counts_for_reading_only(guarded: TestClient) -> None:
    try:
        guarded.cookies.set(COOKIE, TOKENS[Role.analyst])
        read = guarded.get("/v1/stock")
        header_wins = guarded.get("/v1/stock", headers={
            "Authorization": f"Bearer {TOKENS[Role.writer]}"})
        guarded.cookies.set(COOKIE, TOKENS[Role.writer])
        posted = guarded.post("/v1/touchpoints", content=line(order("O8")),
                              headers={"Content-Type": "application/x-ndjson"})
    finally:
        guarded.cookies.clear()

    assert read.status_code == 200
    assert header_wins.status_code == 403  # the header, when given, decides
    assert posted.status_code == 401  # a form posted from elsewhere cannot write with it


def test_without_tokens_every_route_is_open(store: str) -> None:
    with TestClient(create_app(Settings(db=store))) as client:
        statuses = {path: call(client, path, body, None) for path, _, body in ROUTES}
    assert set(statuses.values()) == {200}, statuses


@pytest.mark.parametrize("host", ["evil.example", "rebind.attacker.example:8000",
                                  "127.0.0.1.nip.io"])
def test_an_open_server_answers_loopback_names_only(store: str, host: str) -> None:
    """DNS rebinding: a page whose domain now points at 127.0.0.1 must not reach an open
    server through its visitor's browser (the Host header still names that domain)."""
    with TestClient(create_app(Settings(db=store))) as client:
        refused = [call_with_host(client, path, body, host) for path, _, body in ROUTES]
        allowed = [call_with_host(client, "/v1/kpis", None, name) for name in
                   ("localhost:8000", "127.0.0.1", "[::1]:8000", "LOCALHOST.")]
    assert set(refused) == {421} and set(allowed) == {200}


def test_with_tokens_any_host_name_is_answered(guarded: TestClient) -> None:
    headers = {"Host": "journey.example.com", "Authorization": f"Bearer {TOKENS[Role.analyst]}"}
    assert guarded.get("/v1/kpis", headers=headers).status_code == 200


def call_with_host(client: TestClient, path: str, body: bytes | None, host: str) -> int:
    headers = {"Host": host, "Content-Type": "application/x-ndjson"}
    if body is None:
        return client.get(path, headers=headers).status_code
    return client.post(path, content=body, headers=headers).status_code


def test_a_token_may_hold_several_roles(store: str) -> None:
    token = new_token()
    entry = f"bi:analyst+auditor:{token_digest(token)}"
    with TestClient(create_app(Settings(db=store, tokens=entry))) as client:
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/stock", headers=bearer).status_code == 200
        assert client.get("/v1/rejects", headers=bearer).status_code == 200
        assert client.get("/metrics", headers=bearer).status_code == 200
        assert call(client, "/v1/touchpoints", line(order("O7")), token) == 403


# --- the tokens file and JOURNEY_TOKENS ------------------------------------------------------


def test_the_tokens_file_is_read_with_comments_and_several_roles(tmp_path: Path) -> None:
    token = new_token()
    path = tmp_path / "tokens.txt"
    path.write_text("# who may do what\n\n" + tokens_line("crm", [Role.writer, Role.analyst],
                                                           token_digest(token)).rstrip("\n")
                    + "  # the CRM's webhook\n")

    rules = Access.from_settings(Settings(tokens_file=str(path)))

    assert rules.roles_of(token) == {Role.writer, Role.analyst}
    assert rules.roles_of(new_token()) is None
    assert not rules.open


@pytest.mark.parametrize(("text", "problem"), [
    ("crm writer\n", "2 fields instead of 3"),
    ("crm boss " + "a" * 64 + "\n", "a role is none of writer, analyst, auditor, monitor"),
    ("crm writer jt_secret_token_pasted_by_mistake\n", "the third field is not 64 hex"),
    ("c/r/m writer " + "a" * 64 + "\n", "the name is not"),
])
def test_a_bad_line_of_the_tokens_file_is_named_never_shown(tmp_path: Path, text: str,
                                                            problem: str) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text("# ok\n" + text)

    with pytest.raises(TokensError) as refused:
        Access.from_settings(Settings(tokens_file=str(path)))

    message = str(refused.value)
    assert message.startswith(f"JOURNEY_TOKENS_FILE: {path}:2: expected NAME ROLE")
    assert problem in message
    assert "jt_secret" not in message


def test_a_named_tokens_file_without_tokens_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text("# nobody yet\n")

    with pytest.raises(TokensError, match="holds no token: add one with journey token create"):
        Access.from_settings(Settings(tokens_file=str(path)))


def test_a_bad_journey_tokens_entry_is_a_settings_error_that_hides_the_value() -> None:
    token = new_token()

    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"JOURNEY_TOKENS": f"a:writer:{'b' * 64},crm:writer:{token}"})

    assert str(refused.value).startswith("JOURNEY_TOKENS: expected NAME:ROLE")
    assert "entry 2 of 2 is not of that form; the value is not shown" in str(refused.value)
    assert token not in str(refused.value)


def test_two_tokens_of_one_name_are_refused() -> None:
    entries = f"crm:writer:{'a' * 64},crm:analyst:{'b' * 64}"

    with pytest.raises(TokensError, match="unique"):
        Access.from_settings(Settings(tokens=entries))


def test_a_line_deleted_from_the_tokens_file_revokes_its_token_while_serving(
        tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access, "RELOAD_EVERY", 0.0)
    kept, revoked = new_token(), new_token()
    path = tmp_path / "tokens.txt"
    path.write_text(tokens_line("a", [Role.analyst], token_digest(kept))
                    + tokens_line("b", [Role.analyst], token_digest(revoked)))
    with TestClient(create_app(Settings(db=store, tokens_file=str(path)))) as client:
        def status(token: str) -> int:
            return client.get("/v1/kpis", headers={"Authorization": f"Bearer {token}"}
                              ).status_code

        assert (status(kept), status(revoked)) == (200, 200)
        time.sleep(0.01)  # a new modification time
        path.write_text(tokens_line("a", [Role.analyst], token_digest(kept)))
        assert (status(kept), status(revoked)) == (200, 401)
        path.write_text("broken\n")  # a bad edit keeps the tokens in force
        assert status(kept) == 200
        path.unlink()  # a deleted file revokes its tokens: closed, never open
        assert (status(kept), client.get("/v1/kpis").status_code) == (401, 401)
