"""The import graph of fem_spin (module level and function level, read with ast): the
configuration layer stays at the bottom. contracts.py imports nothing of fem_spin, config.py
imports nothing but contracts (and what contracts' modules need), and no cycle runs through
config.py."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "fem_spin"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, top_level_only: bool):
    """The Import/ImportFrom nodes of ``tree`` (with ``top_level_only``: not inside a function)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if top_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """module -> fem_spin modules it imports anywhere in its text (functions included). A
    package's ``__init__`` counts with its module-level imports only: importing a submodule
    runs them, while a function in it (a lazy module ``__getattr__``) runs only when called,
    and its edges are those of the caller that asks for the attribute."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path)), top_level_only=is_package):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:   # relative: from the package of this module
                    package = name.split(".") if is_package else name.split(".")[:-1]
                    package = package[: len(package) - node.level + 1]
                    base = ".".join(package + ([base] if base else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for target in names:
                # the longest known module a dotted name starts with (a submodule, or the
                # module whose attribute is imported)
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    # importing a submodule runs its packages' __init__ first
    for name in list(graph):
        parts = name.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent in graph and parent != name:
                graph[name].add(parent)
    return graph


def cycles_through(graph: dict[str, set[str]], module: str) -> list[list[str]]:
    """Simple paths module -> ... -> module (one shortest per first step)."""
    found = []
    for first in sorted(graph.get(module, ())):
        # breadth-first search back to module
        previous = {first: None}
        queue = [first]
        while queue:
            node = queue.pop(0)
            if node == module:
                path = []
                while node is not None:
                    path.append(node)
                    node = previous[node]
                found.append([module] + path[::-1])
                break
            for nxt in sorted(graph.get(node, ())):
                if nxt not in previous:
                    previous[nxt] = node
                    queue.append(nxt)
    return found


def _reachable(graph, start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for nxt in graph.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def test_contracts_import_nothing_of_fem_spin():
    graph = import_graph()
    assert graph["fem_spin.contracts"] <= {"fem_spin"}, graph["fem_spin.contracts"]


def test_no_import_cycle_through_config():
    graph = import_graph()
    cycles = cycles_through(graph, "fem_spin.config")
    assert not cycles, "import cycle(s) through config.py:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_config_does_not_reach_models_or_geometry():
    graph = import_graph()
    reached = _reachable(graph, "fem_spin.config")
    above = sorted(m for m in reached if m.startswith(("fem_spin.models", "fem_spin.geometry",
                                                        "fem_spin.solvers", "fem_spin.simulation",
                                                        "fem_spin.engine", "fem_spin.api", "fem_spin.io",
                                                        "fem_spin.viz", "fem_spin.cli")))
    assert not above, f"config.py imports (directly or not) {above}"


def test_the_checker_finds_a_cycle():
    graph = {"fem_spin.config": {"fem_spin.models"}, "fem_spin.models": {"fem_spin.config"}}
    assert cycles_through(graph, "fem_spin.config") == [["fem_spin.config", "fem_spin.models",
                                                         "fem_spin.config"]]
