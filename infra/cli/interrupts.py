"""Interrupted commands (Ctrl-C, SIGINT): one line saying what was kept and how to go on.

A command wraps its work in ``on_interrupt(kept)``; a ``KeyboardInterrupt`` inside becomes
``Interrupted(kept())``, which ``journey.infra.cli.main`` prints as
``journey: interrupted: <what was kept; how to resume>`` and exits 130. (Typer turns a
``KeyboardInterrupt`` it sees itself into a silent exit 130: that is why the commands
catch it first.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from journey.domain.errors import JourneyError

if TYPE_CHECKING:  # the store and the projector are imported by the commands that use them
    from journey.infra.store import JourneyRecorderMixin
    from journey.infra.views.projector import Projector

#: When what was kept cannot be told (the store went away, a second Ctrl-C).
KEPT_UNKNOWN = "everything committed before the interruption is kept; run the same command " \
    "to resume"


class Interrupted(JourneyError):
    """A command was interrupted; the message says what was kept and how to resume."""


@contextmanager
def on_interrupt(kept: Callable[[], str]) -> Iterator[None]:
    """Ctrl-C inside the block raises ``Interrupted(kept())``: ``kept`` says, in a phrase,
    what is stored and how to resume (it may read the store, which is still open)."""
    try:
        yield
    except KeyboardInterrupt as exc:
        try:
            message = kept()
        except (Exception, KeyboardInterrupt):  # the interruption is the news: say it anyway
            message = KEPT_UNKNOWN
        raise Interrupted(message) from exc


def lines_of(count: int) -> str:
    """``1 line`` / ``12,000 lines``."""
    return f"{count:,} line" + ("" if count == 1 else "s")


def views_kept(projector: Projector) -> str:
    """``journey project``: the views' stored position (they commit with it, exactly once)."""
    head = projector.app.journey_recorder.position()
    at = head - max(projector.lag().values())
    if at >= head:
        return f"the views are current (log position {head:,}); nothing is left to do"
    return (f"the views are stored up to log position {at:,} of {head:,}; run the same "
            "command to resume")


#: ``journey rebuild``: the projector discards an unfinished rebuild's tables.
REBUILD_KEPT = ("the live views are whole: the old ones if the swap had not committed, the "
                "rebuilt ones if it had (journey project catches them up); an unfinished "
                "rebuild's tables are dropped now or by the next project, ingest or rebuild")


def relay_kept(recorder: JourneyRecorderMixin, name: str, embedded: bool) -> str:
    """``journey publish``: the relay's stored position."""
    position, head = recorder.relay_position(name), recorder.position()
    if embedded:
        return (f"{position:,} of {head:,} events were published to the bundled broker, which "
                "forgets them when the command ends; a publish starts from the first event")
    return (f"the relay's position is stored: the log is published up to position "
            f"{position:,} of {head:,}; run the same command to resume")


def offsets_kept(recorder: JourneyRecorderMixin, consumer: str) -> str:
    """``journey consume``: what was stored with the consumer's next offsets."""
    offsets = recorder.offsets(consumer)
    if not offsets:
        return "nothing was stored yet; run the same command to start again"
    where = ", ".join(f"{topic}/{partition}@{row.next_offset:,}"
                      for (topic, partition), row in sorted(offsets.items()))
    return (f"every batch read is stored with the next offsets to read ({where}); run the "
            "same command to resume there")
