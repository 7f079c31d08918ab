"""The rejects as stored (contract 2.1) and which of them are open (4.9), read page by page.

A reject is **open** while no later reject of its ``touchpoint_id`` supersedes it and that id
was not accepted after it; one without a string ``touchpoint_id`` is always open. The index
``journey_rejects_by_touchpoint (touchpoint_id, seq)`` makes "a later reject?" one probe, the
touchpoints' primary key "accepted?" another, so a page costs its rows, whatever the store holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from journey.infra.store.rows import RejectRow, chunks

#: At most this many rejects' openness is read by one query looking for open ones (their
#: numbers only): as many as are wanted, doubled while too few of them are open.
OPEN_WINDOW = 1000


class RejectQueries:
    """Reading ``journey_rejects`` (mixed into the recorders)."""

    ph: str
    rejects_sql: str
    touchpoints_sql: str

    @contextmanager
    def _read(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """A read transaction for these queries. PostgreSQL's planner overestimates the
        probes before the table is analyzed and would JIT-compile each page's query (~20 ms,
        for a query that runs in under 1 ms): not here."""
        with self._read() as c:
            if self.ph != "?":
                c.execute("SET LOCAL jit = off")
            yield c

    def open_sql(self) -> str:
        """SQL that is true when the reject ``r`` is **open** (contract 4.9): no later reject
        of its ``touchpoint_id`` supersedes it, and that id was not accepted since. An id is
        accepted once, so "since" is "at all" unless it was accepted *before* the reject
        (``accepted_before``: a ``conflicting_duplicate``, or a schema-invalid line reusing
        an accepted id), which no acceptance can close. A reject stored before that column
        existed counts as accepted before when it is a ``conflicting_duplicate``. A reject
        without a string ``touchpoint_id`` is always open.

        Per reject: one probe of ``journey_rejects (touchpoint_id, seq)``, one of the
        touchpoints' key. The latter is a scalar subquery: PostgreSQL would answer an
        ``EXISTS`` (or a join) by hashing every accepted touchpoint, for each page."""
        return (f"(r.touchpoint_id IS NULL OR (NOT EXISTS (SELECT 1 FROM {self.rejects_sql} "
                "later WHERE later.touchpoint_id = r.touchpoint_id AND later.seq > r.seq) "
                "AND (COALESCE(r.accepted_before, CASE WHEN r.reason = "
                "'conflicting_duplicate' THEN 1 ELSE 0 END) = 1 OR (SELECT t.touchpoint_id "
                f"FROM {self.touchpoints_sql} t WHERE t.touchpoint_id = r.touchpoint_id) "
                "IS NULL)))")

    def rejects(self, after: int = 0, limit: int = 10_000,
                reasons: Sequence[str] | None = None, *, open_only: bool = False,
                retryable: bool = False, up_to: int | None = None) -> list[RejectRow]:
        """Stored rejects in decision order (``seq``), up to ``limit`` after sequence
        ``after``, each with whether it is open; with ``reasons``, only those rejected for
        one of them; ``open_only``: only the open ones; ``retryable``: only those with a
        string ``touchpoint_id`` (what a retry re-decides); ``up_to``: none after that
        sequence.

        The open ones are found in windows of up to ``OPEN_WINDOW`` rejects read in ``seq``
        order (their sequence and openness only), then read whole: each query walks the primary
        key from ``after``, whatever the planner thinks of the filter, so listing every open
        reject costs one pass over the table however few are open."""
        where, params = self._reject_filter(reasons, retryable=retryable)
        with self._reading() as c:
            if not open_only:
                rows = self._whole(c, f"r.seq > {self.ph}{where} ORDER BY r.seq "
                                   f"LIMIT {self.ph}", [after, *params, limit])
                return [r for r in rows if up_to is None or r.seq <= up_to]
            wanted = self._open_seqs(c, after, limit, where, params, up_to)
            found: list[RejectRow] = []
            for chunk in chunks(wanted):
                found += self._whole(c, f"r.seq IN ({','.join([self.ph] * len(chunk))}) "
                                     "ORDER BY r.seq", chunk, known_open=True)
            return found

    def _open_seqs(self, c: Any, after: int, limit: int, where: str, params: list[Any],
                   up_to: int | None) -> list[int]:
        """The sequences of up to ``limit`` open rejects after ``after``."""
        wanted: list[int] = []
        size = min(max(limit, 1), OPEN_WINDOW)  # as many as wanted; more while few are open
        while True:
            c.execute(f"SELECT r.seq, CASE WHEN {self.open_sql()} THEN 1 ELSE 0 END "
                      f"FROM {self.rejects_sql} r WHERE r.seq > {self.ph}{where} "
                      f"ORDER BY r.seq LIMIT {self.ph}", (after, *params, size))
            window = [(int(row[0]), bool(row[1])) for row in c.fetchall()]
            for seq, is_open in window:
                if up_to is not None and seq > up_to:
                    return wanted
                after = seq
                if is_open:
                    wanted.append(seq)
                    if len(wanted) == limit:
                        return wanted
            if len(window) < size:
                return wanted
            size = min(size * 2, OPEN_WINDOW)

    def _whole(self, c: Any, condition: str, params: Sequence[Any], *,
               known_open: bool = False) -> list[RejectRow]:
        """Whole rejects ``r`` meeting ``condition`` (it may order and limit them);
        ``known_open``: they were just found open (the listing is not one snapshot: a reject
        a writer closes meanwhile may still be listed, as if listed a moment earlier)."""
        opened = "1" if known_open else f"CASE WHEN {self.open_sql()} THEN 1 ELSE 0 END"
        c.execute("SELECT r.seq, r.touchpoint_id, r.reason, r.detail, r.raw, r.recorded_at, "
                  f"r.source, {opened}, r.accepted_before FROM {self.rejects_sql} r "
                  f"WHERE {condition}", params)
        return [
            RejectRow(row[1], row[2], row[3], bytes(row[4]), row[0], str(row[5]), row[6],
                      bool(row[7]), bool(row[8]) if row[8] is not None
                      else row[2] == "conflicting_duplicate")
            for row in c.fetchall()
        ]

    def open_rejects(self, after: int = 0, limit: int = 10_000,
                     reasons: Sequence[str] | None = None) -> list[RejectRow]:
        """The open rejects (contract 4.9) in decision order, as ``rejects``."""
        return self.rejects(after, limit, reasons, open_only=True)

    def count_rejects(self, reasons: Sequence[str] | None = None, *,
                      open_only: bool = False, retryable: bool = False,
                      without_id: bool = False) -> int:
        """How many rejects are stored (with ``reasons``: for one of them; ``open_only``,
        ``retryable``: as ``rejects``; ``without_id``: only those without a string
        ``touchpoint_id``, which are always open and never retried)."""
        where, params = self._reject_filter(reasons, retryable=retryable,
                                            without_id=without_id)
        if open_only:
            where += f" AND {self.open_sql()}"
        with self._reading() as c:
            c.execute(f"SELECT COUNT(*) FROM {self.rejects_sql} r WHERE 1 = 1{where}", params)
            return int(c.fetchone()[0])

    def reject_counts(self, reasons: Sequence[str] | None = None) -> tuple[int, int]:
        """(open, all) rejects (with ``reasons``: of one of them), in one pass."""
        where, params = self._reject_filter(reasons)
        with self._reading() as c:
            c.execute(f"SELECT COALESCE(SUM(CASE WHEN {self.open_sql()} THEN 1 ELSE 0 END), 0), "
                      f"COUNT(*) FROM {self.rejects_sql} r WHERE 1 = 1{where}", params)
            row = c.fetchone()
            return int(row[0]), int(row[1])

    def open_reject_seqs(self, seqs: Sequence[int]) -> set[int]:
        """Which of the rejects ``seqs`` are open now (a writer holding the writer lock
        sees what it is about to decide against)."""
        found: set[int] = set()
        with self._reading() as c:
            for chunk in chunks(seqs):
                c.execute(f"SELECT r.seq FROM {self.rejects_sql} r WHERE r.seq IN "
                          f"({','.join([self.ph] * len(chunk))}) AND {self.open_sql()}", chunk)
                found.update(int(row[0]) for row in c.fetchall())
        return found

    def last_reject_seq(self) -> int:
        """The sequence of the latest reject (0: none)."""
        with self._reading() as c:
            c.execute(f"SELECT MAX(seq) FROM {self.rejects_sql}")
            return int(c.fetchone()[0] or 0)

    def _reject_filter(self, reasons: Sequence[str] | None, *, retryable: bool = False,
                       without_id: bool = False) -> tuple[str, list[Any]]:
        """Plain conditions on a reject ``r`` (and their parameters)."""
        where, params = "", list[Any]()
        if reasons is not None:
            if not reasons:
                return " AND 1 = 0", []
            where = f" AND r.reason IN ({','.join([self.ph] * len(reasons))})"
            params = list(reasons)
        if retryable or without_id:
            where += f" AND r.touchpoint_id IS {'NULL' if without_id else 'NOT NULL'}"
        return where, params
