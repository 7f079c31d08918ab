"""Re-deciding stored rejects (contract 4.9): their raw lines, as if they arrived now.

A retry takes the **open** rejects (not superseded by a later reject of their
``touchpoint_id``, the id not accepted since) that have a string ``touchpoint_id``,
optionally only those of some reasons, in decision order, and hands their raw lines to the
``Ingestor`` as a file ingest would: the same batches (``batch_size`` lines or
``BATCH_BYTES``), the same writer lock and position check, one transaction per batch. Each
re-decision is a new decision at the end of the log: an accepted line closes its reject (its
touchpoint is now accepted); a line rejected again gets a new reject row, which supersedes
the old one. A re-decided line's provenance names the reject it retries and where that line
first came from: ``retry of reject #12 (touchpoints.jsonl:7)``.

- **Which rejects.** Those open when the retry starts, up to the latest reject then (the
  rejects a retry makes itself are not retried again by it: one pass, in order). Each batch
  asks again, under the writer lock, which of its rejects are still open, and decides only
  those: a concurrent retry (or ingest) that decided one first is not repeated, so two
  retries at once never accept a line twice nor reject it twice. A retry that finds its line
  accepted by then counts nothing for it (``read`` counts the lines re-decided).
- **Not retried.** A reject without a string ``touchpoint_id`` stays open and is never
  retried (4.9): a line that is not JSON, not an object, or has no string id. That includes
  every line over ``MAX_LINE_BYTES``: its reject keeps only the first ``KEPT_PREFIX_BYTES``
  (``schemas.parsing.OversizeLine``), which is not the line and must not be decided as if it
  were; such rejects carry no ``touchpoint_id``, and are skipped by their detail as well
  should one ever carry one. The count left out is logged (``rejects.retry.skipped``).
- **One pass.** A reject that only a later one of the same retry would let through (a
  ``purchase.returned`` rejected before its ``purchase.delivered`` was) is rejected again,
  and passes on the next retry.
- **A crash** loses at most the batch in flight: committed batches closed or superseded
  their rejects, so a re-run re-decides exactly what is still open.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from journey.infra.ingest.batch import IngestSummary
from journey.infra.ingest.service import BATCH_BYTES
from journey.infra.store import RejectRow
from journey.schemas.parsing import MAX_LINE_BYTES

if TYPE_CHECKING:
    from journey.infra.ingest.service import Ingestor

log = structlog.get_logger("journey.ingest")

#: Rejects read per query: a reject keeps at most one line of 1 MiB.
RETRY_PAGE = 100

#: How an oversize line's reject detail starts (``OversizeLine.reject``): its raw is a prefix.
_OVERSIZE_DETAIL = f"line: exceeds the limit of {MAX_LINE_BYTES} bytes"
_RETRY_SOURCE = re.compile(r"retry of reject #\d+(?: \((.*)\))?", re.S)


@dataclass
class RetrySummary(IngestSummary):
    """A retry's outcome: contract 5's counts of the lines re-decided (``as_json``), and
    how many open rejects of the reasons asked for it could not retry (``not_retried``: no
    string ``touchpoint_id``, or a raw that is not the whole line)."""

    not_retried: int = 0


def retry_provenance(reject: RejectRow) -> str:
    """``retry of reject #SEQ (FIRST SOURCE)``: the reject retried, and where its line first
    came from (a retried retry names the first source, not a growing chain)."""
    source = reject.source
    if source is not None and (match := _RETRY_SOURCE.fullmatch(source)):
        source = match.group(1)  # None: the first line had no source either
    return f"retry of reject #{reject.seq}" + ("" if source is None else f" ({source})")


def whole_line(reject: RejectRow) -> bool:
    """Whether the reject's raw is its whole line (so it can be decided again)."""
    return reject.touchpoint_id is not None and not reject.detail.startswith(_OVERSIZE_DETAIL)


def retry_candidates(ingestor: Ingestor, reasons: Sequence[str] | None = None) -> int:
    """How many open rejects a retry with ``reasons`` would re-decide now (for progress)."""
    return ingestor.recorder.count_rejects(reasons, open_only=True, retryable=True)


def retry_rejects(ingestor: Ingestor, reasons: Sequence[str] | None = None,
                  progress: Callable[[int], None] | None = None, *,
                  settle: Callable[[], object] | None = None) -> RetrySummary:
    """Re-decide the open rejects with a string ``touchpoint_id`` (of ``reasons``, when
    given) in decision order; the summary counts the lines re-decided (contract 5's shape).
    ``progress`` gets the number of rejects each batch went through; ``settle`` runs once
    every batch is stored (``journey rejects retry``: the views' catch-up)."""
    recorder = ingestor.recorder
    wanted = None if reasons is None else sorted(set(reasons))
    up_to = recorder.last_reject_seq()
    summary = RetrySummary()
    batch: list[RejectRow] = []
    size = after = passed_over = 0

    def run() -> None:
        nonlocal batch, size
        summary.add(_retry_batch(ingestor, batch))
        if progress is not None:
            progress(len(batch))
        batch, size = [], 0

    while page := recorder.rejects(after, RETRY_PAGE, wanted, open_only=True, retryable=True,
                                   up_to=up_to):
        after = page[-1].seq
        for reject in page:
            if not whole_line(reject):
                passed_over += 1
                continue
            batch.append(reject)
            size += len(reject.raw)
            if len(batch) >= ingestor.batch_size or size >= BATCH_BYTES:
                run()
    if batch:
        run()
    summary.not_retried = recorder.count_rejects(wanted, without_id=True) + passed_over
    if summary.not_retried:
        log.info("rejects.retry.skipped", open=summary.not_retried,
                 why="no string touchpoint_id (not JSON, not an object, no id, or a line over "
                 "the size limit whose reject keeps only a prefix): never retried")
    if settle is not None:
        settle()
    log.info("rejects.retried", reasons=wanted, **summary.as_json())
    return summary


def _retry_batch(ingestor: Ingestor, rejects: list[RejectRow]) -> IngestSummary:
    """One batch of rejects re-decided: those still open when the writer lock is held."""
    seqs = [reject.seq for reject in rejects]

    def still_open() -> list[bool]:
        found = ingestor.recorder.open_reject_seqs(seqs)
        return [seq in found for seq in seqs]

    decided = ingestor.ingest_batch([reject.raw for reject in rejects],
                                    sources=[retry_provenance(r) for r in rejects],
                                    choose=still_open)
    if decided.read < len(rejects):
        log.info("rejects.retry.decided_elsewhere", rejects=len(rejects) - decided.read,
                 why="no longer open when this batch was decided (another writer decided "
                 "them first)")
    return decided
