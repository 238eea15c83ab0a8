"""The shape of the library, read from its source with ast (nothing is imported): no import cycle among the
mftl modules, counting imports inside functions too (a function-level import hides a cycle from Python
but not from the design), and no function with more than ten parameters (what a job needs travels as one
object, e.g. :class:`mftl.training_job.TrainingJob`)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "workflow" / "mftl"
MAX_PARAMETERS = 10


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package (a subpackage is its __init__)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph() -> dict[str, set[str]]:
    """Module -> the mftl modules it imports anywhere in its source (module level, functions, TYPE_CHECKING)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(node, name, path.name == "__init__.py")
                # ``from mftl import paths`` imports the module mftl.paths; ``from mftl.x import f`` imports mftl.x
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names
                ]
            for target in targets:
                while target and target not in modules:  # ``import mftl.a.b`` where only mftl.a is a module file
                    target = target.rpartition(".")[0]
                if target and target != name and target != "mftl":
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_function_level_imports_and_finds_a_cycle():
    graph = import_graph()
    assert "mftl.training" in graph["mftl.cli"]  # imported inside _cmd_train only
    assert "mftl.paths" in graph["mftl.campaign"]  # ``from mftl import paths``
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_among_mftl_modules():
    assert cycles(import_graph()) == []


def test_no_function_of_the_library_takes_more_than_ten_parameters():
    crowded = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                a = node.args
                n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + bool(a.vararg) + bool(a.kwarg)
                n -= bool(a.args and a.args[0].arg in ("self", "cls"))
                if n > MAX_PARAMETERS:
                    name = getattr(node, "name", "lambda")
                    crowded.append(f"{path.relative_to(REPO)}:{node.lineno} {name} ({n} parameters)")
    assert not crowded, "\n".join(crowded)
