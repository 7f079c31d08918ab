"""The stored rejects as contract 5 lists them (``journey rejects --json``, ``GET
/v1/rejects``): read page by page, and written out as one JSON document piece by piece, so
neither door holds every reject in memory."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from journey.infra.store import JourneyRecorderMixin, RejectRow

#: Rejects read per query when listing them: a reject keeps at most one line of 1 MiB, so
#: a page stays under 100 MiB however large the lines were, and memory does not grow with
#: the number of rejects.
REJECTS_PAGE = 100


def reject_pages(recorder: JourneyRecorderMixin, reasons: list[str] | None = None,
                 limit: int | None = None, *, open_only: bool = False
                 ) -> Iterator[list[RejectRow]]:
    """The rejects (``open_only``: the open ones), ``REJECTS_PAGE`` per query, at most
    ``limit`` in all."""
    after, left = 0, limit
    while left is None or left > 0:
        page = recorder.rejects(after=after, limit=REJECTS_PAGE if left is None
                                else min(left, REJECTS_PAGE), reasons=reasons,
                                open_only=open_only)
        if not page:
            return
        yield page
        after = page[-1].seq
        left = None if left is None else left - len(page)


def reject_document(row: RejectRow) -> dict[str, Any]:
    """A reject as contract 5 gives it, plus its provenance (``source``) and, when the line
    is not UTF-8, its exact bytes (``raw_base64``; ``raw`` then shows them with U+FFFD)."""
    document: dict[str, Any] = {
        "touchpoint_id": row.touchpoint_id,
        "reason": row.reason,
        "detail": row.detail,
        "raw": row.raw.decode("utf-8", errors="replace"),
        "source": row.source,
    }
    try:
        row.raw.decode("utf-8")
    except UnicodeDecodeError:
        document["raw_base64"] = base64.b64encode(row.raw).decode("ascii")
    return document


def rejects_json(pages: Iterator[list[RejectRow]]) -> Iterator[str]:
    """``{"rejects": [...]}`` and a newline, exactly as ``json.dumps`` of the whole document
    would write it, one piece per page."""
    yield '{"rejects": ['
    separator = ""
    for page in pages:
        pieces = []
        for row in page:
            pieces.append(separator + json.dumps(reject_document(row), ensure_ascii=False))
            separator = ", "
        yield "".join(pieces)
    yield "]}\n"
