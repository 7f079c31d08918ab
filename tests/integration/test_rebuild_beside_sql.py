"""`journey rebuild` beside analysts' own SQL, and after a failure (issue 12), both stores.

Before the fix the swap dropped each live ``view_*`` table and renamed the rebuilt one over
it. PostgreSQL refuses that drop when an analyst's SQL view depends on the table
(``cannot drop table view_error_rates because other objects depend on it``); SQLite (3.26+)
refuses the rename (``error in view analyst_rates: no such table``). Either way the rebuild
failed and left its ``view_*_next`` tables behind, as did any other failure, Ctrl-C or
``kill`` midway. Now the analyst's views survive and answer with the rebuilt rows, and a
rebuild that does not finish leaves no ``_next`` table and the live views as they were.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from journey.infra.store import open_store
from journey.infra.views.database import ViewDb
from journey.projections.tables import PROJECTIONS
from tests.support import JOURNEY, Journey, behind_the_engines_back, case, line, order, part, tp

#: An analyst's views: one on a small table, one on the largest (a join of both).
ANALYST_SQL = (
    "CREATE VIEW {p}analyst_rates AS SELECT kind, month, touchpoints, errors "
    "FROM {p}view_error_rates",
    "CREATE VIEW {p}analyst_customers AS SELECT customer_id, COUNT(*) AS n "
    "FROM {p}view_touchpoints WHERE customer_id IS NOT NULL GROUP BY customer_id",
)


def _lines(n: int) -> bytes:
    rows = []
    for i in range(n):
        rows += [order(f"O{i}", customer_id=f"C{i % 7}"),
                 tp("purchase.delivery_failed", order_id=f"O{i}", customer_id=f"C{i % 7}",
                    reason="nobody home"),
                 case(f"K{i}", customer_id=f"C{i % 7}", subject={"type": "order", "id": f"O{i}"}),
                 part("received", qty=3, part_id=f"P{i % 5}")]
    return b"".join(line(r) + b"\n" for r in rows)


def _prefix(url: str) -> str:
    """How SQL run behind the engine's back names the store's tables."""
    if url.startswith("sqlite"):
        return ""
    return f'"{parse_qs(urlsplit(url).query)["schema"][0]}".'


@contextmanager
def _sql(url: str) -> Iterator[Any]:
    app = open_store(url)
    try:
        with behind_the_engines_back(app) as cursor:
            yield cursor
    finally:
        app.close()


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with _sql(url) as c:
        c.execute(sql.format(p=_prefix(url)))
        return sorted(tuple(r) for r in c.fetchall())


def _scratch_tables(url: str) -> list[str]:
    """The store's tables and tracking rows of a rebuild generation (``_next``, ``_audit``)."""
    if url.startswith("sqlite"):
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        schema = parse_qs(urlsplit(url).query)["schema"][0]
        sql = ("SELECT table_name FROM information_schema.tables "
               f"WHERE table_schema = '{schema}'")
    with _sql(url) as c:
        c.execute(sql)
        tables = [r[0] for r in c.fetchall()]
        app = open_store(url)
        c.execute(f"SELECT application_name FROM {ViewDb(app).tracking_table}")
        app.close()
        return sorted(name for name in tables + [r[0] for r in c.fetchall()]
                      if name.endswith(("_next", "_audit")))


def _views(url: str) -> dict[str, Any]:
    """Every live view table (rows sorted) and the live tracking positions."""
    app = open_store(url)
    try:
        db = ViewDb(app)
        out: dict[str, Any] = {}
        with app.journey_recorder.read_rows() as c:
            for tables in PROJECTIONS.values():
                for table in tables:
                    c.execute(f"SELECT * FROM {getattr(db.tables(), table)}")
                    out[table] = sorted(tuple(row) for row in c.fetchall())
            c.execute(f"SELECT application_name, notification_id FROM {db.tracking_table}")
            out["tracking"] = sorted(tuple(row) for row in c.fetchall()
                                     if not row[0].endswith(("_next", "_audit")))
        return out
    finally:
        app.close()


@pytest.fixture
def journey(store_url: str, tmp_path: Path) -> Journey:
    journey = Journey(store_url, tmp_path)
    journey.run("ingest", "-", stdin=_lines(40))
    return journey


