"""The journey engine: an event-sourced customer-journey engine for service management.

Every module imports as ``journey.<folder>...``; the folders stay at the top of the
repository (``domain/``, ``projections/``, ``consumers/``, ``schemas/``, ``infra/``) and
``pyproject.toml`` maps them under this package.

The names most programs need are re-exported here, loaded on first use (``import journey``
alone imports nothing else, so the command line starts fast)::

    import journey

    app = journey.open_store("sqlite:///journey.db")
    with open("touchpoints.jsonl", "rb") as f:
        summary = journey.Ingestor(app).ingest(journey.LineSource(f, name="touchpoints.jsonl"))
    journey.Projector(app).catch_up()
    with journey.view_queries(app) as views:
        print(views.errors()["failure_demand"])
        kpis: journey.KpiReport = views.kpis()  # also views.invoices(status="overdue")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "JourneyError": "journey.domain.errors",
    "TouchpointRejected": "journey.domain.errors",
    "REASONS": "journey.domain.errors",
    "Decider": "journey.domain.decide",
    "parse_line": "journey.schemas.parsing",
    "Parsed": "journey.schemas.parsing",
    "Invalid": "journey.schemas.parsing",
    "Settings": "journey.infra.settings",
    "JourneyApplication": "journey.infra.store",
    "StoreError": "journey.infra.store",
    "open_store": "journey.infra.store",
    "Ingestor": "journey.infra.ingest",
    "IngestSummary": "journey.infra.ingest",
    "LineSource": "journey.infra.ingest",
    "RunInProgress": "journey.infra.ingest",
    "RetrySummary": "journey.infra.ingest",
    "RejectRow": "journey.infra.store",
    "Projector": "journey.infra.views.projector",
    "view_queries": "journey.infra.views.live",
    "ViewFailed": "journey.infra.views.projector",
    "Planning": "journey.projections.stock",
    # the service reports' typed results (contract 4.6, 4.8): views.kpis(), views.invoices()
    "KpiReport": "journey.projections.queries",
    "CaseMonth": "journey.projections.queries",
    "RepairMonth": "journey.projections.queries",
    "PartsMonth": "journey.projections.queries",
    "Satisfaction": "journey.projections.queries",
    "SatisfactionGroup": "journey.projections.queries",
    "InvoiceReport": "journey.projections.queries",
    "InvoiceMonth": "journey.projections.queries",
    "InvoiceRow": "journey.projections.queries",
    "TimeFilter": "journey.infra.audit.window",
    "history": "journey.infra.audit.history",
    "views_as_of": "journey.infra.audit.history",
    "verify_log": "journey.infra.audit.verify",
    "export_events": "journey.infra.audit.export",
    "verify_export": "journey.infra.audit.verify_export",
}

__all__ = [
    "REASONS",
    "CaseMonth",
    "Decider",
    "IngestSummary",
    "Ingestor",
    "Invalid",
    "InvoiceMonth",
    "InvoiceReport",
    "InvoiceRow",
    "JourneyApplication",
    "JourneyError",
    "KpiReport",
    "LineSource",
    "Parsed",
    "PartsMonth",
    "Planning",
    "Projector",
    "RejectRow",
    "RepairMonth",
    "RetrySummary",
    "RunInProgress",
    "Satisfaction",
    "SatisfactionGroup",
    "Settings",
    "StoreError",
    "TimeFilter",
    "TouchpointRejected",
    "ViewFailed",
    "__version__",
    "export_events",
    "history",
    "open_store",
    "parse_line",
    "verify_export",
    "verify_log",
    "view_queries",
    "views_as_of",
]

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from journey.domain.decide import Decider
    from journey.domain.errors import REASONS, JourneyError, TouchpointRejected
    from journey.infra.audit.export import export_events
    from journey.infra.audit.history import history, views_as_of
    from journey.infra.audit.verify import verify_log
    from journey.infra.audit.verify_export import verify_export
    from journey.infra.audit.window import TimeFilter
    from journey.infra.ingest import (
        Ingestor,
        IngestSummary,
        LineSource,
        RetrySummary,
        RunInProgress,
    )
    from journey.infra.settings import Settings
    from journey.infra.store import JourneyApplication, RejectRow, StoreError, open_store
    from journey.infra.views.live import view_queries
    from journey.infra.views.projector import Projector, ViewFailed
    from journey.projections.queries import (
        CaseMonth,
        InvoiceMonth,
        InvoiceReport,
        InvoiceRow,
        KpiReport,
        PartsMonth,
        RepairMonth,
        Satisfaction,
        SatisfactionGroup,
    )
    from journey.projections.stock import Planning
    from journey.schemas.parsing import Invalid, Parsed, parse_line


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'journey' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # next time without this hook
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
