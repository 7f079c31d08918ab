"""The stock view: its fold, its planning figures and its tables."""

from journey.projections.stock.fold import (
    Pair,
    StockChanges,
    StockFold,
    StockWrites,
    blank_stock,
)
from journey.projections.stock.planning import STORED_WINDOW_DAYS, Planning

__all__ = [
    "STORED_WINDOW_DAYS",
    "Pair",
    "Planning",
    "StockChanges",
    "StockFold",
    "StockWrites",
    "blank_stock",
]
