"""A small store for the dashboard's tests: a generated workload plus a customer, a part and
a location whose ids hold markup (the pages must show them as text, never run them)."""

from __future__ import annotations

import json
import re
from typing import Any

from journey.infra.ingest import Ingestor
from journey.infra.store import open_store
from journey.infra.views.projector import Projector
from journey.infra.workload.journeys import generate
from journey.infra.workload.options import WorkloadOptions
from tests.support import invoice, order, part, repair, tp

#: A customer id a careless page would run as script.
EVIL = '<script>alert("pwned")</script><img src=x onerror=alert(1)>&amp;'
#: A part and a location with markup too.
EVIL_PART, EVIL_PLACE = "P<b>1</b>", "W&H<i>"
#: A reference out of a page: an attribute or a CSS url naming another host (an XML
#: namespace such as xmlns="http://www.w3.org/2000/svg" is a name, not a reference).
OUTSIDE = re.compile(r"""(?:src|href|action|xlink:href)\s*=\s*["']?\s*(?:https?:)?//"""
                     r"""|url\(\s*["']?\s*(?:https?:)?//|@import""", re.IGNORECASE)


def evil_touchpoints() -> list[dict[str, Any]]:
    """EVIL's journey: three failed deliveries, an invoice left overdue, a repair not fixed
    with a part of EVIL_PART at EVIL_PLACE (business time early 2026, before the horizon of
    the generated workload, so the invoice is overdue on the reference day)."""
    who = {"customer_id": EVIL}
    lines: list[dict[str, Any]] = []
    for n in range(3):
        at = f"2026-01-0{n + 2}T10:00:00Z"
        lines += [order(f"O-EVIL-{n}", at=at, **who),
                  tp("purchase.delivery_failed", at=at.replace("10:", "12:"),
                     order_id=f"O-EVIL-{n}", reason="lost", **who)]
    lines += [invoice("I-EVIL", at="2026-01-05T10:00:00Z", **who),
              repair("R-EVIL", at="2026-01-06T10:00:00Z", serial="SN-EVIL", **who),
              part("received", 2, part_id=EVIL_PART, location=EVIL_PLACE,
                   at="2026-01-06T11:00:00Z"),
              part("reserved", 1, part_id=EVIL_PART, location=EVIL_PLACE, repair_id="R-EVIL",
                   at="2026-01-06T12:00:00Z"),
              tp("repair.completed", at="2026-01-07T10:00:00Z", repair_id="R-EVIL",
                 outcome="not_fixed", **who)]
    return lines


def build_store(url: str, customers: int = 40) -> dict[str, Any]:
    """A store at ``url`` holding a generated workload and EVIL's journey, views current;
    returns the ingest summary."""
    lines = [text.encode() for text in generate(WorkloadOptions(customers=customers, seed=7))]
    lines += [json.dumps(obj).encode() for obj in evil_touchpoints()]
    application = open_store(url, create=True)
    try:
        summary = Ingestor(application).ingest(lines)
        Projector(application).catch_up()
    finally:
        application.close()
    document: dict[str, Any] = summary.as_json()
    return document
