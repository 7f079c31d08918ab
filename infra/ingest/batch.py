"""One batch's decisions: what the decider sees, what each line became, what will be written.

The ``Ingestor`` (``service``) cuts the input into batches and stores each in one
transaction; here is what happens in between, in memory: each line decided in arrival
order against the batch's aggregates (changed in this batch, loaded for it, or cached
from earlier batches), and the rows and events the batch will append.
"""

from __future__ import annotations

import contextvars
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from uuid import UUID

import structlog
from eventsourcing.domain import Aggregate

from journey.domain.decide import Decider
from journey.domain.errors import TouchpointRejected
from journey.infra.store import AcceptedRow, BatchRecords, RejectRow
from journey.schemas.parsing import Invalid, Parsed

log = structlog.get_logger("journey.ingest")
_bind = structlog.contextvars.bind_contextvars


class LineOutcome(NamedTuple):
    """How one line was decided (``ingest_batch(line_outcomes=...)``, the HTTP intake's answer):
    ``accepted``, ``duplicate`` or ``rejected`` with the contract's reason and its detail."""

    touchpoint_id: str | None
    outcome: str
    reason: str | None = None
    detail: str | None = None


@dataclass
class IngestSummary:
    """The outcome counts of contract 5 (``journey ingest --json``)."""

    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)

    def add(self, other: IngestSummary) -> None:
        self.read += other.read
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.rejected_by_reason.update(other.rejected_by_reason)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IngestSummary:
        return cls(data["read"], data["accepted"], data["duplicates"], data["rejected"],
                   Counter(data["rejected_by_reason"]))

    def as_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
        }


class AggregateCache:
    """Least-recently-used aggregates, so hot entities are not replayed per batch.

    Keyed by ``UUID.int`` here and in ``BatchView``: a ``UUID``'s hash is a Python method,
    and a line looks aggregates up several times."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[int, Aggregate] = OrderedDict()

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        key = aggregate_id.int
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def __contains__(self, aggregate_id: UUID) -> bool:
        return aggregate_id.int in self._items

    def put(self, aggregate: Aggregate) -> None:
        if self.maxsize <= 0:
            return
        key = aggregate.id.int
        self._items[key] = aggregate
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


class BatchView:
    """What the decider sees during one batch: batch changes, then loaded, then cached."""

    def __init__(self, cache: AggregateCache, loaded: dict[UUID, Aggregate]) -> None:
        self.cache = cache
        self.loaded = loaded
        self.changed: dict[int, Aggregate] = {}  # by UUID.int (see AggregateCache)
        # loaded and changed in one dict, for one lookup (an aggregate loaded and then
        # changed is the same object in both)
        self._batch: dict[int, Aggregate] = {key.int: found for key, found in loaded.items()}

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        return self._batch.get(aggregate_id.int) or self.cache.get(aggregate_id)

    def change(self, aggregate: Aggregate) -> None:
        key = aggregate.id.int
        self.changed[key] = self._batch[key] = aggregate


class BatchDecision:
    """One batch's decisions, in arrival order, and what they will write."""

    def __init__(self, view: BatchView, earlier: dict[str, bytes],
                 records: BatchRecords, line_outcomes: list[LineOutcome] | None = None
                 ) -> None:
        self.view = view
        self.decider = Decider(view)
        self.earlier = earlier  # content hashes of touchpoints accepted before this batch
        self.seen: dict[str, bytes] = {}  # ... and in this batch
        self.records = records
        self.events: list[Any] = []
        self.rejected_lines: list[int] = []  # index in the batch of each reject
        self.summary = IngestSummary()
        self.line_outcomes = line_outcomes  # each line's, in order, if the caller asks
        self.tokens: dict[str, Any] = {}  # the log context's first tokens (``unbind``)

    def decide(self, outcome: Parsed | Invalid, source: str | None = None) -> None:
        """Decide one line; ``source`` is its provenance. The log context names the line's
        touchpoint (and provenance) while it is decided, and only then."""
        self.summary.read += 1
        touchpoint_id = (outcome.touchpoint_id if isinstance(outcome, Invalid)
                         else outcome.touchpoint.touchpoint_id)
        # Bound for each line, the context as it was restored once per batch (``unbind``):
        # a line's context replaces the line before's.
        if source is not None:
            self._bind("source", source)
        elif "source" in self.tokens:  # a line before had one: the source from before it
            outer = self.tokens["source"].old_value
            self._bind("source", ... if outer is contextvars.Token.MISSING else outer)
        self._bind("touchpoint_id", touchpoint_id)
        if isinstance(outcome, Invalid):
            self.reject(outcome.reason, outcome.detail, touchpoint_id, outcome.raw, source)
        else:
            self._decide_parsed(outcome, source)

    def _bind(self, key: str, value: Any) -> None:
        """``bind_contextvars(key=value)``; after a batch's first, by setting its variable
        (a tenth of the cost)."""
        token = self.tokens.get(key)
        if token is None:
            self.tokens[key] = _bind(**{key: value})[key]
        else:
            token.var.set(value)

    def unbind(self) -> None:
        """The log context as it was before the batch's first line."""
        structlog.contextvars.reset_contextvars(**self.tokens)
        self.tokens.clear()

    def _decide_parsed(self, outcome: Parsed, source: str | None) -> None:
        tp = outcome.touchpoint
        previous = self.seen.get(tp.touchpoint_id) or self.earlier.get(tp.touchpoint_id)
        if previous == outcome.content_hash:
            self.summary.duplicates += 1
            if self.line_outcomes is not None:
                self.line_outcomes.append(LineOutcome(tp.touchpoint_id, "duplicate"))
        elif previous is not None:
            self.reject("conflicting_duplicate", f"touchpoint_id {tp.touchpoint_id!r} was "
                        "accepted before with different content", tp.touchpoint_id, outcome.raw,
                        source)
        else:
            try:
                changed = self.decider.decide(tp)
            except TouchpointRejected as rejected:
                self.reject(rejected.reason, rejected.detail, tp.touchpoint_id, outcome.raw,
                            source)
            else:
                self.accept(outcome, changed, source)

    def accept(self, outcome: Parsed, changed: list[Aggregate], source: str | None = None
               ) -> None:
        for aggregate in changed:
            self.view.change(aggregate)
            self.events.extend(aggregate.collect_events())  # the log keeps arrival order
        tp = outcome.touchpoint
        self.seen[tp.touchpoint_id] = outcome.content_hash
        self.records.accepted.append(
            AcceptedRow(tp.touchpoint_id, outcome.content_hash, tp.type, source))
        self.summary.accepted += 1
        if self.line_outcomes is not None:
            self.line_outcomes.append(LineOutcome(tp.touchpoint_id, "accepted"))

    def reject(self, reason: str, detail: str, touchpoint_id: str | None, raw: bytes,
               source: str | None = None) -> None:
        log.debug("touchpoint.rejected", reason=reason, detail=detail)
        accepted = touchpoint_id is not None and (touchpoint_id in self.seen
                                                  or touchpoint_id in self.earlier)
        self.records.rejects.append(RejectRow(touchpoint_id, reason, detail, raw, source=source,
                                              accepted_before=accepted))
        self.rejected_lines.append(self.summary.read - 1)
        self.summary.rejected += 1
        self.summary.rejected_by_reason[reason] += 1
        if self.line_outcomes is not None:
            self.line_outcomes.append(LineOutcome(touchpoint_id, "rejected", reason, detail))
