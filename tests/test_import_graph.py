"""No import circle anywhere in semcom_sim: neither among the imports a module runs when it is
imported nor counting the imports made inside functions and for type checking only.

A package's ``__init__`` importing its own submodules (to fill its registry) is not a circle: the
submodules import the package for its registry, the edge back is by design and removed here.
"""
import ast
from pathlib import Path

import pytest

import semcom_sim

ROOT = Path(semcom_sim.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(("semcom_sim", *parts))] = path
    return out


def _at_import(tree: ast.Module):
    """The import statements a module runs when it is imported: its body, and the if / try / class
    blocks in it, not functions nor ``if TYPE_CHECKING:`` blocks."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                stack += node.body + node.orelse
        elif isinstance(node, ast.Try):
            stack += node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
        elif isinstance(node, ast.ClassDef):
            stack += node.body


def _imports(name: str, path: Path, known: set[str], everywhere: bool) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    nodes = ([n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))] if everywhere
             else list(_at_import(tree)))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module)
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        found |= {t for t in targets if t in known and t != name}
    return found


def _graph(everywhere: bool) -> dict[str, set[str]]:
    modules = _modules()
    return {n: {t for t in _imports(n, p, set(modules), everywhere)
                if not (p.name == "__init__.py" and t.startswith(n + "."))}
            for n, p in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(n: str, path: list[str]) -> None:
        state[n] = "open"
        for m in sorted(graph[n]):
            if state.get(m) == "open":
                found.append(path[path.index(m):] + [m])
            elif m not in state:
                visit(m, path + [m])
        state[n] = "done"

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    return found


def test_the_graph_sees_the_data_flow():
    graph = _graph(everywhere=True)
    assert "semcom_sim.links" in graph["semcom_sim.transmitter.plan"]
    assert "semcom_sim.scenario.budget" in graph["semcom_sim.scenario.checks"]
    assert "semcom_sim.scenario.schema" in graph["semcom_sim.scenario.reading"]
    assert {"semcom_sim.training.preparation", "semcom_sim.training.loop"} <= graph[
        "semcom_sim.training.stages.contrastive"]
    assert "semcom_sim.training.stages.compression" in graph["semcom_sim.training.trainer"]


def test_no_training_stage_imports_the_orchestrator():
    graph = _graph(everywhere=True)
    stages = [n for n in graph if n.startswith("semcom_sim.training.stages.")]
    assert len(stages) == 3
    for n in stages:
        assert "semcom_sim.training.trainer" not in graph[n], n


@pytest.mark.parametrize("everywhere", [False, True], ids=["at-import", "everywhere"])
def test_no_import_circle(everywhere):
    circles = _circles(_graph(everywhere))
    assert not circles, "\n".join(" -> ".join(c) for c in circles)
