"""Ingest: touchpoints decided in arrival order, in batches, one transaction per batch.

A batch is parsed and validated first (pure), then everything it needs from the
store is fetched in a few queries (earlier touchpoint hashes, aggregate
histories not in the cache), then each touchpoint is decided in order against
in-memory aggregates, and finally the batch's events, accepted touchpoints and
rejects are appended in one transaction. A crash loses at most the batch in
flight and never half of a touchpoint; re-running the input finds the stored
touchpoints as duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING
from uuid import UUID

import structlog
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from journey.domain.base import replay
from journey.domain.decide import referenced_ids
from journey.domain.errors import JourneyError
from journey.infra.collector import bulk_work
from journey.infra.failpoints import failpoint
from journey.infra.ingest.batch import (
    AggregateCache,
    BatchDecision,
    BatchView,
    IngestSummary,
    LineOutcome,
)
from journey.infra.ingest.lines import Line, LineSource
from journey.infra.store import (
    BatchRecords,
    JourneyApplication,
    LeaseHeld,
    OffsetRow,
    RejectRow,
    RunCheckpoint,
    StoreError,
)
from journey.schemas.parsing import Invalid, Parsed, parse_line

if TYPE_CHECKING:
    from journey.infra.ingest.retry import RetrySummary

log = structlog.get_logger("journey.ingest")

MAX_ATTEMPTS = 50

#: A batch is cut at this many bytes of input, whatever its line count: 300 lines of 1 MiB
#: would otherwise take over 1 GB while they are parsed and decided together.
BATCH_BYTES = 8 << 20

#: Called with (line index, reject) pairs of a decided batch before it is stored.
BeforeSave = Callable[[list[tuple[int, RejectRow]]], None]
#: Called with the writer lock held: for each line of a batch, whether to decide it now.
Choose = Callable[[], Sequence[bool]]


class RunInProgress(JourneyError):
    """Another live process is ingesting the same file into the same store."""


class Ingestor:
    """Decides touchpoints against the store in batches; safe beside other writers."""

    def __init__(self, app: JourneyApplication, batch_size: int = 2000,
                 cache_size: int = 50_000) -> None:
        self.app = app
        self.recorder = app.journey_recorder
        self.batch_size = max(1, batch_size)
        self.cache = AggregateCache(cache_size)
        self._known_position: int | None = None
        #: Physical lines of the ``LineSource`` being ingested that are stored (committed),
        #: blank ones included; an interrupted ingest can say where a re-run resumes.
        self.lines_stored = 0

    @bulk_work()  # a long run of short-lived objects: the collector rarely
    def ingest(self, lines: Iterable[Line] | LineSource,
               progress: Callable[[int], None] | None = None, *,
               settle: Callable[[], object] | None = None) -> IngestSummary:
        """Decide every line in order; ``progress`` gets the line count of each batch.

        A named ``LineSource`` (a file) is one *run*, checkpointed with every batch and
        held by this process alone (``RunInProgress`` if another live process is ingesting
        the same file into this store). If an earlier run of the file was interrupted and
        the file still starts with the bytes it had consumed, this run resumes after them
        and returns the whole file's summary. The run is complete once every line is stored
        and ``settle`` (e.g. ``Projector.catch_up``) has returned anything but ``False``;
        until then (a crash, an exception, or ``False``) a re-run resumes it, so a crash at
        any point, the views' catch-up included, leaves a re-run equal to one clean run.
        """
        self.lines_stored = 0
        if not isinstance(lines, LineSource) or lines.name is None:
            summary = self._decide_all(lines, IngestSummary(), None, progress)
            if settle is not None:
                settle()
            return summary
        with ExitStack() as held:
            try:
                held.enter_context(self.recorder.lease(
                    self.recorder.lease_name("ingest", lines.name), wait=False))
            except LeaseHeld as exc:
                raise RunInProgress(f"another process is ingesting {lines.name} into this "
                                    "store; wait for it to finish (if it dies, a re-run "
                                    "resumes where it stopped)") from exc
            checkpoint = self._checkpoint_for(lines)
            self.lines_stored = lines.lines  # a resumed run: the prefix stored before
            summary = IngestSummary.from_json(checkpoint.counts)
            self._decide_all(lines, summary, checkpoint, progress)
            if settle is None or settle() is not False:
                checkpoint.counts = summary.as_json()
                self.recorder.finish_run(checkpoint)
            return summary

    @bulk_work()
    def retry_rejects(self, reasons: Sequence[str] | None = None,
                      progress: Callable[[int], None] | None = None, *,
                      settle: Callable[[], object] | None = None) -> RetrySummary:
        """Re-decide the open rejects (contract 4.9) that have a string ``touchpoint_id``
        (with ``reasons``: of those reasons), in decision order, as if their raw lines
        arrived now: batches as ``ingest``'s, then ``settle`` (the views' catch-up). See
        ``journey.infra.ingest.retry``."""
        from journey.infra.ingest.retry import retry_rejects

        return retry_rejects(self, reasons, progress, settle=settle)

    def _decide_all(self, lines: Iterable[Line], summary: IngestSummary,
                    checkpoint: RunCheckpoint | None,
                    progress: Callable[[int], None] | None) -> IngestSummary:
        """Every line, in batches cut at ``batch_size`` lines or ``BATCH_BYTES`` bytes;
        a ``LineSource``'s lines carry their provenance (``LABEL:LINE``)."""
        batch: list[Line] = []
        sources: list[str | None] | None = [] if isinstance(lines, LineSource) else None
        size = 0
        for line in lines:
            batch.append(line)
            if sources is not None:
                assert isinstance(lines, LineSource)
                sources.append(lines.provenance)
            size += len(line) if isinstance(line, bytes) else len(line.prefix)
            if len(batch) >= self.batch_size or size >= BATCH_BYTES:
                self._run_batch(batch, summary, lines, checkpoint, progress, sources)
                batch, size = [], 0
                sources = None if sources is None else []
        if batch:
            self._run_batch(batch, summary, lines, checkpoint, progress, sources)
        return summary

    def _checkpoint_for(self, source: LineSource) -> RunCheckpoint:
        assert source.name is not None
        unfinished = self.recorder.unfinished_run(source.name)
        if unfinished is not None and source.skip_prefix(unfinished.bytes_done,
                                                         unfinished.prefix_sha256):
            log.info("ingest.resumed", source=source.name, offset=unfinished.bytes_done,
                     **unfinished.counts)
            return unfinished
        return RunCheckpoint(uuid.uuid4().hex, source.name, 0, source.prefix_sha256,
                             IngestSummary().as_json())

    def _run_batch(self, batch: list[Line], summary: IngestSummary, lines: object,
                   checkpoint: RunCheckpoint | None,
                   progress: Callable[[int], None] | None,
                   sources: list[str | None] | None = None) -> None:
        if checkpoint is not None:
            assert isinstance(lines, LineSource)
            checkpoint.bytes_done = lines.offset
            checkpoint.prefix_sha256 = lines.prefix_sha256
        summary.add(self.ingest_batch(batch, summary if checkpoint else None, checkpoint,
                                      sources=sources))
        if isinstance(lines, LineSource):
            self.lines_stored = lines.lines
        failpoint("ingest.between_batches")
        if progress:
            progress(len(batch))

    def ingest_batch(self, lines: list[Line], so_far: IngestSummary | None = None,
                     checkpoint: RunCheckpoint | None = None, *,
                     offsets: tuple[str, list[OffsetRow]] | None = None,
                     before_save: BeforeSave | None = None,
                     sources: Sequence[str | None] | None = None,
                     choose: Choose | None = None,
                     line_outcomes: list[LineOutcome] | None = None) -> IngestSummary:
        """Decide and store one batch of raw lines, retrying on a concurrent writer.

        ``offsets`` (a Kafka consumer's positions) commit in the batch's transaction;
        ``before_save`` sees the batch's rejects, with their line index, just before it;
        ``sources`` gives each line's provenance (``file:line``, ``kafka:topic/p@offset``),
        stored with its reject or accepted touchpoint; ``choose``, called with the writer
        lock held, says which lines to decide now (the others are left out, uncounted:
        ``retry_rejects`` re-decides only rejects still open when it writes);
        ``line_outcomes`` gets each decided line's ``LineOutcome``, in order, once they are
        decided (so ``before_save`` sees them); a retried attempt replaces them, so when this
        returns they are the decisions stored.
        """
        if sources is not None and len(sources) != len(lines):
            raise ValueError(f"{len(sources)} sources for {len(lines)} lines")
        outcomes = [parse_line(line) for line in lines]
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self.recorder.writer_lock():
                    position = self.recorder.position()
                    if position != self._known_position:
                        self.cache.clear()  # someone else wrote: cached state may be stale
                    chosen, chosen_sources = outcomes, sources
                    if choose is not None:
                        keep = choose()
                        chosen = [o for o, k in zip(outcomes, keep, strict=True) if k]
                        chosen_sources = None if sources is None else [
                            s for s, k in zip(sources, keep, strict=True) if k]
                        if not chosen:
                            return IngestSummary()
                    return self._decide_and_save(chosen, position, so_far, checkpoint,
                                                 offsets, before_save, chosen_sources,
                                                 line_outcomes)
            except IntegrityError as exc:
                self._forget_cached()
                log.info("batch.retry", attempt=attempt, why=str(exc))
            except BaseException:
                # Deciding changed cached aggregates in place; nothing of it was stored (an
                # unreachable or full database, an interrupt): a later batch of this
                # Ingestor (an HTTP retry, a consumer after reconnecting) replays them.
                self._forget_cached()
                raise
        raise StoreError(f"gave up after {MAX_ATTEMPTS} write conflicts with other writers")

    def _forget_cached(self) -> None:
        self.cache.clear()
        self._known_position = None

    def _decide_and_save(self, outcomes: list[Parsed | Invalid], position: int,
                         so_far: IngestSummary | None, checkpoint: RunCheckpoint | None,
                         offsets: tuple[str, list[OffsetRow]] | None = None,
                         before_save: BeforeSave | None = None,
                         sources: Sequence[str | None] | None = None,
                         line_outcomes: list[LineOutcome] | None = None) -> IngestSummary:
        parsed = [o for o in outcomes if isinstance(o, Parsed)]
        # A schema-invalid line may reuse an accepted id: its reject records that (4.9). An id
        # holding NUL is never accepted (nor can PostgreSQL text look it up).
        earlier = self.recorder.touchpoint_hashes(list(
            {p.touchpoint.touchpoint_id for p in parsed}
            | {o.touchpoint_id for o in outcomes if isinstance(o, Invalid)
               and o.touchpoint_id is not None and "\x00" not in o.touchpoint_id}))
        batch = BatchDecision(BatchView(self.cache, self._load(parsed)), earlier,
                               BatchRecords(expected_position=position, checkpoint=checkpoint,
                                            offsets=offsets), line_outcomes)
        if line_outcomes is not None:
            line_outcomes.clear()  # an earlier attempt's decisions, if this batch is retried
        try:
            for index, outcome in enumerate(outcomes):
                batch.decide(outcome, None if sources is None else sources[index])
        finally:
            batch.unbind()
        if checkpoint is not None and so_far is not None:
            total = IngestSummary.from_json(so_far.as_json())
            total.add(batch.summary)
            checkpoint.counts = total.as_json()
        if before_save is not None:
            before_save(list(zip(batch.rejected_lines, batch.records.rejects, strict=True)))
        # The event store directly: Application.save() would re-collect these events through
        # runtime Protocol isinstance checks (~6 µs each) and snapshot/notify hooks we don't use.
        failpoint("ingest.decided")
        recordings = self.app.events.put(batch.events, journey=batch.records)
        failpoint("ingest.committed")
        self._known_position = recordings[-1].notification.id if recordings else position
        for aggregate in (*batch.view.loaded.values(), *batch.view.changed.values()):
            self.cache.put(aggregate)
        return batch.summary

    def _load(self, parsed: list[Parsed]) -> dict[UUID, Aggregate]:
        """Replay, in one query per chunk, the aggregates this batch reads and the cache lacks."""
        wanted = list({
            aggregate_id
            for p in parsed
            for aggregate_id in referenced_ids(p.touchpoint)
            if aggregate_id not in self.cache
        })
        if not wanted:
            return {}
        to_domain_event = self.app.mapper.to_domain_event
        return {aggregate_id: replay(map(to_domain_event, stored))
                for aggregate_id, stored in self.recorder.histories(wanted).items()}
