"""Ingest: touchpoints decided in arrival order, in batches, one transaction per batch.

``lines``    an input as lines (streamed, counted and hashed, for resuming a file)
``service``  the ``Ingestor``: parse, load, decide, append, a batch at a time
``batch``    one batch's decisions in memory; the summary of contract 5
``retry``    stored rejects re-decided (contract 4.9), through the same ``Ingestor``

``journey ingest`` and ``journey consume touchpoints`` call the same ``Ingestor``.
"""

from journey.infra.ingest.batch import AggregateCache, IngestSummary, LineOutcome
from journey.infra.ingest.lines import (
    IngestError,
    Line,
    LineSource,
    kafka_provenance,
    read_lines,
)
from journey.infra.ingest.retry import RetrySummary, retry_provenance
from journey.infra.ingest.service import (
    BATCH_BYTES,
    MAX_ATTEMPTS,
    BeforeSave,
    Ingestor,
    RunInProgress,
)

__all__ = [
    "BATCH_BYTES",
    "MAX_ATTEMPTS",
    "AggregateCache",
    "BeforeSave",
    "IngestError",
    "IngestSummary",
    "Ingestor",
    "Line",
    "LineOutcome",
    "LineSource",
    "RetrySummary",
    "RunInProgress",
    "kafka_provenance",
    "read_lines",
    "retry_provenance",
]
