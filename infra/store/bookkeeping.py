"""Bookkeeping kept with the data: ingest checkpoints, consumer offsets, relay positions,
leases. Every write here commits in the caller's transaction or in one of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from journey.infra.store.rows import OffsetRow, RunCheckpoint, now_text


class Bookkeeping:
    """Where writers and readers of the log have got to (mixed into the recorders)."""

    ph: str
    runs_sql: str
    offsets_sql: str
    relay_sql: str
    relay_acks_sql = "journey_relay_acks"

    @contextmanager
    def _read(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    @contextmanager
    def _write(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    def _save_checkpoint(self, c: Any, cp: RunCheckpoint) -> None:
        p = self.ph
        c.execute(
            f"INSERT INTO {self.runs_sql} (run_id, source, bytes_done, prefix_sha256, counts, "
            f"completed, updated_at) VALUES ({p},{p},{p},{p},{p},{p},{p}) "
            "ON CONFLICT (run_id) DO UPDATE SET bytes_done = EXCLUDED.bytes_done, "
            "prefix_sha256 = EXCLUDED.prefix_sha256, counts = EXCLUDED.counts, "
            "completed = EXCLUDED.completed, updated_at = EXCLUDED.updated_at",
            (cp.run_id, cp.source, cp.bytes_done, cp.prefix_sha256, json.dumps(cp.counts),
             int(cp.completed), now_text()),
        )

    def unfinished_run(self, source: str) -> RunCheckpoint | None:
        """The latest ingest of ``source`` that did not finish (crashed or killed), if any."""
        run = self.last_run(source)
        return None if run is None or run.completed else run

    def last_run(self, source: str) -> RunCheckpoint | None:
        """The latest ingest of ``source``, finished or not (an HTTP intake keyed
        ``Idempotency-Key: K`` is the run of source ``http:K``, its answer in ``counts``)."""
        with self._read() as c:
            c.execute(
                "SELECT run_id, source, bytes_done, prefix_sha256, counts, completed "
                f"FROM {self.runs_sql} WHERE source = {self.ph} "
                "ORDER BY updated_at DESC LIMIT 1",
                (source,),
            )
            row = c.fetchone()
        if row is None:
            return None
        return RunCheckpoint(row[0], row[1], int(row[2]), row[3], json.loads(row[4]),
                             bool(row[5]))

    def finish_run(self, checkpoint: RunCheckpoint) -> None:
        """Mark an ingest run complete (a later run of the same file starts afresh)."""
        checkpoint.completed = True
        with self._write() as c:
            self._save_checkpoint(c, checkpoint)

    def save_offsets(self, c: Any, consumer: str, rows: Iterable[OffsetRow]) -> None:
        """Record, in the caller's transaction ``c``, how far ``consumer`` has read."""
        p = self.ph
        c.executemany(
            f"INSERT INTO {self.offsets_sql} (consumer, topic, partition, next_offset, "
            f"high_water) VALUES ({p},{p},{p},{p},{p}) ON CONFLICT (consumer, topic, partition) "
            "DO UPDATE SET next_offset = EXCLUDED.next_offset, "
            "high_water = EXCLUDED.high_water",
            [(consumer, r.topic, r.partition, r.next_offset, r.high_water) for r in rows],
        )

    def offsets(self, consumer: str, c: Any = None) -> dict[tuple[str, int], OffsetRow]:
        """Every partition ``consumer`` has committed here, keyed by (topic, partition)."""
        if c is None:
            with self._read() as c:
                return self.offsets(consumer, c)
        c.execute(f"SELECT topic, partition, next_offset, high_water FROM {self.offsets_sql} "
                  f"WHERE consumer = {self.ph}", (consumer,))
        return {(r[0], int(r[1])): OffsetRow(r[0], int(r[1]), int(r[2]), int(r[3]))
                for r in c.fetchall()}

    def relay_position(self, name: str) -> int:
        """The last notification id the relay ``name`` saw acknowledged (0: none)."""
        with self._read() as c:
            c.execute(f"SELECT position FROM {self.relay_sql} WHERE name = {self.ph}", (name,))
            row = c.fetchone()
        return int(row[0]) if row else 0

    def save_relay_position(self, name: str, position: int,
                            acked: Mapping[tuple[str, int], int] | None = None) -> None:
        """Store the relay's position and, in the same transaction, per (topic, partition)
        the offset after the last message the broker acknowledged (``acked``: the
        partitions the batch went to; a later acknowledgement replaces an earlier one, the
        relay having checked that it did not go backwards)."""
        with self._write() as c:
            self._save_relay(c, name, position, acked or {})

    def reset_relay(self, name: str) -> None:
        """Position 0 and nothing acknowledged: the relay publishes the whole log again (to
        a new cluster, or to a broker that lost its data), one transaction."""
        with self._write() as c:
            c.execute(f"DELETE FROM {self.relay_acks_sql} WHERE name = {self.ph}", (name,))
            self._save_relay(c, name, 0, {})

    def _save_relay(self, c: Any, name: str, position: int,
                    acked: Mapping[tuple[str, int], int]) -> None:
        p = self.ph
        c.execute(
            f"INSERT INTO {self.relay_sql} (name, position, updated_at) VALUES ({p},{p},{p}) "
            "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, "
            "updated_at = EXCLUDED.updated_at",
            (name, position, now_text()),
        )
        if acked:
            c.executemany(
                f"INSERT INTO {self.relay_acks_sql} (name, topic, partition, acked_end) "
                f"VALUES ({p},{p},{p},{p}) ON CONFLICT (name, topic, partition) "
                "DO UPDATE SET acked_end = EXCLUDED.acked_end",
                [(name, topic, partition, end)
                 for (topic, partition), end in sorted(acked.items())],
            )

    def relay_acks(self, name: str) -> dict[tuple[str, int], int]:
        """Per (topic, partition): the offset after the last message acknowledged to the
        relay ``name`` since it last started from the log's start."""
        with self._read() as c:
            c.execute(f"SELECT topic, partition, acked_end FROM {self.relay_acks_sql} "
                      f"WHERE name = {self.ph}", (name,))
            return {(r[0], int(r[1])): int(r[2]) for r in c.fetchall()}

    @staticmethod
    def lease_name(kind: str, key: str) -> str:
        """The lease of one ``key`` (a file, a consumer group) of a ``kind``: a short name,
        whatever the key (SQLite makes it a file name)."""
        return f"{kind}-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    @contextmanager
    def lease(self, name: str, wait: bool) -> Iterator[None]:
        """Hold the lease ``name`` (one holder per store) until the block ends or the holder
        dies; ``wait=False`` raises ``LeaseHeld`` at once if another process holds it."""
        raise NotImplementedError
        yield
