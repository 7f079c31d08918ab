"""One question to the views, answered with how fresh the answer is: what the command line's
query commands, the HTTP API and the dashboard all call (one service, many doors)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol

from journey.infra.views.live import PrivateReader, view_queries

if TYPE_CHECKING:
    from journey.infra.audit.window import TimeFilter
    from journey.infra.store import JourneyApplication
    from journey.projections.queries import ViewQueries


class Memo(Protocol):
    """Where a door keeps answers (``journey serve`` does): an answer is a function of the
    question and the state it was asked in (the views' positions and the log's head; for a
    replay, the log's head), so one kept for the same state is the answer (see ``answer``)."""

    def recall(self, state: Hashable) -> dict[str, Any] | None:
        """The answer kept for ``state``, if any."""

    def keep(self, state: Hashable, document: dict[str, Any]) -> None:
        """Keep ``document``, the answer in ``state``."""


def answer(application: JourneyApplication, ask: Callable[[Any], dict[str, Any]],
           window: TimeFilter | None = None, *, ready: bool = False,
           memo: Memo | None = None, reader: PrivateReader | None = None) -> dict[str, Any]:
    """``ask`` the live views (a ``ViewQueries``) one question; with a time window, the views
    replayed from the log as they were (slower: the whole log is read).

    The answer gets ``"freshness"`` (``projections.queries.Freshness``): the log position
    it reflects and the log's head; a replay also says ``"source": "log"`` and its window.
    ``ready``: the view tables are known to be there (see ``view_queries``). ``memo``: the
    answer kept for the same state, if there is one, else the answer asked now and kept
    (never a replay the log grew under: its state is not one position). ``reader``: the live
    views are read on that connection (see ``view_queries``)."""
    recorder = application.journey_recorder
    if window is not None and (window.as_of or window.known_at):
        from journey.infra.audit.history import views_as_of  # the replay's folds, when asked

        start = recorder.position()  # the replay reads at least this far
        kept = memo.recall(("log", start)) if memo is not None else None
        if kept is not None:
            return kept
        with views_as_of(application, window) as replayed:
            document = ask(replayed)
        head = recorder.position()
        document["freshness"] = {"view_position": start, "log_head": head,
                                 "source": "log", **window.as_json()}
        if memo is not None and head == start:
            memo.keep(("log", start), document)
        return document
    with view_queries(application, ready=ready, reader=reader) as views:
        state = view_state(views)
        kept = memo.recall(state) if memo is not None else None
        if kept is not None:
            return kept
        document = ask(views)
        document["freshness"] = views.freshness()
    if memo is not None:
        memo.keep(state, document)
    return document


def view_state(views: ViewQueries) -> Hashable:
    """The state the live views answer in: every projection's position and the log's head."""
    return tuple(sorted((views.positions or {}).items())), views.log_head
