"""``journey serve`` (the engine on the network, ``journey.infra.http``) and ``journey token
create`` (a bearer token for it).

The server's libraries (FastAPI, uvicorn) are imported when a command runs, so the other
commands start without them. ``serve`` checks everything it can before it listens (the
tokens, the address, the store and its views), so a mistake is one line and exit 2 (or 1,
75 as for every command) rather than a server that dies on its first request. Stopping:
SIGTERM (a service manager) finishes the requests in flight and exits 0; Ctrl-C does the
same and exits 130 with one line, as every command does when interrupted.
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from journey.domain.errors import JourneyError, UsageError
from journey.infra.cli import options
from journey.infra.cli.app import DbOption, JsonOption, app, emit_json, log, state, store
from journey.infra.cli.interrupts import on_interrupt
from journey.infra.settings import TOKEN_NAME, TOKEN_ROLES, got

if TYPE_CHECKING:
    from journey.infra.http.access import Access
    from journey.infra.settings import Settings


def _port(value: Any) -> int:
    parsed = options.count("--port", 0, "expected a port from 0 to 65535")(value)
    if parsed > 65_535:
        raise UsageError(f"--port: expected a port from 0 to 65535 (got {got(value)})")
    return parsed


@app.command(epilog="Example: journey serve --port 8000, then open http://127.0.0.1:8000/ ; "
             "beyond this machine: JOURNEY_TOKENS_FILE=tokens.txt journey serve --host 0.0.0.0")
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(
        parser=options.text("--host", "an address or host name",
                            r"[A-Za-z0-9.:%_-]{1,253}"),
        help="the address to listen on; beyond loopback only with tokens configured "
        "(JOURNEY_TOKENS_FILE or JOURNEY_TOKENS)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(parser=options.shown(_port, "int"),
                                      help="the port (0: any free one)")] = 8000,
) -> None:
    """Serve the intake, the queries, the dashboard and /metrics over HTTP."""
    from journey.infra.http.access import Access
    from journey.infra.views.live import view_queries

    settings = state.settings.with_(db=db)
    access = Access.from_settings(settings)  # a bad tokens file: one line, exit 2
    address = _address(host, port)
    if access.open and not _loopback(address):
        raise UsageError(f"--host: listening beyond loopback needs tokens: set "
                         "JOURNEY_TOKENS_FILE (journey token create NAME --role ROLE --file "
                         f"tokens.txt makes one) or JOURNEY_TOKENS (got {got(host)})")
    with store(db, create=True) as application:
        with view_queries(application):  # the views' tables made now, not on a request
            pass
        listening = _listen(address, host, port)
        with on_interrupt(lambda: "the server stopped after answering the requests in "
                          "flight; every request it answered is stored"):
            _run(settings, application, access, listening)
    log.info("http.stopped")


def _address(host: str, port: int) -> tuple[Any, ...]:
    """The socket address ``host`` names (a host name: its first address)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UsageError(f"--host: no such address or host name (got {got(host)})") from None
    family, _, _, _, address = found[0]
    return (family, *address)


def _loopback(address: tuple[Any, ...]) -> bool:
    try:
        return ipaddress.ip_address(str(address[1]).split("%")[0]).is_loopback
    except ValueError:
        return False


def _listen(address: tuple[Any, ...], host: str, port: int) -> socket.socket:
    """A socket bound to ``address`` (uvicorn listens on it): a port in use is one line."""
    family, *where = address
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(tuple(where))
    except OSError as exc:
        sock.close()
        raise JourneyError(f"cannot listen on {host} port {port}: "
                           f"{exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _run(settings: Settings, application: Any, access: Access, sock: socket.socket
         ) -> None:
    """uvicorn on ``sock`` until SIGTERM (return) or Ctrl-C (``KeyboardInterrupt``)."""
    import uvicorn

    from journey.infra.http.server import create_app
    from journey.infra.store import redact

    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    guard = ("open to anyone who can reach it (no tokens configured; loopback only)"
             if access.open else f"bearer tokens ({access.count} configured)")

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                sys.stderr.write(
                    f"journey: serving {redact(settings.db)} on {base}/\n"
                    f"  dashboard  {base}/\n  API docs   {base}/docs\n"
                    f"  metrics    {base}/metrics\n  access     {guard}\n"
                    "Ctrl-C stops the server.\n")
                sys.stderr.flush()
                log.info("http.listening", url=base, tokens=access.count)

    _route_uvicorn_logs()
    config = uvicorn.Config(create_app(settings, access, application, hosts=(host,)),
                            log_config=None, access_log=False, server_header=False,
                            lifespan="on", timeout_graceful_shutdown=10)
    # uvicorn stops on SIGTERM and SIGINT, then raises the signal again with the handler
    # found before: SIGTERM then does nothing (a clean stop, exit 0); SIGINT raises
    # KeyboardInterrupt (exit 130 and one line, as for every command).
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    # Everything imported and built so far lives as long as the server: out of the garbage
    # collector's sight, so its full collections walk only what requests leave behind
    # (measured on a 1M-event store: pauses of 50-120 ms became 5-10 ms).
    gc.collect()
    gc.freeze()
    try:
        Server(config).run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()


