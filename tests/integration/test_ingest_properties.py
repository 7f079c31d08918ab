"""Whatever arrives, ingest never crashes and gives every non-blank line exactly one outcome."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey.infra.ingest import Ingestor
from journey.infra.store import open_store
from tests.support import line, order, part, repair, tp

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
TYPES = ["purchase.placed", "purchase.delivered", "invoice.paid", "complaint.opened",
         "repair.requested", "part.issued", "part.transferred", "nope"]
envelopes = st.fixed_dictionaries(
    {"touchpoint_id": st.sampled_from(["a", "b", "c", 7]), "type": st.sampled_from(TYPES)},
    optional={
        "occurred_at": st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01", 5]),
        "customer_id": st.sampled_from(["C1", "C2", ""]),
        "order_id": st.sampled_from(["O1", "O2"]),
        "part_id": st.just("P1"), "location": st.just("L1"), "qty": st.integers(-2, 3),
        "to_location": st.just("L2"), "repair_id": st.just("R1"),
    },
)
VALID = [order("O1"), tp("purchase.delivered", order_id="O1"), repair("R1"),
         part("received", 2), part("issued", 1, repair_id="R1")]
lines = st.one_of(
    st.binary(max_size=40).filter(lambda b: b"\n" not in b),
    json_values.map(lambda v: json.dumps(v).encode()),
    envelopes.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([line(v) for v in VALID]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines, max_size=12), st.integers(1, 5))
def test_any_lines_get_exactly_one_outcome_each(batch: list[bytes], batch_size: int) -> None:
    non_blank = [b for b in batch if b.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        app = open_store(f"sqlite:///{Path(tmp) / 'j.db'}")
        try:
            summary = Ingestor(app, batch_size=batch_size).ingest(non_blank)
            counts = app.journey_recorder.counts()
        finally:
            app.close()
    assert summary.read == len(non_blank)
    assert summary.accepted + summary.duplicates + summary.rejected == summary.read
    assert counts["rejects"] == summary.rejected
    assert counts["touchpoints"] == summary.accepted
    assert sum(summary.rejected_by_reason.values()) == summary.rejected


def test_the_touchpoint_id_is_in_the_context_of_what_is_logged_while_deciding_it(
    tmp_path: Path,
) -> None:
    import structlog
    from structlog.testing import capture_logs

    from journey.infra.logs import configure_logging

    configure_logging("debug")
    app = open_store(f"sqlite:///{tmp_path / 'j.db'}")
    try:
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            Ingestor(app).ingest([line(tp("purchase.delivered", order_id="O404",
                                          touchpoint_id="tp-ctx"))])
    finally:
        app.close()
        configure_logging("info")
    (rejected,) = [e for e in logs if e["event"] == "touchpoint.rejected"]
    assert rejected["touchpoint_id"] == "tp-ctx"
    assert rejected["reason"] == "unknown_entity"
    assert structlog.contextvars.get_contextvars() == {}
