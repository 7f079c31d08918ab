"""Bearer tokens and their roles: who may do what on ``journey serve``.

A token is 32 random bytes (``new_token``: ``jt_`` and 43 URL-safe characters). The server
keeps only its SHA-256 (``token_digest``), in a tokens file (``JOURNEY_TOKENS_FILE``, one
token per line: ``NAME ROLE[,ROLE...] SHA256``; ``#`` starts a comment) and/or inline
(``JOURNEY_TOKENS``: ``NAME:ROLE[+ROLE...]:SHA256`` entries separated by commas).
``journey token create`` makes one and prints it once.

Why a plain SHA-256 and not a password hash (bcrypt, argon2): those are slow on purpose, to
protect secrets people choose, which can be guessed. A token of 256 random bits cannot be
guessed, so its hash cannot be reversed by trying candidates either; and a fast hash keeps
checking a token within microseconds on every request.

Roles (a token may hold several; none implies another):

==========  ==========================================================================
writer      the intake, ``POST /v1/touchpoints``
analyst     the views: timeline, customers, errors, stock, kpis, invoices; the dashboard
auditor     history, the rejects with their raw lines, ``audit verify``, the export
monitor     ``/metrics`` only (a scraper's token reads counts, never an answer)
==========  ==========================================================================

Analysts may read ``/metrics`` too. An auditor who also needs the views gets a token with
both roles (``analyst,auditor``): least privilege, and the role matrix stays plain.

With no token configured the server is open to every request, and ``journey serve``
refuses to listen beyond loopback (a developer's laptop).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

import structlog
from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from journey.infra.settings import (
    TOKEN_NAME,
    VARIABLES,
    Settings,
    SettingsError,
    token_entries,
)

log = structlog.get_logger("journey.http")

#: The cookie the dashboard's login sets (read for GET and HEAD only: a form posted from
#: another site cannot write with it).
COOKIE = "journey_token"
#: Seconds between looks at the tokens file for changes (a removed line revokes its token).
RELOAD_EVERY = 2.0


class Role(StrEnum):
    """What a token may do (see the module's table)."""

    writer = "writer"
    analyst = "analyst"
    auditor = "auditor"
    monitor = "monitor"


class TokensError(SettingsError):
    """A tokens file that cannot be read or holds a line not of the form (exit 2)."""


@dataclass(frozen=True, slots=True)
class Token:
    """One configured token: its name (for logs), its roles and the SHA-256 of its text."""

    name: str
    roles: frozenset[Role]
    digest: bytes


def new_token() -> str:
    """A fresh token: ``jt_`` (easy for secret scanners to spot) and 256 random bits."""
    return "jt_" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The SHA-256 of a token, in hex: what is kept at rest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_line(name: str, roles: Iterable[Role], digest: str) -> str:
    """A tokens file's line for one token."""
    return f"{name} {','.join(roles)} {digest}\n"


def read_tokens_file(path: str) -> list[Token]:
    """The tokens of a tokens file; a line not of the form raises ``TokensError`` naming the
    file and line and what is wrong (never the line's text: it may hold a pasted token)."""
    variable = VARIABLES["tokens_file"][0]
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = getattr(exc, "strerror", None) or str(exc)
        raise TokensError(f"{variable}: cannot read the tokens file {path}: {problem}") from None
    tokens = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        problem = _line_problem(fields)
        if problem:
            raise TokensError(f"{variable}: {path}:{number}: expected NAME ROLE[,ROLE...] "
                              f"SHA256 (journey token create writes such lines): {problem}")
        name, roles, digest = fields
        tokens.append(Token(name, frozenset(Role(r) for r in roles.lower().split(",")),
                            bytes.fromhex(digest)))
    return tokens


def _line_problem(fields: Sequence[str]) -> str | None:
    if len(fields) != 3:
        return f"{len(fields)} field{'' if len(fields) == 1 else 's'} instead of 3"
    name, roles, digest = fields
    if not TOKEN_NAME.fullmatch(name):
        return "the name is not 1 to 64 characters of A-Z a-z 0-9 . _ -"
    if any(role not in Role.__members__ for role in roles.lower().split(",")):
        return "a role is none of " + ", ".join(Role)
    if len(digest) != 64 or any(ch not in "0123456789abcdefABCDEF" for ch in digest):
        return "the third field is not 64 hex digits (a token's SHA-256)"
    return None


class Access:
    """The configured tokens (hashed). No tokens at all: the server is open."""

    def __init__(self, tokens: Sequence[Token] = (), file: str | None = None,
                 inline: Sequence[Token] = ()) -> None:
        self._tokens = tuple(tokens) + tuple(inline)
        self._inline = tuple(inline)
        self._file = file
        self._file_state = _state(file)
        self._checked_at = time.monotonic()
        self._reloading = threading.Lock()
        #: No token configured: every request passes (loopback only, see ``journey serve``).
        self.open = file is None and not self._tokens
        _check_unique(self._tokens)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The tokens of ``JOURNEY_TOKENS_FILE`` and ``JOURNEY_TOKENS``. A tokens file named
        but holding none (and none inline) is refused: whoever named it wanted a guard."""
        inline = [Token(name, frozenset(Role(r) for r in roles), bytes.fromhex(digest))
                  for name, roles, digest in token_entries(settings.tokens or "")
                  ] if settings.tokens else []
        from_file = read_tokens_file(settings.tokens_file) if settings.tokens_file else []
        if settings.tokens_file and not from_file and not inline:
            raise TokensError(f"{VARIABLES['tokens_file'][0]}: {settings.tokens_file} holds no "
                              "token: add one with journey token create NAME --role ROLE "
                              f"--file {settings.tokens_file}")
        return cls(from_file, settings.tokens_file, inline)

    @property
    def count(self) -> int:
        """How many tokens are configured."""
        return len(self._tokens)

    def identify(self, presented: str) -> Token | None:
        """The configured token ``presented`` is, if any. Its hash is compared with every
        stored hash, in constant time and without stopping at a match, so the time taken
        says nothing about which stored hash (or how much of one) matched."""
        self._reload_if_changed()
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found = None
        for token in self._tokens:
            if hmac.compare_digest(digest, token.digest):
                found = token
        return found

    def roles_of(self, presented: str) -> frozenset[Role] | None:
        """The roles of a token (the dashboard's login checks one); ``None``: unknown."""
        token = self.identify(presented)
        return None if token is None else token.roles

    def verdict(self, request: Request, *roles: Role) -> int:
        """200 when the request may go on (its token holds one of ``roles``), 401 when it
        has no known token, 403 when the token lacks the roles. Never raises."""
        if self.open:
            return 200
        presented = presented_token(request)
        token = None if presented is None else self.identify(presented)
        if token is None:
            return 401
        request.state.token_name = token.name
        return 200 if token.roles & set(roles) else 403

    def _reload_if_changed(self) -> None:
        """A tokens file edited while serving takes effect within ``RELOAD_EVERY`` seconds
        (a deleted line revokes its token, a deleted file all of its tokens); a broken edit
        keeps the tokens in force."""
        if self._file is None or time.monotonic() - self._checked_at < RELOAD_EVERY:
            return
        if not self._reloading.acquire(blocking=False):
            return  # another request is looking
        try:
            self._checked_at = time.monotonic()
            state = _state(self._file)
            if state == self._file_state:
                return
            try:
                if state is None:  # deleted (or unreadable): its tokens are revoked, the
                    tokens = self._inline  # server stays closed (``open`` never changes)
                    log.warning("http.tokens_file_gone", tokens=len(tokens))
                else:
                    tokens = tuple(read_tokens_file(self._file)) + self._inline
                _check_unique(tokens)
            except TokensError as exc:
                log.error("http.tokens_not_reloaded", error=str(exc))
                return
            self._tokens, self._file_state = tokens, state
            log.info("http.tokens_reloaded", tokens=len(tokens))
        finally:
            self._reloading.release()


def _state(path: str | None) -> tuple[int, int] | None:
    try:
        found = os.stat(path) if path else None
    except OSError:
        return None
    return None if found is None else (found.st_mtime_ns, found.st_size)


def _check_unique(tokens: Sequence[Token]) -> None:
    names = [token.name for token in tokens]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise TokensError(f"token names must be unique (logs name the token): {', '.join(twice)} "
                          "appears more than once in JOURNEY_TOKENS_FILE / JOURNEY_TOKENS")
    if len({token.digest for token in tokens}) < len(tokens):
        raise TokensError("two configured tokens have the same SHA-256: each token is "
                          "configured once, under one name")


def presented_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer``, else (GET and HEAD only) of the cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return value.strip() or None if scheme.lower() == "bearer" else None
    if request.method in ("GET", "HEAD"):
        return request.cookies.get(COOKIE) or None
    return None


_bearer = HTTPBearer(auto_error=False, description="a token of journey token create")

_WHY = {401: "a known bearer token is required (Authorization: Bearer <token>)",
        403: "this token's roles do not include {roles}"}


def check(request: Request, *roles: Role) -> None:
    """Raise the 401 or 403 (``HTTPException``) unless the request's token holds one of
    ``roles``; pass when it does or when the server is open."""
    status = request.app.state.engine.access.verdict(request, *roles)
    if status == 200:
        return
    route = getattr(request.scope.get("route"), "path", "?")
    log.info("http.refused", route=route, status=status,
             token=getattr(request.state, "token_name", None))
    raise HTTPException(status, _WHY[status].format(roles=" or ".join(roles)),
                        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


#: The OpenAPI of a route guarded by ``check`` rather than ``require`` (it names the scheme
#: ``require`` declares).
BEARER: dict[str, Any] = {"security": [{"HTTPBearer": []}]}


def require(*roles: Role) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency: the request's token must hold one of ``roles`` (401 without a
    known token, with ``WWW-Authenticate: Bearer``; 403 with a token lacking them). It also
    marks the route with the bearer scheme in the OpenAPI document."""

    async def guard(request: Request, _: Annotated[
            HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> None:
        check(request, *roles)

    return guard
