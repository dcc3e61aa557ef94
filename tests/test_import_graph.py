"""The raresound modules import one another without a loop.

A loop makes import order matter (a half-initialised module raises on first use) and means no layer
can be read on its own. Module-level imports are the edges: an import inside a function is a
deliberate lazy import (heavy or optional), and an `if TYPE_CHECKING:` block never runs. A lazy
import is not a way to hide a loop either, so a second test counts them too.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "raresound"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()  # a package's __init__ is the package node
    return ".".join(parts)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_in(body: list[ast.stmt], lazy: bool = False):
    """Import statements that run when the module is imported (class bodies run; function bodies
    don't), and with `lazy` those in function bodies too; never those under `if TYPE_CHECKING:`."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not lazy:
            continue
        elif isinstance(node, ast.If) and is_type_checking(node.test):
            yield from imports_in(node.orelse, lazy)
        else:
            # class and function bodies, try/except/finally, with, for, a plain `if`
            for field in ("body", "handlers", "orelse", "finalbody"):
                yield from imports_in(getattr(node, field, []), lazy)


def resolve_from(node: ast.ImportFrom, importer: str, is_package: bool) -> str | None:
    if not node.level:
        return node.module
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(lazy: bool = False) -> dict[str, set[str]]:
    files = sorted((SRC / PACKAGE).rglob("*.py"))
    modules = {module_name(path) for path in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        name = module_name(path)
        edges = graph.setdefault(name, set())
        for node in imports_in(ast.parse(path.read_text(), str(path)).body, lazy):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = resolve_from(node, name, path.name == "__init__.py")
                if source is None:
                    continue
                # `from raresound.pkg import name` imports the submodule when `name` is one.
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
            edges.update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One loop per strongly connected component of more than one module (Tarjan, then a path back)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [loop_through(min(c), graph, c) for c in components]


def loop_through(start: str, graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """The shortest import path from `start` back to itself inside its component (breadth first)."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start} is in a component but on no loop")


def test_graph_sees_the_modules():
    graph = import_graph()
    assert "raresound.runs" in graph["raresound.scoring"]  # a plain module-level import
    assert "raresound.detection.postprocess" in graph["raresound.detect"]  # `from raresound.detection.postprocess import`
    assert "raresound.detection" in graph  # a package is its __init__
    assert "raresound.detect" not in graph["raresound.streaming"]  # under `if TYPE_CHECKING:` only
    assert "raresound.scoring" not in graph["raresound.api"]  # imported inside a function only
    assert "raresound.scoring" in import_graph(lazy=True)["raresound.api"]


def test_no_import_loops():
    found = cycles(import_graph())
    assert not found, "import loops:\n" + "\n".join(" -> ".join(loop) for loop in found)


def test_no_loops_hidden_by_lazy_imports():
    found = cycles(import_graph(lazy=True))
    assert not found, "loops closed by imports inside functions:\n" + "\n".join(" -> ".join(l) for l in found)
