"""Building touchpoint lines for tests, and reading outcomes back."""

from __future__ import annotations

import itertools
import json
from typing import Any

_ids = itertools.count(1)

CUSTOMER_TYPES = ("purchase.", "invoice.", "complaint.", "repair.")


def tp(type_: str, at: str = "2026-03-01T10:00:00Z", **fields: Any) -> dict[str, Any]:
    """A touchpoint object with a fresh id; customer C1 unless given (none for part.*)."""
    obj: dict[str, Any] = {
        "touchpoint_id": fields.pop("touchpoint_id", f"tp-{next(_ids)}"),
        "type": type_,
        "occurred_at": at,
    }
    if type_.startswith(CUSTOMER_TYPES):
        obj["customer_id"] = "C1"
    obj.update(fields)
    return obj


def line(obj: dict[str, Any] | str) -> bytes:
    return obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()


# Small builders for the common entities.

def order(order_id: str = "O1", **kw: Any) -> dict[str, Any]:
    return tp("purchase.placed", order_id=order_id, currency="EUR",
              lines=kw.pop("lines", [{"sku": "S1", "qty": 2, "unit_price": "9.99"}]), **kw)


def invoice(invoice_id: str = "I1", **kw: Any) -> dict[str, Any]:
    return tp("invoice.issued", invoice_id=invoice_id, amount="19.98", currency="EUR",
              due_date="2026-03-31", **kw)


def case(case_id: str = "K1", **kw: Any) -> dict[str, Any]:
    return tp("complaint.opened", case_id=case_id, category=kw.pop("category", "billing"), **kw)


def repair(repair_id: str = "R1", **kw: Any) -> dict[str, Any]:
    return tp("repair.requested", repair_id=repair_id, serial=kw.pop("serial", "SN1"),
              fault="no power", warranty=True, **kw)


def part(type_: str, qty: int = 1, part_id: str = "P1", location: str = "WH1",
         **kw: Any) -> dict[str, Any]:
    return tp(f"part.{type_}", part_id=part_id, location=location, qty=qty, **kw)
