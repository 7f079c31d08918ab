"""Reading stores written before the journey namespace leaves other programs' topics alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_a_program_with_its_own_domain_package_keeps_its_topics(tmp_path: Path) -> None:
    (tmp_path / "domain").mkdir()
    (tmp_path / "domain" / "__init__.py").write_text("")
    (tmp_path / "domain" / "things.py").write_text(textwrap.dedent("""
        class Thing:
            class Made:
                pass
    """))
    program = textwrap.dedent(f"""
        from eventsourcing.utils import resolve_topic
        from journey.infra.store import open_store
        app = open_store("sqlite:///{tmp_path / 'journey.db'}")  # registers the old topics
        import domain.things
        assert resolve_topic("domain.things:Thing.Made") is domain.things.Thing.Made
        from journey.domain.orders import Order
        assert resolve_topic("domain.orders:Order.Placed") is Order.Placed
        app.close()
        print("ok")
    """)

    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)

    assert result.stdout.strip() == "ok", result.stderr
