"""Every query answer says which log position it reflects (issue 12).

After ``ingest --no-views`` the views lag the log until ``journey project``: the ``--json``
documents carry ``"freshness": {"view_position", "log_head", "source"}`` and the table and
CSV output warn on stderr; answers replayed from the log (``--as-of``) say so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import Journey, case, line, order, part, repair, tp

LINES = [order("O1"), tp("purchase.delivery_failed", order_id="O1", reason="away"),
         case("K1", subject={"type": "order", "id": "O1"}), repair("R1"), part("received", 3),
         part("reserved", 1, repair_id="R1")]
QUERIES = [("timeline", "C1"), ("customers",), ("errors",), ("stock",)]


@pytest.fixture
def lagging(journey: Journey) -> Journey:
    """A store whose log holds every line and whose views hold none of them."""
    summary = journey.json("ingest", "-", "--no-views",
                           stdin=b"".join(line(obj) + b"\n" for obj in LINES))
    assert summary["accepted"] == len(LINES)
    return journey


def _head(journey: Journey) -> int:
    """The log's last position, as the auditors' history shows it."""
    events = journey.json("history", "customer:C1")["events"]
    return max(int(event["position"]) for event in events)


@pytest.mark.parametrize("query", QUERIES, ids=lambda args: args[0])
def test_json_answers_show_the_views_behind_the_log_until_project(
    lagging: Journey, query: tuple[str, ...],
) -> None:
    head = _head(lagging)
    assert head >= len(LINES)

    before = lagging.json(*query)["freshness"]
    lagging.run("project")
    after = lagging.json(*query)["freshness"]

    assert before == {"view_position": 0, "log_head": head, "source": "views"}
    assert after == {"view_position": head, "log_head": head, "source": "views"}


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_table_and_csv_output_warn_on_stderr_while_the_views_lag(
    lagging: Journey, fmt: str,
) -> None:
    head = _head(lagging)

    lagging_run = lagging.run("stock", "--format", fmt)
    lagging.run("project")
    current_run = lagging.run("stock", "--format", fmt)

    warning = (f"journey: warning: the views reflect the log up to position 0 of {head:,}: "
               "run journey project to bring them up to date")
    assert warning in lagging_run.stderr.decode().splitlines()
    assert "journey: warning" not in current_run.stderr.decode()
    assert "journey: warning" not in lagging_run.stdout.decode()  # stdout keeps the data


def test_an_answer_replayed_from_the_log_says_so_and_is_complete(lagging: Journey) -> None:
    head = _head(lagging)

    answer = lagging.json("timeline", "C1", "--as-of", "2026-12")
    table = lagging.run("errors", "--as-of", "2026-12")

    assert answer["freshness"] == {"view_position": head, "log_head": head, "source": "log",
                                   "as_of": "2026-12-31T23:59:59.999999Z", "known_at": None}
    assert len(answer["entries"]) == 5  # replayed: complete although the views are empty
    assert "journey: warning" not in table.stderr.decode()
    assert "replayed from the log (as of 2026-12-31T23:59:59.999999Z), up to position" in (
        " ".join(table.stdout.decode().split()))


def test_a_new_store_is_current_at_position_zero(tmp_path: Path) -> None:
    journey = Journey(f"sqlite:///{tmp_path / 'journey.db'}", tmp_path)
    journey.run("project")

    freshness = journey.json("errors")["freshness"]

    assert freshness == {"view_position": 0, "log_head": 0, "source": "views"}
