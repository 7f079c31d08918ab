"""Deterministic workload generator: realistic customer journeys as touchpoint JSON lines.

The same options always give the same bytes. `generate` yields the lines, `write_workload`
writes them, and `generate_with_labels` pairs each line with what a correct engine must
answer for it: "valid", "duplicate" or the contract's reject reason.

Modules: ``options`` (what to generate, the labels), ``catalogue`` (fixed tables and
weighted draws), ``entities`` (what the simulation tracks), ``simulation`` (the event loop:
scheduling, ids, timestamps, emitting lines, late arrivals), ``orders``, ``invoices``,
``cases``, ``repairs`` and ``stock`` (the lifecycles, mixed into the simulation),
``journeys`` (the composed simulation, customer arrivals, the entry points) and
``bad_lines`` (the lines that must be rejected).

All steps draw from one seeded generator, so code that moves must keep the order of the
draws: ``tests/e2e/test_same_answers.py`` pins one workload by its hash.
"""

from journey.infra.workload.journeys import generate, generate_with_labels, write_workload
from journey.infra.workload.options import (
    DUPLICATE,
    REJECT_REASONS,
    TYPES,
    VALID,
    WorkloadOptions,
)

__all__ = [
    "DUPLICATE",
    "REJECT_REASONS",
    "TYPES",
    "VALID",
    "WorkloadOptions",
    "generate",
    "generate_with_labels",
    "write_workload",
]
