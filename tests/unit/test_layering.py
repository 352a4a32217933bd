"""The tree's rules, checked: no package imports from a package that imports it back (directly or through
others), shared definitions (reference.apis) import nothing else of the reference, and the reference never
imports the suite. Entry points (`__main__.py`) import what they run and nothing imports them: they stand
outside the graph."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("reference", "kproof")


def _package_of(module: str) -> str:
    """The package a module belongs to (a package's __init__ belongs to the package itself)."""
    path = ROOT / Path(*module.split("."))
    return module if path.is_dir() else module.rpartition(".")[0]


def _imports() -> dict[str, set[str]]:
    """Package -> the packages of reference/ and kproof/ its modules import (itself left out)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for top in PACKAGES:
        for file in (ROOT / top).rglob("*.py"):
            if file.name == "__main__.py":
                continue
            module = ".".join(file.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            package = _package_of(module) if file.name != "__init__.py" else module
            for node in ast.walk(ast.parse(file.read_text())):
                names = []
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                for name in names:
                    if name.split(".")[0] not in PACKAGES:
                        continue
                    target = _existing(name)
                    if target is not None:
                        imported = target if (ROOT / Path(*target.split("."))).is_dir() else _package_of(target)
                        if imported != package:
                            graph[package].add(imported)
    return graph


def _existing(name: str) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ROOT / Path(*parts[:end])
        if candidate.is_dir() or candidate.with_suffix(".py").exists():
            return ".".join(parts[:end])
    return None


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path of imports from `start` back to itself, if any."""
    stack, seen = [(start, [start])], set()
    while stack:
        package, path = stack.pop()
        for imported in sorted(graph.get(package, ())):
            if imported == start:
                return [*path, start]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, [*path, imported]))
    return None


def test_no_package_imports_one_that_imports_it_back() -> None:
    graph = _imports()
    cycles = {tuple(c) for c in (_cycle_through(graph, p) for p in graph) if c}
    assert not cycles, "import cycles between packages:\n" + "\n".join(" -> ".join(c) for c in sorted(cycles))


def test_shared_definitions_stand_below_every_area() -> None:
    graph = _imports()
    assert graph.get("reference.apis", set()) <= {"reference.apis"}, graph.get("reference.apis")


def test_the_reference_never_imports_the_suite() -> None:
    graph = _imports()
    leaks = {p: sorted(t for t in targets if t.startswith("kproof")) for p, targets in graph.items()
             if p.startswith("reference")}
    assert not any(leaks.values()), leaks
