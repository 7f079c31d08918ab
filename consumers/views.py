"""View workers: the views built from the Avro topics, scaled out by consumer group.

Any number of ``journey consume views --group G`` processes share the partitions of the
published topics and one database (PostgreSQL when several run). Each polled batch is
folded by the same folds as ``journey project`` (``projections/``) and written, with the
worker's (topic, partition, next offset) rows, in **one view transaction**: a restart
resumes exactly where the data is. The relay may publish a batch twice after a crash;
within a partition it publishes in log order, so a record whose notification id is at
or below the partition's high-water mark was applied already and is skipped.

Order across topics is not Kafka's to give, and the folds tolerate it: late errors,
late ``fixed`` completions and early contacts are handled as for late arrivals, and
the view transactions are serialized. The one thing the log order guaranteed and the
topics do not is that a repair's request comes before the part movements naming it;
a movement that arrives first gets its customer when the request arrives (the touchpoint
view: ``adopt_orphans``; the service view keeps such a movement's error on the repair's row
until the request names the customer, whose ratings then follow as for a late error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from journey.consumers.group import consume_group, with_reconnects
from journey.infra.collector import bulk_work
from journey.infra.kafka.client import ensure_topics, make_consumer
from journey.infra.kafka.codec import EventDecoder
from journey.infra.kafka.topics import Topics
from journey.infra.store import JourneyApplication, OffsetRow
from journey.infra.store.errors import Backoff, StoreError
from journey.infra.views.database import ViewDb
from journey.infra.views.feed import cycles_uncollected
from journey.infra.views.projector import Projector
from journey.projections.tables import PROJECTIONS
from journey.projections.touchpoints.table import adopt_orphans, orphans_index
from journey.projections.views import fold_and_write

log = structlog.get_logger("journey.consume")


@dataclass
class ViewWorkerSummary:
    """``read``: messages this worker took in, less those another worker of the group had
    stored first (both read a partition while the group forms or rebalances); ``applied``:
    events folded into the views; ``duplicates``: messages the relay sent twice, skipped.
    Over all the workers of a group, each message counts once."""

    read: int = 0
    applied: int = 0
    duplicates: int = 0

    def as_json(self) -> dict[str, int]:
        return {"read": self.read, "applied": self.applied, "duplicates": self.duplicates}


class ViewWorker:
    """Consumes the published topics into the views of ``app``'s database."""

    def __init__(self, app: JourneyApplication, bootstrap: str, topics: Topics, group: str,
                 *, batch_size: int = 20_000, consumer_options: dict[str, Any] | None = None
                 ) -> None:
        self.app = app
        self.recorder = app.journey_recorder
        self.db = ViewDb(app)
        self.bootstrap = bootstrap
        self.topics = topics
        self.group = group
        self.name = f"views:{group}"
        self.batch_size = batch_size
        self.consumer_options = consumer_options or {}
        self.decoder = EventDecoder()
        self._refuse_views_the_topics_cannot_fill()
        Projector(app)  # the view tables, if this database has none yet
        t = self.db.tables()
        with self.db.transaction() as (c, _):
            c.execute(orphans_index(t))

    def _refuse_views_the_topics_cannot_fill(self) -> None:
        """A view this database lacks while the group has consumed already (a database made
        before that view existed, e.g. ``service`` before the KPIs) would be filled from the
        group's committed offsets on, missing every earlier event: refuse, and say how."""
        with self.recorder.read_rows() as c:
            missing = [name for name, tables in PROJECTIONS.items()
                       if not self.db.table_exists(c, tables[0])]
        if missing and self.recorder.offsets(self.name):
            raise StoreError(
                f"this database has no {', '.join(missing)} view, but group {self.group} has "
                "consumed into it already: the view would miss every event before the group's "
                "committed offsets. Build the views into a new database (journey --db NEW "
                "consume views) from topics that still hold every event, or rebuild them from "
                "the engine's log (journey rebuild)")

    @bulk_work()  # a long run of short-lived objects: the collector rarely
    def run(self, *, follow: bool = False, idle: float = 3.0,
            stop: Callable[[], bool] = lambda: False,
            progress: Callable[[int], None] | None = None) -> ViewWorkerSummary:
        """Consume until ``stop()``; without ``follow``, also once nothing came for ``idle`` s.
        Following, a database or broker outage is waited out (``with_reconnects``)."""
        summary = ViewWorkerSummary()
        with_reconnects(lambda backoff: self._run_once(summary, backoff, follow=follow,
                                                       idle=idle, stop=stop, progress=progress),
                        follow=follow, stop=stop, what=self.name,
                        datastore=self.app.journey_recorder.datastore)
        log.info("consume.views.done", group=self.group, **summary.as_json())
        return summary

    def _run_once(self, summary: ViewWorkerSummary, backoff: Backoff, *, follow: bool,
                  idle: float, stop: Callable[[], bool],
                  progress: Callable[[int], None] | None) -> None:
        counts = ensure_topics(self.bootstrap, self.topics.published)
        # The events' headers repeat what their values hold: they are not read.
        consumer = make_consumer(self.bootstrap, self.group, headers=False,
                                 **self.consumer_options)

        def handle(polled: dict[Any, list[Any]]) -> list[OffsetRow]:
            offsets = self._apply(polled, summary)
            backoff.reset()
            if progress:
                progress(summary.read)
            return offsets

        early = None
        try:
            # Reads every partition while the group forms (seconds: see consumers.group).
            early = make_consumer(self.bootstrap, self.group, headers=False,
                                  **self.consumer_options)
            consume_group(consumer, sorted(self.topics.published),
                          lambda: self.recorder.offsets(self.name), handle, follow=follow,
                          idle=idle, stop=stop, max_records=self.batch_size,
                          early=(early, counts))
        finally:
            if early is not None:  # closed by consume_group unless it failed before
                early.close()
            consumer.close()

    def _apply(self, polled: dict[Any, list[Any]], summary: ViewWorkerSummary
               ) -> list[OffsetRow]:
        decode = self.decoder.for_folds
        # Decoded before the (serialized) view transaction: that part scales out.
        decoded = [(tp, records, [decode(record.value) for record in records])
                   for tp, records in polled.items()]
        with cycles_uncollected(), self.db.transaction() as (c, _):
            stored = self.recorder.offsets(self.name, c)
            fresh: list[tuple[int, Any]] = []
            offsets = []
            for tp, records, events in decoded:
                row = stored.get((tp.topic, tp.partition))
                high, below = (row.high_water, row.next_offset) if row else (0, 0)
                read = len(records)
                for record, pair in zip(records, events, strict=True):
                    if pair[0] <= high:
                        if record.offset < below:
                            read -= 1  # another reader of the group stored it first
                        else:
                            summary.duplicates += 1  # published twice
                        continue
                    high = pair[0]
                    fresh.append(pair)
                if read:  # else all stored before by another reader: its offset stands
                    offsets.append(OffsetRow(tp.topic, tp.partition,
                                             records[-1].offset + 1, high))
                summary.read += read
            # Within a partition ids only grow, so this keeps Kafka's order and comes
            # closest to the log's across partitions.
            fresh.sort(key=_first)
            t = self.db.tables()
            written = fold_and_write(self.db, c, t, fresh)
            adopt_orphans(self.db, c, t, written["touchpoints"].repairs)
            self.recorder.save_offsets(c, self.name, offsets)
        summary.applied += len(fresh)
        return offsets


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]
