"""A purchase-heavy workload: orders placed, delivered, invoiced and paid, as shops record them.

Deterministic (same seed and size, same bytes). Customers order with Zipf-like weights (the
k-th customer in proportion to k^-0.8), so a few customers hold thousands of orders and most
hold a handful. Every order is placed (1 to 4 lines), delivered, invoiced (the order's total,
due in 30 days) and paid, one in ten in two instalments; lines come in business-time order
across customers, so every line is accepted by the contract's rules (v1.1, 1.2 and 2.2).

    python -m benchmarks.purchases [--lines 279000] [--seed 3] -o purchases.jsonl
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 86400
DAY = 86400
SKUS = [f"SKU-{n:05d}" for n in range(20_000, 24_000)]
PRICES = {sku: random.Random(sku).choice([199, 499, 999, 1999, 4999, 12999, 89999]) for sku in SKUS}


def customer_weights(customers: int, exponent: float = 0.8) -> list[float]:
    """Cumulative weights: customer k orders in proportion to k^-exponent."""
    return list(itertools.accumulate((k + 1) ** -exponent for k in range(customers)))


def order_touchpoints(rng: random.Random, number: int, customer: str) -> list[tuple[float, dict]]:
    """One order's touchpoints, each with its business time in seconds since START."""
    placed = rng.uniform(0, SPAN_SECONDS)
    delivered = placed + rng.uniform(0.5, 6) * DAY
    invoiced = delivered + rng.uniform(0.01, 1) * DAY
    order_id, invoice_id = f"ORD-P{number:07d}", f"INV-P{number:07d}"
    lines = [{"sku": sku, "qty": rng.choice((1, 1, 1, 2, 3, 10)), "unit_price": PRICES[sku] / 100}
             for sku in rng.sample(SKUS, rng.randint(1, 4))]
    cents = sum(round(line["unit_price"] * 100) * line["qty"] for line in lines)
    base = {"customer_id": customer}
    due = (START + timedelta(seconds=invoiced + 30 * DAY)).date().isoformat()
    out = [
        (placed, {"type": "purchase.placed", **base,
                  "channel": rng.choice(("web", "web", "phone", "store")), "source": "webshop",
                  "order_id": order_id, "lines": lines, "currency": "EUR"}),
        (delivered, {"type": "purchase.delivered", **base, "channel": "system",
                     "source": rng.choice(("carrier-dhl", "carrier-ups", "carrier-dpd")),
                     "order_id": order_id}),
        (invoiced, {"type": "invoice.issued", **base, "channel": "email", "source": "billing",
                    "invoice_id": invoice_id, "order_id": order_id, "amount": cents / 100,
                    "currency": "EUR", "due_date": due}),
    ]
    paid = invoiced + rng.uniform(1, 40) * DAY
    instalments = [cents // 2, cents - cents // 2] if cents > 1 and rng.random() < 0.1 else [cents]
    for n, part in enumerate(instalments):
        out.append((paid + n * 14 * DAY, {"type": "invoice.paid", **base, "channel": "system",
                                          "source": "payments", "invoice_id": invoice_id,
                                          "amount": part / 100}))
    return out


def generate(path: Path, lines: int = 279_000, seed: int = 3) -> int:
    """Write about ``lines`` touchpoints to ``path`` (whole orders); return how many."""
    rng = random.Random(seed)
    customers = max(1, lines // 28)  # about 7 orders (28 lines) per customer on average
    cumulative = customer_weights(customers)
    total = cumulative[-1]
    timed: list[tuple[float, int, dict]] = []
    number = 0
    while len(timed) < lines:
        number += 1
        k = bisect.bisect_left(cumulative, rng.uniform(0, total))
        for at, body in order_touchpoints(rng, number, f"CUST-P{k + 1:06d}"):
            timed.append((at, len(timed), body))
    timed.sort(key=lambda item: (item[0], item[1]))
    with path.open("w", encoding="utf-8") as out:
        for n, (at, _, body) in enumerate(timed, start=1):
            when = (START + timedelta(seconds=round(at))).strftime("%Y-%m-%dT%H:%M:%SZ")
            record = {"touchpoint_id": f"pp-{n:09d}", "occurred_at": when, **body}
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return len(timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=279_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    print(f"{generate(args.output, args.lines, args.seed)} lines written to {args.output}")


if __name__ == "__main__":
    main()
