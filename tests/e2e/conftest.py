from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import Journey


@pytest.fixture
def journey(tmp_path: Path) -> Journey:
    return Journey(f"sqlite:///{tmp_path / 'journey.db'}", tmp_path)
