"""The layout of ``marmotdb/sql`` (sql/DESIGN.md §2): no import circle passes through the
catalog, the variables, the text layer, the types, EXPLAIN or the function families, and inside
each layered package the modules' imports go one way.

The import graph is read from the source (every ``import`` anywhere in a module: top level,
``TYPE_CHECKING`` blocks and function bodies alike, since a lazy import is a circle all the
same), and no strongly connected component of it may hold a module of those packages (but the
few named below). The catalog's and the variables' modules must also import on their own in a
fresh interpreter.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import marmotdb.sql

SQL_DIR = pathlib.Path(marmotdb.sql.__file__).resolve().parent
ROOT = SQL_DIR.parent.parent
# package -> its modules that may be in a circle, each with the reason in sql/DESIGN.md §2
ACYCLIC_PACKAGES = {
    "marmotdb.sql.catalog": set(),
    "marmotdb.sql.variables": set(),
    "marmotdb.sql.text": set(),
    "marmotdb.sql.types": set(),
    "marmotdb.sql.explain": set(),
    "marmotdb.sql.definition": set(),
    "marmotdb.sql.functions": {"marmotdb.sql.functions.registry"},
}
ALONE_PACKAGES = ("marmotdb.sql.catalog", "marmotdb.sql.variables")
LAYERED_PACKAGES = ("marmotdb.sql.catalog", "marmotdb.sql.definition", "marmotdb.sql.explain",
                    "marmotdb.sql.functions",
                    "marmotdb.sql.text", "marmotdb.sql.types", "marmotdb.sql.variables")


def module_names() -> dict[str, pathlib.Path]:
    names = {}
    for path in SQL_DIR.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def import_graph(modules: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    """module -> the marmotdb.sql modules it imports (``from pkg import mod`` names mod)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in modules:
                        found.add(full)
                    elif node.module in modules:
                        found.add(node.module)
        found.discard(name)
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_cycle_finder_finds_a_circle_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", ACYCLIC_PACKAGES)
def test_no_import_circle_passes_through_the_package(package: str) -> None:
    modules = module_names()
    assert any(name.startswith(package + ".") for name in modules)
    allowed = ACYCLIC_PACKAGES[package]
    caught = [sorted(c) for c in cycles(import_graph(modules))
              if any(name.startswith(package + ".") and name not in allowed for name in c)]
    assert caught == []


@pytest.mark.parametrize("package", LAYERED_PACKAGES)
def test_the_package_modules_import_one_way(package: str) -> None:
    inside = {name: {d for d in deps if d.startswith(package + ".")}
              for name, deps in import_graph(module_names()).items()
              if name.startswith(package + ".")}
    assert inside
    assert [sorted(c) for c in cycles(inside)] == []


@pytest.mark.parametrize("module", sorted(
    name for name in module_names() if name.startswith(ALONE_PACKAGES)))
def test_the_module_imports_alone(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
