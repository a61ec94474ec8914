"""The package's import graph has no cycle (issue 9): every module under barctl/ read with ast."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "barctl"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, known: set[str]) -> set[str]:
    """barctl modules imported anywhere in `tree` (module level and inside functions)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found & known


def import_graph() -> dict[str, set[str]]:
    """Module -> the barctl modules it imports (TYPE_CHECKING imports included)."""
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {_module_name(path) for path in paths}
    graph = {}
    for path in paths:
        name = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        graph[name] = _imported(tree, known) - {name, "barctl"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as [a, b, ..., a], or [] when there is none (depth-first search)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[module] = "done"
        return []

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return []


def test_find_cycle_reports_a_cycle_and_accepts_a_tree() -> None:
    """The detector itself: a -> b -> a is found, a diamond is not a cycle."""
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}) == []


def test_the_graph_sees_function_level_imports() -> None:
    """A deferred import (cli's `from barctl import daemon` inside a function) is an edge."""
    assert "barctl.service.daemon" in import_graph()["barctl.console.cli"]


def test_barctl_has_no_import_cycle() -> None:
    """No module of barctl imports, directly or not, a module that imports it back."""
    assert find_cycle(import_graph()) == []


# Layers, lowest first: a package may import its own layer and those below, never above.
# The base is the shared vocabulary (model, errors, outcome, reasons, redaction).
LAYERS = ("base", "config", "history", "observe", "run", "service", "console")


def layer(module: str) -> str:
    """The layer of a barctl module: its subpackage, or `base` for top-level modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else "base"


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs where a module imports a higher layer than its own."""
    return sorted(
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if not module.endswith("__main__")
        and LAYERS.index(layer(target)) > LAYERS.index(layer(module))
    )


def test_upward_imports_are_found() -> None:
    """The layering check flags config importing run, and accepts run importing config."""
    graph = {"barctl.config.a": {"barctl.run.b"}, "barctl.run.b": {"barctl.config.c"}}
    assert upward_imports(graph) == [("barctl.config.a", "barctl.run.b")]


def test_no_module_imports_a_higher_layer() -> None:
    """base < config < history < observe < run < service < console, as docs/design.md draws it."""
    graph = import_graph()
    assert {layer(module) for module in graph} == set(LAYERS)
    assert upward_imports(graph) == []
