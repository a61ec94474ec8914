"""Code shape (the brief's "modules under ~400 lines, functions under ~40"): every module and
function under barctl/ read with ast, offenders listed by path, name and length."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "barctl"
MODULE_LIMIT = 400
FUNCTION_LIMIT = 40

# Deliberate exceptions, each with why a split would hurt clarity: "path" or "path:function".
# Empty: every module and function fits today.
EXCEPTIONS: frozenset[str] = frozenset()


def long_functions(source: str, limit: int = FUNCTION_LIMIT) -> list[tuple[str, int]]:
    """(qualified name, lines from `def` to its last line) of each function over `limit`,
    methods and nested functions included (a decorator's lines are not counted)."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (child.end_lineno or child.lineno) - child.lineno + 1
                if length > limit:
                    found.append((name, length))
            visit(child, f"{name}." if name != prefix else prefix)

    visit(ast.parse(source), "")
    return found


def offenders() -> list[str]:
    """`path: N lines` for each long module, `path:name: N lines` for each long function."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        if lines > MODULE_LIMIT and relative not in EXCEPTIONS:
            found.append(f"{relative}: {lines} lines (limit {MODULE_LIMIT})")
        for name, length in long_functions(source):
            if f"{relative}:{name}" not in EXCEPTIONS:
                found.append(f"{relative}:{name}: {length} lines (limit {FUNCTION_LIMIT})")
    return found


def test_the_checker_measures_functions_methods_and_nested_ones() -> None:
    """A 41-line function, method and nested function are found by name; a 40-line one is not."""
    body = "".join(f"    x{index} = {index}\n" for index in range(39))
    source = (
        f"def fits():\n{body}\n"
        f"def too_long():\n{body}    y = 0\n"
        f"class Holder:\n    def method(self):\n{body.replace('    ', '        ')}        y = 0\n"
        f"def outer():\n    def inner():\n{body.replace('    ', '        ')}        y = 0\n"
        "    return inner\n"
    )
    assert long_functions(source) == [
        ("too_long", 41),
        ("Holder.method", 41),
        ("outer", 43),
        ("outer.inner", 41),
    ]


def test_no_module_or_function_of_barctl_is_over_its_limit() -> None:
    """Every module of barctl/ is at most 400 lines and every function at most 40."""
    assert offenders() == []
