"""The stock view: its fold, its planning figures and its tables.

Each name loads its module on first use: a query (``Planning``) imports neither the fold
nor the aggregate it folds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from journey.projections.lazy import lazy_exports

if TYPE_CHECKING:
    from journey.projections.stock.fold import (
        Pair,
        StockChanges,
        StockFold,
        StockWrites,
        blank_stock,
    )
    from journey.projections.stock.planning import STORED_WINDOW_DAYS, Planning

#: Public name -> the module of this package that defines it.
_EXPORTS = {
    "Pair": "fold",
    "StockChanges": "fold",
    "StockFold": "fold",
    "StockWrites": "fold",
    "blank_stock": "fold",
    "STORED_WINDOW_DAYS": "planning",
    "Planning": "planning",
}

__all__ = [
    "STORED_WINDOW_DAYS",
    "Pair",
    "Planning",
    "StockChanges",
    "StockFold",
    "StockWrites",
    "blank_stock",
]


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
