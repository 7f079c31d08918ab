"""The built wheel: one top-level package, ``journey``, and the bare folder names nowhere.

The wheel is installed into a folder of its own and imported with site-packages switched
off (``python -S``): only that folder and the dependencies' folder are on the path, so
neither the editable install nor the repository can stand in for it.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: a build leaves build/ and *.egg-info behind, and stale files there
    # could slip into later wheels built from the checkout.
    source = tmp_path_factory.mktemp("source") / "journey-engine"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "demo", "*.egg-info", "__pycache__", ".*_cache",
        ".hypothesis", "*.db", "*.db-*"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                    str(out), str(source)], check=True, capture_output=True, timeout=600)
    (built,) = out.glob("journey_engine-*.whl")
    return built


def test_the_wheel_holds_only_the_journey_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "journey", wheel.name.split("-py3")[0] + ".dist-info"}
    for expected in ("journey/py.typed", "journey/domain/orders.py",
                     "journey/infra/store/sqlite.py", "journey/schemas/avro/OrderPlaced.avsc",
                     "journey/infra/http/dashboard/templates/overview.html",
                     "journey/infra/http/dashboard/static/dashboard.css"):
        assert expected in names


def test_installed_it_imports_as_journey_and_not_by_the_bare_names(wheel: Path,
                                                                  tmp_path: Path) -> None:
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                    "--target", str(target), str(wheel)], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target),
                                                        *site.getsitepackages()])}

    def python(code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    found = python("import journey.domain.orders, journey.infra.cli; "
                   "print(journey.domain.orders.__file__)")
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip().startswith(str(target))
    for bare in ("domain", "infra", "schemas", "projections", "consumers"):
        refused = python(f"import {bare}")
        assert f"No module named '{bare}'" in refused.stderr
