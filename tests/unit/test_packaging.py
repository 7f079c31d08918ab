"""What pyproject.toml installs: every package of the five folders under ``journey``."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("domain", "projections", "consumers", "schemas", "infra")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _package_dirs() -> dict[str, str]:
    """Every folder with Python files, as the package name it installs under."""
    found = {"journey": "journey"}
    for folder in FOLDERS:
        for path in sorted({p.parent for p in (ROOT / folder).rglob("*.py")}):
            relative = path.relative_to(ROOT)
            found["journey." + ".".join(relative.parts)] = relative.as_posix()
    return found


def test_every_folder_with_python_files_is_a_listed_package() -> None:
    assert sorted(_package_dirs()) == sorted(SETUPTOOLS["packages"])


def test_every_package_folder_has_an_init_module() -> None:
    missing = [folder for folder in _package_dirs().values()
               if not (ROOT / folder / "__init__.py").exists()]
    assert missing == []


def test_the_five_folders_map_under_journey_and_nothing_else_does() -> None:
    expected = {"journey": "journey", **{f"journey.{f}": f for f in FOLDERS}}
    assert expected == SETUPTOOLS["package-dir"]


def test_the_package_is_typed_and_the_command_is_journey() -> None:
    assert (ROOT / "journey" / "py.typed").exists()
    assert "py.typed" in SETUPTOOLS["package-data"]["journey"]
    assert PYPROJECT["project"]["scripts"] == {"journey": "journey.infra.cli:main"}
