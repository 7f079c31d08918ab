"""A real ``journey serve`` process on a free loopback port, for the tests that talk HTTP
to the server as a client would."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support import JOURNEY


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
