"""The shape of the code: one namespace, no import circle, the folders' import rules.

The modules are read as text (``ast``), not imported: what counts is what each module
imports when it is loaded, i.e. its top-level imports (``if``/``try`` blocks included,
``if TYPE_CHECKING:`` blocks and imports inside functions not).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("domain", "projections", "consumers", "schemas", "infra")

#: What each folder may import of ours (ARCHITECTURE: the folders and their rules).
MAY_IMPORT = {
    "schemas": set(),
    "domain": {"schemas"},
    "projections": {"domain"},
    "consumers": {"domain", "projections", "infra"},
    "infra": {"domain", "projections", "schemas", "consumers"},
}


#: Within infra/ and between the folders, by room (an infra sub-package or top module, or a
#: folder): what each may import. The README's map says the same; together with the folder
#: rules above this keeps the rooms a graph without circles.
ROOM_MAY_IMPORT = {
    "schemas": set(),
    "domain": {"schemas"},
    "projections": {"domain"},
    "infra.settings": set(),
    "infra.logs": {"infra.settings"},
    "infra.failpoints": set(),
    "infra.collector": set(),
    "infra.bounds": {"domain"},
    "infra.parameters": {"domain", "infra.bounds", "infra.settings", "schemas"},
    "infra.store": {"domain", "infra.settings", "infra.failpoints"},
    "infra.ingest": {"domain", "schemas", "infra.store", "infra.failpoints", "infra.collector"},
    "infra.views": {"domain", "projections", "infra.store", "infra.failpoints"},
    "infra.audit": {"domain", "projections", "infra.store", "infra.views"},
    "infra.kafka": {"domain", "schemas", "infra.store", "infra.views", "infra.failpoints"},
    "infra.workload": {"domain", "schemas"},
    "consumers": {"projections", "infra.store", "infra.ingest", "infra.views", "infra.kafka",
                  "infra.failpoints", "infra.collector"},
    "infra.http": {"domain", "projections", "infra.settings", "infra.logs", "infra.bounds",
                   "infra.parameters", "infra.store", "infra.ingest", "infra.views",
                   "infra.audit", "schemas"},
    "infra.cli": {"domain", "projections", "consumers", "infra.settings", "infra.logs",
                  "infra.bounds", "infra.parameters", "infra.store", "infra.ingest",
                  "infra.views", "infra.audit", "infra.kafka", "infra.workload", "infra.http",
                  "schemas"},
}


def room(module: str) -> str:
    """``journey.infra.store.sqlite`` -> ``infra.store``; ``journey.domain.orders`` ->
    ``domain``."""
    parts = module.split(".")
    return ".".join(parts[1:3]) if parts[1] == "infra" and len(parts) > 2 else parts[1]


def _modules() -> dict[str, Path]:
    found = {"journey": ROOT / "journey" / "__init__.py"}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(("journey", *parts))] = path
    return found


MODULES = _modules()


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        if isinstance(node, ast.If):
            test = node.test
            if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                continue
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody,
                          *(h.body for h in node.handlers)):
                yield from _top_level(block)
        else:
            yield node


def _imports(module: str) -> set[str]:
    """The project modules ``module`` imports when it is loaded."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    found: set[str] = set()
    for node in _top_level(tree.body):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from pkg import sub`` imports the sub-module when there is one.
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES
                     else node.module for a in node.names]
        else:
            continue
        found.update(name for name in names if name in MODULES)
    found.discard(module)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_every_folder_and_the_imports_between_them() -> None:
    assert {m.split(".")[1] for m in MODULES if m != "journey"} == set(FOLDERS)
    assert "journey.domain.errors" in GRAPH["journey.domain.base"]
    assert "journey.infra.store.recorder" in GRAPH["journey.infra.store.sqlite"]


def test_no_module_imports_itself_back_through_others() -> None:
    assert _cycles() == []


def test_a_cycle_is_found_when_there_is_one() -> None:
    GRAPH["journey.domain.errors"].add("journey.domain.base")  # base imports errors
    try:
        assert ["journey.domain.base", "journey.domain.errors"] in _cycles()
    finally:
        GRAPH["journey.domain.errors"].discard("journey.domain.base")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_folder_imports_only_what_its_layer_may(module: str) -> None:
    if module == "journey":
        return
    folder = module.split(".")[1]
    crossing = {target for target in GRAPH[module]
                if target != "journey" and target.split(".")[1] not in {folder,
                                                                       *MAY_IMPORT[folder]}}
    assert crossing == set()


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m not in (
    "journey", "journey.infra")))
def test_each_room_imports_only_the_rooms_it_may(module: str) -> None:
    crossing = {room(target) for target in GRAPH[module]
                if target not in ("journey", "journey.infra") and room(target) != room(module)}
    assert crossing - ROOM_MAY_IMPORT[room(module)] == set()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_much_longer_than_400_lines(module: str) -> None:
    assert len(MODULES[module].read_text().splitlines()) <= 450


def test_nothing_imports_the_bare_folder_names() -> None:
    bare = set()
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module
                     else [])
            bare |= {(module, n) for n in names if n.split(".")[0] in FOLDERS}
    assert bare == set()


def test_the_rooms_allowed_imports_have_no_circle_and_cover_every_room() -> None:
    assert {room(m) for m in MODULES if m not in ("journey", "journey.infra")} == set(
        ROOM_MAY_IMPORT)
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"circle: {' -> '.join((*path, node))}"
        if node not in done:
            for target in ROOM_MAY_IMPORT[node]:
                visit(target, (*path, node))
            done.add(node)

    for node in ROOM_MAY_IMPORT:
        visit(node, ())
