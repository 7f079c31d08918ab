"""The server's memory of answers: asked once per state of the views, served from memory after.

An answer of the views is a function of the question and of the state it was asked in: the
views' tracking positions and the log's head (a replay ``as_of`` / ``known_at``: the log's
head). ``journey.infra.audit.answers.answer`` reads that state in the transaction that would
answer, and with a ``Memo`` returns the answer kept for the same state instead of asking
again. So an answer from memory is exactly the one asking would give, freshness included;
once anything is appended to the log the state differs and the next request asks anew.

What it buys: the stock list of a large store (thousands of rows and their planning figures)
or the customers with the most errors (a pass over every touchpoint) cost milliseconds to
seconds to ask, and one short read to recall, for every client and dashboard page after the
first. A timeline of one customer costs about as much to ask as to recall: it is kept all
the same (the dashboard reloads the same customers), within the memory bound.

What the state does not show: ``journey rebuild`` swaps in views folded afresh at the same
positions (a fold corrected by an upgrade), and an answer whose default depends on the day
(invoices of an empty store: overdue as of today). So an answer is also asked anew once it is
``MAX_AGE`` seconds old: a rebuild shows within that, whatever the database.

Bounded: least recently used answers go first beyond ``MAX_BYTES`` of encoded JSON or
``MAX_ANSWERS`` answers. Thread-safe (requests run in a thread pool).
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from journey.infra.audit.answers import answer, view_state
from journey.infra.store import JourneyPostgresRecorder
from journey.infra.views.live import PrivateReader, view_queries

if TYPE_CHECKING:
    from journey.infra.audit.window import TimeFilter
    from journey.infra.store import JourneyApplication

MAX_BYTES = 64 << 20
MAX_ANSWERS = 20_000
#: Seconds an answer is recalled at most, even in an unchanged state (see above).
MAX_AGE = 30.0


@dataclass(slots=True)
class Kept:
    """One answer: the state it was asked in, the document, and its JSON (the API's body)."""

    state: Hashable
    document: dict[str, Any]
    body: bytes
    _gzipped: bytes | None = None
    #: When it was asked (``time.monotonic()``): it is asked anew after ``MAX_AGE``.
    at: float = field(default_factory=time.monotonic)

    @property
    def gzipped(self) -> bytes:
        """The body gzipped (once: a client that takes gzip gets these bytes every time)."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=5, mtime=0)
        return self._gzipped


def encode(document: dict[str, Any]) -> bytes:
    """The document as JSON: the same values the command line's ``--json`` prints."""
    try:
        return orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # a value orjson does not know: json's own rules, as the CLI prints
        return json.dumps(document, ensure_ascii=False).encode()


class Answers:
    """Questions to the views of one store, each answer kept for the state it was asked in."""

    def __init__(self, application: JourneyApplication, max_bytes: int = MAX_BYTES,
                 max_answers: int = MAX_ANSWERS) -> None:
        self.application = application
        self.max_bytes, self.max_answers = max_bytes, max_answers
        self._kept: OrderedDict[Hashable, Kept] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        #: A short read may run on the event loop: a local SQLite file answers in
        #: microseconds (on a connection of the loop's own); PostgreSQL is a network round
        #: trip away, and its reads run in the thread pool.
        self.inline = not isinstance(application.journey_recorder, JourneyPostgresRecorder)
        self._reader = PrivateReader(application) if self.inline else None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def recall(self, key: Hashable) -> Kept | None:
        """On the event loop: the answer kept for ``key`` if the views are still in the state
        it was asked in (one short read), else ``None``."""
        with self._lock:
            if key not in self._kept:
                return None
        with view_queries(self.application, ready=True, reader=self._reader) as views:
            state = view_state(views)
        return self._recall(key, state)

    def answer_here(self, key: Hashable, question: Callable[[Any], dict[str, Any]]) -> Kept:
        """On the event loop: ``answer`` on the loop's own connection (a short question)."""
        return self.answer(key, question, reader=self._reader)

    def ask(self, key: Hashable, question: Callable[[Any], dict[str, Any]],
            window: TimeFilter | None = None) -> dict[str, Any]:
        """The answer to ``question`` (``key`` names it and its parameters, e.g.
        ``("stock", part, location, ...)``), from memory when the state has not changed.
        The document is shared: read it, never change it."""
        return self.answer(key, question, window).document

    def answer(self, key: Hashable, question: Callable[[Any], dict[str, Any]],
               window: TimeFilter | None = None, reader: PrivateReader | None = None) -> Kept:
        """As ``ask``, with the answer's JSON."""
        memo = _Question(self, key)
        document = answer(self.application, question, window, ready=True, memo=memo,
                          reader=reader)
        if memo.kept is not None and memo.kept.document is document:
            return memo.kept
        return Kept(None, document, encode(document))  # not kept (a replay the log grew under)

    def _recall(self, key: Hashable, state: Hashable) -> Kept | None:
        with self._lock:
            kept = self._kept.get(key)
            if (kept is None or kept.state != state
                    or time.monotonic() - kept.at > MAX_AGE):
                return None
            self._kept.move_to_end(key)
            return kept

    def _keep(self, key: Hashable, kept: Kept) -> None:
        if len(kept.body) > self.max_bytes // 4:
            return  # one huge answer must not push out everything else
        with self._lock:
            old = self._kept.pop(key, None)
            self._bytes += len(kept.body) - (len(old.body) if old is not None else 0)
            self._kept[key] = kept
            while self._kept and (self._bytes > self.max_bytes
                                  or len(self._kept) > self.max_answers):
                _, dropped = self._kept.popitem(last=False)
                self._bytes -= len(dropped.body)


class _Question:
    """``answer``'s ``Memo`` for one question of an ``Answers``."""

    def __init__(self, answers: Answers, key: Hashable) -> None:
        self.answers, self.key = answers, key
        self.kept: Kept | None = None

    def recall(self, state: Hashable) -> dict[str, Any] | None:
        self.kept = self.answers._recall(self.key, state)
        return None if self.kept is None else self.kept.document

    def keep(self, state: Hashable, document: dict[str, Any]) -> None:
        self.kept = Kept(state, document, encode(document))
        self.answers._keep(self.key, self.kept)
