"""The service view behind the KPIs and invoices (contract 4.6-4.8): its fold, its figures,
its tables and its queries.

Each name loads its module on first use: a query (``queries``) imports neither the fold
nor the aggregates it folds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from journey.projections.lazy import lazy_exports

if TYPE_CHECKING:
    from journey.projections.service.fold import ServiceChanges, ServiceFold, ServiceWrites
    from journey.projections.service.state import (
        CaseRow,
        InvoiceRecord,
        InvoiceSums,
        MemoryServiceState,
        RatingRow,
        RepairRow,
    )

#: Public name -> the module of this package that defines it.
_EXPORTS = {
    "ServiceChanges": "fold",
    "ServiceFold": "fold",
    "ServiceWrites": "fold",
    "CaseRow": "state",
    "InvoiceRecord": "state",
    "InvoiceSums": "state",
    "MemoryServiceState": "state",
    "RatingRow": "state",
    "RepairRow": "state",
}

__all__ = [
    "CaseRow",
    "InvoiceRecord",
    "InvoiceSums",
    "MemoryServiceState",
    "RatingRow",
    "RepairRow",
    "ServiceChanges",
    "ServiceFold",
    "ServiceWrites",
]


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
