"""A process of its own that reads the log a batch ahead of its consumer.

Work that costs CPU on every event (decoding, Avro encoding, folding) runs there, beside
the consumer's own work (kafka-python's ``send``, the view writes), instead of sharing one
interpreter lock with it. The relay's encoder and the rebuild's fold are such feeds.

Whatever goes wrong in the child crosses to the parent as one message (``receive`` raises a
``JourneyError`` naming it, the traceback goes to the parent's debug log): the child itself
prints nothing, so a command ends with its one error line, never a worker's traceback.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from typing import Any

import structlog

from journey.domain.errors import JourneyError
from journey.infra.store import JourneyApplication, LogEntry, log_wake_ups

#: ``make(app)`` gives the function the feed applies to each batch it reads; it must be
#: picklable (a module-level function or class, or a ``functools.partial`` of one).
Make = Callable[[JourneyApplication], Callable[[list[LogEntry]], Any]]

log = structlog.get_logger("journey.feed")


class LogFeed:
    """Reads the log after ``start`` in log order and hands over, one batch at a time,
    what ``make(app)`` makes of each batch; then ``None`` (one-shot) or, with ``follow``,
    keeps reading as the log grows.

    The child is started with ``spawn`` (a forked child would share the parent's
    database connections) and ends with its parent. A thread here receives up to
    ``read_ahead`` batches ahead, so neither side waits for the other to reach the pipe.
    ``cycles=False`` turns the child's cyclic garbage collector off: a fold's state is
    millions of long-lived objects and no cycles, which the collector would otherwise
    rescan again and again (a quarter of a rebuild's time).
    """

    def __init__(self, what: str, env: dict[str, str], start: int, batch_size: int,
                 make: Make, *, follow: bool = False, cycles: bool = True,
                 read_ahead: int = 2) -> None:
        self.what = what
        context = multiprocessing.get_context("spawn")
        self.connection, child_end = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_read_log, name=f"journey-{what.replace(' ', '-')}",
            args=(env, start, batch_size, make, follow, cycles, child_end), daemon=True)
        self.process.start()
        child_end.close()
        self.received: queue.Queue[Any] = queue.Queue(maxsize=read_ahead)
        self.receiver = threading.Thread(target=self._receive, daemon=True,
                                         name=f"{self.process.name}-receiver")
        self.receiver.start()
        self.drained = False

    def _receive(self) -> None:
        while True:
            try:
                item = self.connection.recv()
            except (EOFError, OSError):
                item = _Failed(None)  # it died (or we stopped it)
            self.received.put(item)
            if item is None or isinstance(item, _Failed):
                return

    def receive(self, wait: float | None = None) -> Any:
        """The next batch's result; None once all is read (one-shot), or if none came
        within ``wait`` seconds (``None``: wait as long as it takes)."""
        if self.drained:
            return None
        try:
            item = self.received.get(timeout=wait)
        except queue.Empty:
            return None
        if isinstance(item, _Failed):
            self.drained = True
            if item.message is None:
                raise JourneyError(f"the {self.what} process died (exit code "
                                   f"{self._exit_code()})")
            if item.trace:
                log.debug("feed.failed", feed=self.what, error=item.message,
                          traceback=item.trace)
            raise JourneyError(f"the {self.what} process failed: {item.message}")
        if item is None:
            self.drained = True
        return item

    def _exit_code(self) -> int | None:
        self.process.join(timeout=5)
        return self.process.exitcode

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=10)  # its end of the pipe closes: the receiver returns
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        while self.receiver.is_alive():
            with suppress(queue.Empty):  # make room for the receiver's last item
                self.received.get(timeout=0.1)
        self.connection.close()

    def __enter__(self) -> LogFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def cycles_uncollected() -> Iterator[None]:
    """The cyclic garbage collector off for a while (a fold's state: see ``LogFeed``)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Failed:
    """The child's error, as text (an exception object may not pickle): ``message`` is one
    line, ``trace`` the traceback for the debug log; ``None``: the child died without a word."""

    def __init__(self, message: str | None, trace: str | None = None) -> None:
        self.message = message
        self.trace = trace


def _one_line(exc: BaseException) -> str:
    """``Type: message`` for a foreign error, the message alone for one of ours."""
    text = " ".join(str(exc).split())
    if isinstance(exc, JourneyError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _read_log(env: dict[str, str], start: int, batch_size: int, make: Make, follow: bool,
              cycles: bool, connection: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    if not cycles:
        gc.disable()  # for the life of this process
    parent = os.getppid()
    app: JourneyApplication | None = None
    crashed = False
    try:
        app = JourneyApplication(env=env)
        transform, recorder, position = make(app), app.journey_recorder, start
        with log_wake_ups(app) as wait:
            while os.getppid() == parent:
                with recorder.read_rows() as c:
                    batch = recorder.read_log(c, position, batch_size)
                if not batch:
                    if not follow:
                        connection.send(None)
                        return
                    wait(0.5)
                    continue
                position = batch[-1].id
                connection.send(transform(batch))
    except (BrokenPipeError, EOFError):
        pass  # the parent went away
    except Exception as exc:  # crosses to the parent as one line; nothing printed here
        with suppress(OSError, EOFError):  # BrokenPipeError: the parent went away
            connection.send(_Failed(_one_line(exc), traceback.format_exc()))
        # Not one of ours (a database gone?): the parent sees a non-zero exit code as well.
        # SystemExit ends the process without the traceback multiprocessing would print.
        crashed = not isinstance(exc, JourneyError)
    finally:
        if app is not None:
            with suppress(Exception):  # everything was handed over; closing is tidying up
                app.close()
    if crashed:
        raise SystemExit(1)
