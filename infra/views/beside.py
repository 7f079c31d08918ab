"""The views folded in a process of their own while a long ingest decides the next batches.

An ingest returns with every view current. Folding the views after the last batch would put
the fold's whole cost after the decisions; a ``ViewsBeside`` process follows the log instead,
on the second core, so when the ingest's own catch-up runs only the last batches are left.

Nothing here is needed for correctness: the follower is an ordinary projector (each batch
of view rows commits with its tracking positions, and two projectors never fold the same
events), so whatever it did not fold, the ingest's catch-up folds. It is quiet and never
fails the ingest: if it dies, or a view refuses an event, the catch-up meets the same event
and reports it as it always has.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from contextlib import suppress
from multiprocessing.synchronize import Event
from typing import Any

#: An ingest starts a follower at once for a file of at least this many bytes (~10,000
#: lines), else once it has decided ``START_AFTER_LINES`` (standard input): a process costs
#: about half a second of CPU to start, worth it only for a long ingest.
START_FROM_BYTES = 2 << 20
START_AFTER_LINES = 10_000
#: Events the follower folds per transaction on SQLite, at most: SQLite's write lock is
#: held while a batch is folded, and the ingest waits for it before each of its own
#: (PostgreSQL's views have a lock of their own: there, the views' batch size).
SQLITE_BATCH = 1000


class ViewsBeside:
    """A follower process of the views, started by ``start()`` and stopped by ``stop()``
    (also on leaving the ``with`` block); ``stop`` lets its current batch commit. Start it
    once the view tables exist (a ``Projector`` made them): it does not make them."""

    def __init__(self, env: dict[str, str], view_batch_size: int) -> None:
        self.env = env
        self.view_batch_size = view_batch_size
        self.process: Any = None
        self.stopping: Event | None = None

    @property
    def started(self) -> bool:
        return self.process is not None

    def start(self) -> None:
        if self.process is not None:
            return
        context = multiprocessing.get_context("spawn")  # a fork would share our connections
        self.stopping = context.Event()
        self.process = context.Process(
            target=_follow, name="journey-views-beside", daemon=True,
            args=(self.env, self.view_batch_size, self.stopping, os.getpid()))
        # Ctrl-C reaches the whole process group: the child starts with SIGINT blocked (the
        # mask survives exec) and ignores it before unblocking, so it never prints one.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None:
            return
        assert self.stopping is not None
        self.stopping.set()
        self.process.join(timeout)
        if self.process.is_alive():  # stuck (a lock held elsewhere): its batch rolls back
            self.process.kill()
            self.process.join()
        self.process = None

    def __enter__(self) -> ViewsBeside:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Stopped(Exception):
    pass


def _follow(env: dict[str, str], batch_size: int, stopping: Event, parent: int) -> None:
    import logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    logging.disable(logging.CRITICAL)  # the ingest reports what the views meet, not we
    os.environ.pop("JOURNEY_FAILPOINTS", None)  # a crash test means the ingest's process
    from journey.infra.store import JourneyApplication
    from journey.infra.views.projector import Projector

    def stop() -> bool:
        return stopping.is_set() or os.getppid() != parent

    def between_batches(_done: int, _position: int) -> None:
        if stop():  # the batch before has committed: nothing is left half done
            raise _Stopped

    app = None
    # Stopped, or a failure the ingest's own catch-up meets and reports: quiet here.
    with suppress(Exception):
        try:
            app = JourneyApplication(env=env)
            projector = Projector(app, batch_size, prepare=False)  # the ingest's tables
            if not projector.db.postgres:  # SQLite: one write lock for the log and the views
                projector.batch_size = min(batch_size, SQLITE_BATCH)
            while not stop():
                # Whether there is anything to fold is read without the write lock (``lag``),
                # which the ingest needs for each of its batches.
                behind = max(projector.lag().values()) > 0
                if not behind or projector.catch_up(between_batches) == 0:
                    stopping.wait(0.05)
        finally:
            if app is not None:
                app.close()