def test_an_analysts_sql_views_survive_a_rebuild_and_answer_with_the_new_rows(
        journey: Journey) -> None:
    url = journey.db
    with _sql(url) as c:
        for statement in ANALYST_SQL:
            c.execute(statement.format(p=_prefix(url)))
        # Make the live rows wrong, so only a real swap gives the right answer.
        c.execute(f"UPDATE {_prefix(url)}view_error_rates SET touchpoints = 999")
        c.execute(f"DELETE FROM {_prefix(url)}view_touchpoints WHERE customer_id = 'C1'")
    journey.run("rebuild")
    right_rates = {(r["kind"], r["month"], r["touchpoints"], r["errors"])
                   for r in journey.json("errors")["by_kind_month"]}

    rates = _rows(url, "SELECT * FROM {p}analyst_rates")
    customers = _rows(url, "SELECT * FROM {p}analyst_customers")

    assert set(rates) == right_rates and 999 not in {r[2] for r in rates}
    assert ("purchase", "2026-03", 80, 40) in rates
    assert customers == sorted((f"C{i}", 3 * len(range(i, 40, 7))) for i in range(7))
    assert _scratch_tables(url) == []
    journey.run("ingest", "-", stdin=line(order("O-late", customer_id="C1")) + b"\n")
    assert ("C1", 3 * 6 + 1) in _rows(url, "SELECT * FROM {p}analyst_customers")  # still live


def test_a_rebuild_that_fails_midway_leaves_the_live_views_and_no_next_tables(
        journey: Journey) -> None:
    url = journey.db
    before = _views(url)
    r = open_store(url).journey_recorder
    with _sql(url) as c:  # an event the views cannot decode, already folded into them
        c.execute(f"UPDATE {r.events_sql} SET state = {r.ph} WHERE {r.position_sql} = 90",
                  (b"not json",))

    failed = journey.run("rebuild", check=False, env={"JOURNEY_VIEW_BATCH_SIZE": "50"})

    assert failed.returncode == 1, failed.stderr.decode()
    assert failed.stderr.decode().strip().splitlines()[-1].startswith("journey: error:")
    assert _scratch_tables(url) == []
    assert _views(url) == before


def _rebuild(url: str, failpoint: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [JOURNEY, "--db", url, "rebuild"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "JOURNEY_LOG_LEVEL": "warning", "JOURNEY_VIEW_BATCH_SIZE": "40",
             "JOURNEY_FAILPOINTS": failpoint},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _stopped(process: subprocess.Popen[bytes]) -> None:
    """Wait until the process stopped itself at its failpoint (SIGSTOP)."""
    deadline = time.monotonic() + 60
    while Path(f"/proc/{process.pid}/stat").read_text().split(")")[-1].split()[0] != "T":
        assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "never reached its failpoint"
        time.sleep(0.02)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_an_interrupted_rebuild_leaves_the_live_views_and_no_next_tables(
        journey: Journey, how: signal.Signals) -> None:
    url = journey.db
    before = _views(url)
    victim = _rebuild(url, "views.rebuild_batch=2:stop")  # two batches in the _next tables
    _stopped(victim)
    assert _scratch_tables(url) != []  # midway indeed

    victim.send_signal(how)
    victim.send_signal(signal.SIGCONT)
    _, err = victim.communicate(timeout=60)

    assert victim.returncode == 130, err.decode()
    assert _scratch_tables(url) == []
    assert _views(url) == before


def test_a_rebuild_killed_outright_is_swept_by_the_next_projector_and_holds_off_a_second(
        journey: Journey) -> None:
    url = journey.db
    before = _views(url)
    victim = _rebuild(url, "views.rebuild_batch=2:stop")
    _stopped(victim)
    try:
        second = journey.run("rebuild", check=False)
        project = journey.run("project", check=False)  # must not sweep a running rebuild
        tables_while_running = _scratch_tables(url)
    finally:
        victim.kill()
        victim.wait(timeout=60)

    assert second.returncode == 1
    assert second.stderr.decode().strip().splitlines()[-1] == (
        "journey: error: another process is rebuilding the views of this store (it holds "
        "the rebuild_next lease): wait for it to finish")
    assert project.returncode == 0, project.stderr.decode()
    assert tables_while_running != []
    assert _scratch_tables(url) == tables_while_running  # kill -9: nothing could clean up
    assert _views(url) == before
    journey.run("project")
    assert _scratch_tables(url) == []
    assert _views(url) == before
    assert journey.json("rebuild")["events"] > 0
