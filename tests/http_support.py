"""For the tests of ``journey serve``: a real server process on a free loopback port (for the
tests that talk HTTP to it as a client would), and the module fixtures of the in-process
tests (a store filled once per module, the app on it behind Starlette's ``TestClient``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from benchmarks.http import free_port
from benchmarks.http import served as running
from journey.infra.http.server import create_app
from journey.infra.settings import Settings

__all__ = ["client_fixture", "free_port", "served", "store_fixture"]


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


@contextmanager
def served(db: str, cwd: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 30.0) -> Iterator[str]:
    """``journey --db DB serve --port P ARGS...`` running until the block ends (the
    benchmarks' runner, ``benchmarks.http.served``); yields its base URL
    (``http://127.0.0.1:P``) once it answers. Its output is in ``cwd/serve-P.log``."""
    with running(db, cwd, *args, env=env, timeout=timeout) as server:
        yield server.base
