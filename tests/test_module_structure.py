"""The shape of the library, read from its source with ast (nothing is imported): no import cycle among the
mftl modules, counting imports inside functions too (a function-level import hides a cycle from Python
but not from the design), no function with more than ten parameters (what a job needs travels as one
object, e.g. :class:`mftl.training.training_job.TrainingJob`), and command-line modules short enough to read
(:mod:`mftl.cli` parses and dispatches; what a command computes lives in its layer)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "workflow" / "mftl"
MAX_PARAMETERS = 10
MAX_CLI_LINES = 400


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
    assert "mftl.training.steps" in graph["mftl.cli.training"]  # imported inside cmd_train only
    assert "mftl.paths" in graph["mftl.planning.campaign"]  # ``from mftl import paths``
    assert "mftl.training.chains" in graph["mftl.planning.campaign"]  # ``from mftl.training import chains``
    assert "mftl.cli.data" in graph["mftl.cli.dispatch"]  # ``from mftl.cli import data, ...``
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


def test_every_command_line_module_has_at_most_400_lines():
    modules = sorted((PACKAGE / "cli").glob("*.py"))
    assert {m.name for m in modules} >= {"__init__.py", "dispatch.py"}
    long = {str(m.relative_to(REPO)): n for m in modules if (n := len(m.read_text().splitlines())) > MAX_CLI_LINES}
    assert not long, f"cli modules over {MAX_CLI_LINES} lines (move the computing to its layer): {long}"


def test_the_top_level_holds_only_the_layers_and_what_every_layer_uses():
    """``ls workflow/mftl`` shows the architecture: one subpackage per layer, beside the few shared modules."""
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    layers = {"planning", "data", "training", "evaluation", "analysis", "report", "cli"}
    shared = {"paths.py", "methods.py", "atomic.py", "locks.py", "log_filters.py"}
    assert entries == layers | shared | {"__init__.py", "__main__.py"}
    assert all((PACKAGE / layer / "__init__.py").is_file() for layer in layers)


#: the layers, each importing only the shared top-level modules and the layers before it (the shared modules
#: import no layer)
LAYERS = ["data", "training", "planning", "evaluation", "analysis", "report", "cli"]


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_a_layer_imports_only_the_shared_modules_and_the_layers_before_it():
    upward = []
    for module, targets in import_graph().items():
        for target in targets:
            here, there = _layer(module), _layer(target)
            entry = module in ("mftl.__main__", "mftl.cli")  # ``python -m mftl`` and the cli package: above all
            if there and not entry and (here is None or LAYERS.index(there) > LAYERS.index(here)):
                upward.append(f"{module} -> {target}")
    assert not upward, "\n".join(sorted(upward))


def test_the_readme_lists_every_module_under_its_layer():
    """README "Library modules": one bullet per layer (``shared`` for the top level) naming each of its modules
    as `name` (a subpackage as `name/`), and naming no module that is not there."""
    import re

    text = (REPO / "README.md").read_text()
    section = text[text.index("## Library modules") : text.index("## Troubleshooting")]
    bullets = {
        m.group(1): m.group(2) for m in re.finditer(r"^\* `?(\w+)/?`?[: (](.*?)(?=^\* |\Z)", section, re.M | re.S)
    }
    every = {p.stem if p.name != "__init__.py" else p.parent.name for p in PACKAGE.rglob("*.py")}
    for layer in [*LAYERS, "shared"]:
        folder = PACKAGE if layer == "shared" else PACKAGE / layer
        here = {p.stem for p in folder.glob("*.py") if not p.name.startswith("__")}
        here |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()} if layer != "shared" else set()
        named = set(re.findall(r"`(\w+)/?`", bullets[layer]))
        assert here <= named, f"README's {layer} bullet lacks {sorted(here - named)}"
        assert named <= every | {"mftl", "mace_run_train", "mace_eval_configs"}, (
            f"README's {layer} bullet names no module: {sorted(named - every)}"
        )
