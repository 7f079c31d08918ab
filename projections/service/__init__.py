"""The service view behind the KPIs and invoices (contract 4.6-4.8): its fold, its figures,
its tables and its queries."""

from journey.projections.service.fold import ServiceChanges, ServiceFold, ServiceWrites
from journey.projections.service.state import (
    CaseRow,
    InvoiceRecord,
    InvoiceSums,
    MemoryServiceState,
    RatingRow,
    RepairRow,
)

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
