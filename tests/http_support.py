"""For the tests of ``journey serve``: a real server process on a free loopback port (for the
tests that talk HTTP to it as a client would), and the module fixtures of the in-process
tests (a store filled once per module, the app on it behind Starlette's ``TestClient``)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from journey.infra.http.server import create_app
from journey.infra.settings import Settings
from tests.support import JOURNEY


def store_fixture(name: str, build: Callable[[str], object]) -> Any:
    """A module's ``store`` fixture: the URL of a SQLite store in a directory of its own
    (named after ``name``), filled once for the module by ``build(url)``."""

    @pytest.fixture(scope="module", name="store")
    def store(tmp_path_factory: pytest.TempPathFactory) -> str:
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'journey.db'}"
        build(url)
        return url

    return store


def client_fixture(**settings: Any) -> Any:
    """A module fixture: the app on the module's ``store`` (with ``settings``, e.g.
    ``tokens=...``; none: an open server), in process, its start-up and shutdown run."""

    @pytest.fixture(scope="module")
    def client(store: str) -> Iterator[TestClient]:
        with TestClient(create_app(Settings(db=store, **settings))) as opened:
            yield opened

    return client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def served(db: str, cwd: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 30.0) -> Iterator[str]:
    """``journey --db DB serve --port P ARGS...`` running until the block ends; yields its
    base URL (``http://127.0.0.1:P``) once it answers. Its stderr is in ``cwd/serve.log``."""
    port = free_port()
    log_path = cwd / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [JOURNEY, "--db", db, "serve", "--port", str(port), *args], cwd=cwd,
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "JOURNEY_LOG_FORMAT": "json", **(env or {})})
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"journey serve exited {process.returncode}: "
                                         f"{log_path.read_text(errors='replace')}")
                try:
                    httpx.get(base + "/healthz", timeout=1.0)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise AssertionError("journey serve did not answer within "
                                             f"{timeout} s: {log_path.read_text()}") from None
                    time.sleep(0.05)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
