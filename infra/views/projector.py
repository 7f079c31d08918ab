"""Keeping the views current: catch-up, follow, rebuild. Exactly-once by construction.

Every batch of events is folded in memory and written together with each projection's
tracking position (eventsourcing's ``tracking`` table) in ONE transaction, which also
holds the store's write lock (SQLite) or a per-store advisory lock (PostgreSQL) so two
projectors never fold the same events. A kill at any point leaves either the batch
and its position, or neither: a restart resumes from the position, never double-counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog

from journey.domain.errors import JourneyError
from journey.infra.failpoints import failpoint
from journey.infra.store import JourneyApplication, LogEntry, log_wake_ups
from journey.infra.store.errors import (
    OPERATIONAL_KINDS,
    Backoff,
    LeaseHeld,
    StoreError,
    discard_broken_connections,
    operational_failure,
)
from journey.infra.store.urls import store_url
from journey.infra.views.database import ViewDb
from journey.infra.views.decoder import ViewDecoder
from journey.infra.views.feed import LogFeed, cycles_uncollected
from journey.infra.views.live import view_queries as view_queries  # its importers' old home
from journey.infra.views.swap import TRACKING_PREFIX, swap_tables
from journey.projections.tables import PROJECTIONS, Tables
from journey.projections.views import (
    UPGRADES,
    create_statements,
    fold_and_write,
    fold_events,
    memory_folds,
    write_all,
)

log = structlog.get_logger("journey.views")


class ViewFailed(JourneyError):
    """The views cannot take an event of the log: they stop just before it."""

    def __init__(self, entry: LogEntry, cause: BaseException) -> None:
        self.position = entry.id
        self.cause = cause
        super().__init__(
            f"the views cannot take event {entry.id} ({entry.topic}, aggregate "
            f"{entry.originator_id}): {type(cause).__name__}: {cause}; they are current up "
            "to just before it and the log keeps everything; once the cause is fixed, "
            "journey project resumes from there"
        )


class _BatchFailed(Exception):
    """A batch of the log the views could not take (rolled back)."""

    def __init__(self, batch: list[LogEntry], cause: BaseException) -> None:
        super().__init__(str(cause))
        self.batch = batch
        self.cause = cause

#: A rebuild's lease is this + its suffix: one rebuild per store and generation at a time.
REBUILD_LEASE = "rebuild"
#: The generations rebuilds make beside the live tables (``rebuild``, ``audit replay``).
SCRATCH_SUFFIXES = ("_next", "_audit")


@dataclass(slots=True)
class FoldedBatch:
    """A batch of the log folded from scratch: the rows it adds to fresh view tables."""

    last: int  # notification id of the batch's last event
    count: int
    writes: dict[str, Any]  # per projection, its fold's writes


class LogFolder:
    """Folds the log from its start for a rebuild: the whole state in memory (the fresh
    tables start empty), each batch's writes as plain rows (picklable: it may run in a
    worker process, see ``LogFeed``)."""

    def __init__(self, app: JourneyApplication, names: Iterable[str]) -> None:
        self.decode = ViewDecoder(app)
        self.folds = memory_folds(names)

    def __call__(self, batch: list[LogEntry]) -> FoldedBatch:
        decode = self.decode
        fold_events(((entry.id, decode(entry)) for entry in batch), self.folds)
        return FoldedBatch(batch[-1].id, len(batch),
                           {name: fold.writes() for name, fold in self.folds.items()})


# --- the runner -----------------------------------------------------------------------------------


class Projector:
    """Catches the views up with the log, follows it, and rebuilds them beside the live ones."""

    def __init__(self, app: JourneyApplication, batch_size: int = 5000,
                 worker_min_events: int = 50_000, *, prepare: bool = True) -> None:
        """``prepare``: make the tables a newer engine adds and sweep a killed rebuild's
        (``False``: another projector of this store has, e.g. the ingest that starts a
        ``ViewsBeside``; making them takes the writer lock, which an ingest holds)."""
        self.app = app
        self.db = ViewDb(app)
        self.batch_size = batch_size
        #: A rebuild of a log at least this long folds in a worker process.
        self.worker_min_events = worker_min_events
        self.decode = ViewDecoder(app)
        if prepare:
            self.ensure_tables()
            self._sweep()

    def ensure_tables(self, suffix: str = "", *, tables: bool = True, indexes: bool = True,
                      names: Iterable[str] = PROJECTIONS) -> None:
        """Create a generation's tables and/or indexes; a projection whose first table
        exists already is left alone (its indexes were made with it)."""
        if tables and not suffix:
            with self.db.recorder.writer_lock():  # concurrent creation: see the SQLite recorder
                self.db.tracking.create_table()
        t = self.db.tables(suffix)
        with self.db.transaction() as (c, _):
            for name, statements in create_statements(t, uuid.uuid4().hex[:8]).items():
                if name not in names:
                    continue
                if tables and self.db.table_exists(c, PROJECTIONS[name][0] + suffix):
                    self._upgrade(c, t, name, suffix)
                    continue
                for statement in statements:
                    is_index = statement.startswith("CREATE INDEX")
                    if (is_index and indexes) or (not is_index and tables):
                        c.execute(statement)

    def _upgrade(self, c: Any, t: Tables, name: str, suffix: str) -> None:
        """Tables a projection made before it gained columns: add them (and fill them)."""
        for upgrade in UPGRADES[name]:
            if not set(upgrade.columns) <= self.db.columns(c, upgrade.table + suffix):
                upgrade.add(self.db, c, t)
                log.info("views.migrated", table=upgrade.table, added=list(upgrade.columns))

    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Fold every event not yet in the views; returns how many events were read.

        If the views cannot take an event (a bug, or data no view column holds), the
        batch is rolled back and taken again one event at a time, so the views stop just
        before that event and ``ViewFailed`` names it; the log itself is untouched, and a
        later catch-up (``journey project``) resumes from there once the cause is fixed.
        A database that is gone or full is not the views' fault: that error propagates.
        """
        done, limit, careful = 0, self.batch_size, 0
        while True:
            try:
                batch = self._advance(limit)
            except _BatchFailed as failed:
                if limit > 1:  # find the event: the same events again, one at a time
                    limit, careful = 1, len(failed.batch)
                    continue
                raise ViewFailed(failed.batch[0], failed.cause) from failed.cause
            if not batch:
                return done
            careful -= len(batch)
            if careful <= 0:
                limit = self.batch_size
            done += len(batch)
            if progress:
                progress(done, batch[-1].id)

    def _advance(self, limit: int) -> list[LogEntry]:
        """Fold and write the next ``limit`` events with the views' positions, in one
        transaction; returns them (none: the views are current)."""
        batch: list[LogEntry] = []
        try:
            # A batch allocates ~20 objects an event and frees them all at its end: the
            # cyclic collector would only rescan them (a tenth of a catch-up's CPU).
            with cycles_uncollected(), self.db.transaction() as (c, raw):
                t = self.db.tables()
                positions = {name: self.db.position(c, TRACKING_PREFIX + name)
                             for name in PROJECTIONS}
                start = min(positions.values())
                batch = self.db.recorder.read_log(c, start, limit)
                if not batch:
                    return batch
                failpoint("views.before_commit")
                fold_and_write(self.db, c, t, ((n.id, self.decode(n)) for n in batch),
                               after=positions)
                for name in PROJECTIONS:
                    if batch[-1].id > positions[name]:
                        self.db.track(raw, TRACKING_PREFIX + name, batch[-1].id)
        except Exception as exc:
            if not batch or operational_failure(exc) is not None:
                raise  # the database is gone, locked or full: not the views' fault
            raise _BatchFailed(batch, exc) from exc
        failpoint("views.after_commit")
        return batch

    def follow(self, interval: float = 0.5, stop: Callable[[], bool] = lambda: False,
               backoff: Backoff | None = None) -> None:
        """Keep the views current while other processes write.

        PostgreSQL wakes us through the recorder's LISTEN/NOTIFY channel (``interval`` is
        then only a safety net); SQLite has no notifications, so the log is polled.

        When the database goes away (or fills up, or stays locked) the follower waits and
        tries again, ``backoff`` apart (0.5 s doubling to 30 s; see ``Backoff`` for when it
        gives up), logging each attempt. Nothing is applied twice: a batch's rows commit
        with its tracking position or not at all, and every attempt re-reads the positions.
        """
        backoff = backoff or Backoff()
        while not stop():
            try:
                with log_wake_ups(self.app) as wait:
                    while not stop():
                        caught_up = self.catch_up() == 0
                        if backoff.attempt:
                            log.info("views.reconnected", attempts=backoff.attempt,
                                     outage_seconds=round(backoff.outage, 1))
                            backoff.reset()
                        if caught_up:
                            wait(interval)
            except Exception as exc:
                failure = operational_failure(exc)
                if failure is None:
                    raise
                delay = backoff.next_wait()
                if delay is None:
                    raise StoreError(
                        f"{OPERATIONAL_KINDS[failure[0]]} ({store_url(self.app.env)}): "
                        f"{failure[1]}; gave up following after {backoff.outage:.0f} s and "
                        f"{backoff.attempt - 1} attempts") from exc
                log.warning("views.reconnecting", attempt=backoff.attempt, wait=delay,
                            failure=failure[0], error=failure[1])
                Backoff.sleep(delay, stop)
                discard_broken_connections(self.app.journey_recorder.datastore)

    def lag(self) -> dict[str, int]:
        """How many notifications each projection is behind the log (read without the
        write lock: a ``ViewsBeside`` follower asks while an ingest writes)."""
        head = self.app.journey_recorder.position()
        with self.db.recorder.read_rows() as c:
            positions = self.db.positions(c, [TRACKING_PREFIX + name for name in PROJECTIONS])
        return {name: head - positions[TRACKING_PREFIX + name] for name in PROJECTIONS}

    def rebuild(self, names: list[str], progress: Callable[[int, int], None] | None = None,
                *, suffix: str = "_next", swap: bool = True,
                then: Callable[[], object] | None = None) -> int:
        """Build fresh tables from the whole log beside the live ones, then swap them in
        (``swap=False`` leaves them beside the live ones, e.g. for ``audit replay``).

        One rebuild per store and suffix at a time (a lease; another one is refused). If
        anything fails or interrupts it before the swap commits (an error, Ctrl-C, SIGTERM),
        its ``suffix`` tables and their tracking rows are dropped and the live views keep
        their rows and positions; a rebuild killed outright (``kill -9``) leaves them to the
        next projector (``journey project``, ``ingest``, ``rebuild``), see ``_sweep``.
        ``then`` runs after the build (and swap), still holding the lease, so nobody sweeps
        the ``suffix`` tables while it reads them (``audit replay`` compares them).
        """
        try:
            with self.db.recorder.lease(REBUILD_LEASE + suffix, wait=False):
                try:
                    done = self._build(names, progress, suffix)
                    if swap:
                        with self.db.transaction() as (c, _):
                            self._swap(c, names, suffix)
                except BaseException:
                    self._discard(names, suffix)
                    raise
                if then is not None:
                    then()
        except LeaseHeld as held:
            raise JourneyError(
                "another process is rebuilding the views of this store (it holds the "
                f"{REBUILD_LEASE + suffix} lease): wait for it to finish") from held
        if not swap:
            return done
        return done + self.catch_up()  # what was appended meanwhile, into the swapped-in tables

    def _build(self, names: list[str], progress: Callable[[int, int], None] | None,
               suffix: str) -> int:
        """Fold the whole log into fresh ``suffix`` tables (indexes built last)."""
        next_t = self.db.tables(suffix)
        self._drop_generation(names, suffix)  # leftovers of a rebuild that was killed
        # Bulk-load without secondary indexes, build them once, swap, then catch up.
        self.ensure_tables(suffix, indexes=False, names=names)
        done, head = 0, self.app.journey_recorder.position()
        with cycles_uncollected(), self._folded(names, head) as batches:
            for folded in batches:
                with self.db.transaction() as (c, raw):
                    write_all(self.db, c, next_t, folded.writes)
                    for name in names:
                        self.db.track(raw, TRACKING_PREFIX + name + suffix, folded.last)
                failpoint("views.rebuild_batch")
                done += folded.count
                if progress:
                    progress(done, max(head, folded.last))
        self.ensure_tables(suffix, tables=False, names=names)
        return done

    def _drop_generation(self, names: Iterable[str], suffix: str) -> None:
        """Drop a generation's tables and its tracking rows (not the live ones)."""
        assert suffix, "never the live tables"
        t = self.db.tables(suffix)
        with self.db.transaction() as (c, _):
            for name in names:
                for table in PROJECTIONS[name]:
                    c.execute(f"DROP TABLE IF EXISTS {getattr(t, table)}")
                c.execute(self.db.sql(f"DELETE FROM {self.db.tracking_table} "
                                      "WHERE application_name = ?"),
                          (TRACKING_PREFIX + name + suffix,))

    def _discard(self, names: list[str], suffix: str) -> None:
        """After a failed or interrupted rebuild: its tables go, the live ones stay."""
        try:
            self._drop_generation(names, suffix)
            log.warning("views.rebuild_abandoned", views=names,
                        detail=f"the {suffix} tables were dropped; the live views are untouched")
        except Exception as exc:  # the database is gone: the next projector sweeps them
            log.warning("views.rebuild_leftovers", views=names, error=str(exc),
                        detail=f"the {suffix} tables stay until the next journey project, "
                        "ingest or rebuild; the live views are untouched")

    def _sweep(self) -> None:
        """Drop the tables of rebuilds that were killed outright (no lease held any more)."""
        with self.db.recorder.read_rows() as c:
            found = [suffix for suffix in SCRATCH_SUFFIXES
                     if any(self.db.table_exists(c, table + suffix)
                            for tables in PROJECTIONS.values() for table in tables)]
        for suffix in found:
            try:
                with self.db.recorder.lease(REBUILD_LEASE + suffix, wait=False):
                    self._drop_generation(PROJECTIONS, suffix)
            except LeaseHeld:
                continue  # a rebuild is running: its tables are in use
            log.info("views.swept", detail=f"dropped the {suffix} tables of a rebuild that "
                     "was killed; the live views were never touched")

    @contextmanager
    def _folded(self, names: list[str], head: int) -> Iterator[Iterator[FoldedBatch]]:
        """The log folded from its start, batch by batch: in a worker process for a long
        log (decoding and folding then run beside the writes), here for a short one (a
        process costs ~1 s to start)."""
        make = partial(LogFolder, names=tuple(names))
        if head < self.worker_min_events:
            yield self._fold_here(make(self.app))
            return
        with LogFeed("rebuild's fold", dict(self.app.env), 0, self.batch_size, make,
                     cycles=False) as feed:
            yield iter(feed.receive, None)

    def _fold_here(self, fold: LogFolder) -> Iterator[FoldedBatch]:
        for batch in self.app.journey_recorder.read_log_batches(0, self.batch_size):
            yield fold(batch)

    def _swap(self, c: Any, names: list[str], suffix: str) -> None:
        """Replace the live tables by the rebuilt ones, in the one transaction of ``c``
        (see ``swap_tables``: analysts' SQL views over them keep working)."""
        replaced = swap_tables(self.db, c, names, suffix)
        log.info("views.swapped", views=names, rows_replaced_in=replaced)
