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

Reading the state is itself a read transaction; on a SQLite file ``PRAGMA data_version``
says, in microseconds, whether any connection has committed since it was last read (SQLite
changes it on every commit by another connection, in this process or another). An answer
keeps the data version read before its state was, and while the version is the same nothing
can have changed: it is recalled without reading the state again.

Bounded: least recently used answers go first beyond ``MAX_BYTES`` of encoded JSON or
``MAX_ANSWERS`` answers. Thread-safe (requests run in a thread pool). An answer for the API
keeps its bytes, not its document: thousands of kept documents are objects the garbage
collector would walk on each full collection (pauses of tens of milliseconds on a large
store); the dashboard's questions (``ask``) keep their documents, which it reads.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
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
    """One answer: the state it was asked in, its JSON (the API's body), the headers saying
    how fresh it is, and (asked for by ``ask``) its document."""

    state: Hashable
    body: bytes
    #: ``X-Journey-View-Position`` and ``X-Journey-Log-Head`` (none: an answer not of the
    #: views), as raw ASGI headers.
    headers: tuple[tuple[bytes, bytes], ...]
    document: dict[str, Any] | None = None
    #: ``PRAGMA data_version`` read before the state was (None: not known).
    version: int | None = None
    _gzipped: bytes | None = None
    #: When it was asked (``time.monotonic()``): it is asked anew after ``MAX_AGE``.
    at: float = field(default_factory=time.monotonic)

    @classmethod
    def of(cls, document: dict[str, Any], state: Hashable = None, *,
           keep_document: bool = False, version: int | None = None) -> Kept:
        """The answer ``document`` (asked in ``state``)."""
        freshness = document.get("freshness")
        headers = () if not freshness else (
            (b"x-journey-view-position", str(freshness["view_position"]).encode()),
            (b"x-journey-log-head", str(freshness["log_head"]).encode()))
        return cls(state, encode(document), headers, document if keep_document else None,
                   version)

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
        self._watch = _DataVersion(application) if self.inline else None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._watch is not None:
            self._watch.close()

    def recall(self, key: Hashable) -> Kept | None:
        """On the event loop: the answer kept for ``key`` if the views are still in the state
        it was asked in (the data version unchanged, else one short read), else ``None``."""
        with self._lock:
            kept = self._kept.get(key)
        if kept is None:
            return None
        version = self._version()
        if version is not None and kept.version == version:
            return self._recall(key, kept.state, version)
        with view_queries(self.application, ready=True, reader=self._reader) as views:
            state = view_state(views)
        return self._recall(key, state, version)

    def answer_here(self, key: Hashable, question: Callable[[Any], dict[str, Any]]) -> Kept:
        """On the event loop: ``answer`` on the loop's own connection (a short question)."""
        return self.answer(key, question, reader=self._reader)

    def ask(self, key: Hashable, question: Callable[[Any], dict[str, Any]],
            window: TimeFilter | None = None) -> dict[str, Any]:
        """The answer to ``question`` (``key`` names it and its parameters, e.g.
        ``("stock", part, location, ...)``), from memory when the state has not changed.
        The document is shared: read it, never change it."""
        document = self._answer(key, question, window, None, keep_document=True).document
        assert document is not None  # kept with its document, or not kept at all
        return document

    def answer(self, key: Hashable, question: Callable[[Any], dict[str, Any]],
               window: TimeFilter | None = None, reader: PrivateReader | None = None) -> Kept:
        """As ``ask``, the answer's JSON and headers (the API's)."""
        return self._answer(key, question, window, reader, keep_document=False)

    def _answer(self, key: Hashable, question: Callable[[Any], dict[str, Any]],
                window: TimeFilter | None, reader: PrivateReader | None, *,
                keep_document: bool) -> Kept:
        memo = _Question(self, key, self._version(), keep_document)  # before the state
        document = answer(self.application, question, window, ready=True, memo=memo,
                          reader=reader)
        if memo.kept is not None:
            return memo.kept
        return Kept.of(document, keep_document=True)  # not kept (a replay the log grew under)

    def _version(self) -> int | None:
        return None if self._watch is None else self._watch.read()

    def _recall(self, key: Hashable, state: Hashable, version: int | None) -> Kept | None:
        with self._lock:
            kept = self._kept.get(key)
            if (kept is None or kept.state != state
                    or time.monotonic() - kept.at > MAX_AGE):
                return None
            # The state read after ``version`` is the kept one: until the next commit, the
            # kept answer holds without reading the state again.
            kept.version = version
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
    """``answer``'s ``Memo`` for one question of an ``Answers`` (``version``: the data
    version read before the state; ``keep_document``: the asker reads the document)."""

    def __init__(self, answers: Answers, key: Hashable, version: int | None,
                 keep_document: bool) -> None:
        self.answers, self.key = answers, key
        self.version, self.keep_document = version, keep_document
        #: The answer recalled or kept (what ``Answers`` returns), else None.
        self.kept: Kept | None = None

    def recall(self, state: Hashable) -> dict[str, Any] | None:
        kept = self.answers._recall(self.key, state, self.version)
        if kept is not None and self.keep_document and kept.document is None:
            return None  # kept without its document (by the API): asked anew, with it
        self.kept = kept
        if kept is None:
            return None
        return kept.document if kept.document is not None else _KEPT_WITHOUT_DOCUMENT

    def keep(self, state: Hashable, document: dict[str, Any]) -> None:
        self.kept = Kept.of(document, state, keep_document=self.keep_document,
                            version=self.version)
        self.answers._keep(self.key, self.kept)


#: What ``_Question.recall`` tells ``answer`` when the answer kept has no document: that it
#: was recalled (``Answers`` returns the ``Kept``; nothing reads this).
_KEPT_WITHOUT_DOCUMENT: dict[str, Any] = {}


class _DataVersion:
    """``PRAGMA data_version`` of a SQLite store, on a connection of its own that never
    writes: it changes whenever another connection has committed (see the module)."""

    def __init__(self, application: JourneyApplication) -> None:
        name = application.journey_recorder.datastore.pool.db_name
        self._connection = sqlite3.connect(name, uri=True, check_same_thread=False,
                                           isolation_level=None)
        self._lock = threading.Lock()

    def read(self) -> int:
        with self._lock:
            row = self._connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._connection.close()
