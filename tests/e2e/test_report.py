"""``journey report``: the overview as one HTML file that refers to nothing outside itself,
written atomically, over a regular file only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from markupsafe import escape

from journey.infra.store import open_store
from tests.dashboard_support import EVIL, OUTSIDE, build_store
from tests.support import Journey


def test_the_report_is_the_overview_in_one_self_contained_file(journey: Journey,
                                                               tmp_path: Path) -> None:
    build_store(journey.db, customers=20)

    written = journey.json("report", "-o", "report.html", "--contact-cost", "12.50")

    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert written == {"output": "report.html", "bytes": len(html.encode())}
    assert OUTSIDE.search(html) is None, OUTSIDE.search(html)
    for outside in ("<script", "<link", "<img", "/customers/", "/static/"):
        assert outside not in html
    assert html.count("<svg") == 6 and "<style>" in html
    assert "Failure demand cost" in html and "Current · log position" in html
    assert str(escape(EVIL)) in html  # in the overdue invoices, as text
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o600  # customer ids


def test_the_report_replaces_a_regular_file_and_nothing_else(journey: Journey,
                                                            tmp_path: Path) -> None:
    open_store(journey.db, create=True).close()
    (tmp_path / "old.html").write_text("an old report")
    (tmp_path / "folder").mkdir()
    (tmp_path / "link.html").symlink_to(tmp_path / "old.html")
    os.mkfifo(tmp_path / "pipe")

    journey.run("report", "-o", "old.html")
    refused = {name: journey.run("report", "-o", name, check=False)
               for name in ("folder", "link.html", "pipe", "missing/report.html")}

    assert (tmp_path / "old.html").read_text().startswith("<!doctype html>")
    for name, what in (("folder", "is a directory"), ("link.html", "is a symbolic link"),
                       ("pipe", "is a FIFO"), ("missing/report.html", "cannot write")):
        assert refused[name].returncode == 1, name
        assert what in refused[name].stderr.decode(), refused[name].stderr
    assert (tmp_path / "link.html").is_symlink() and (tmp_path / "folder").is_dir()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]