class _ToStructlog(logging.Handler):
    """uvicorn's own warnings and errors, as structured log lines like ours."""

    def emit(self, record: logging.LogRecord) -> None:
        method = log.error if record.levelno >= logging.ERROR else log.warning
        method("uvicorn", message=record.getMessage())


def _route_uvicorn_logs() -> None:
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = [_ToStructlog()]
        logger.setLevel(logging.WARNING)
        logger.propagate = False


token_app = typer.Typer(help="Bearer tokens for journey serve: make one.",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create", epilog="Example: journey token create crm --role writer "
                   "--file tokens.txt; journey token create bi --role analyst --role auditor")
def token_create(
    name: Annotated[str, typer.Argument(
        metavar="NAME", parser=options.text("NAME", "1 to 64 characters of A-Z a-z 0-9 . _ -",
                            TOKEN_NAME.pattern),
        help="what logs call this token's holder (e.g. crm, billing, grafana)")],
    role: Annotated[list[str], typer.Option(
        "--role", parser=options.choice("--role", TOKEN_ROLES),
        help="writer (intake), analyst (views, dashboard), auditor (history, rejects, audit, "
        "export) or monitor (/metrics); repeatable")],
    file: Annotated[str | None, typer.Option(
        "--file", help="append the token's hash to this tokens file (created 0600; env "
        "JOURNEY_TOKENS_FILE); without one, print the JOURNEY_TOKENS entry")] = None,
    as_json: JsonOption = False,
) -> None:
    """Make a random token: its hash goes to the tokens file (or a JOURNEY_TOKENS entry is
    printed); the token itself is printed once, on stdout. The server keeps only hashes."""
    from journey.infra.http.access import Role, new_token, token_digest, tokens_line

    roles = [Role(r) for r in dict.fromkeys(role)]
    token = new_token()
    digest = token_digest(token)
    path = file or state.settings.tokens_file
    document: dict[str, Any] = {"name": name, "roles": list(roles), "token": token,
                                "sha256": digest}
    if path:
        _append(path, name, tokens_line(name, roles, digest))
        document["file"] = path
        how = (f"token {name} ({', '.join(roles)}) added to {path}: journey serve with "
               f"JOURNEY_TOKENS_FILE={path} accepts it (a running server within seconds)")
    else:
        document["entry"] = f"{name}:{'+'.join(roles)}:{digest}"
        how = (f"token {name} ({', '.join(roles)}): add this entry to JOURNEY_TOKENS "
               f"(comma-separated): {document['entry']}")
    if as_json or state.json:
        emit_json(document)
        return
    sys.stderr.write(f"journey: {how}\njourney: the token follows on stdout, shown this once: "
                     "keep it secret (send it as Authorization: Bearer <token>)\n")
    sys.stderr.flush()
    sys.stdout.write(token + "\n")


def _append(path: str, name: str, line: str) -> None:
    """Add ``line`` to the tokens file (made 0600), refusing a name it has already."""
    from journey.infra.http.access import read_tokens_file

    target = Path(path)
    if target.exists():
        if any(token.name == name for token in read_tokens_file(path)):
            raise JourneyError(f"{path} has a token named {name} already: choose another name "
                               "(to replace it, delete its line first: that revokes it)")
        if target.stat().st_size and not target.read_bytes().endswith(b"\n"):
            line = "\n" + line
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as exc:
        raise JourneyError(f"cannot write the tokens file {path}: "
                           f"{exc.strerror or exc}") from None
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(line)
