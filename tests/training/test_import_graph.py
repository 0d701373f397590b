"""semcom_sim.training has no import circle: the stages import the shared modules, never the
orchestrator (trainer) nor each other."""
import ast
from pathlib import Path

import pytest

import semcom_sim.training

ROOT = Path(semcom_sim.training.__file__).parent
PACKAGE = "semcom_sim.training"


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join((PACKAGE, *parts))] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``path`` imports, wherever in it (lazy imports count too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module)
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    # a package's __init__ imports its own submodules by design; that is not a circle
    return {n: {t for t in _imports(n, p, set(modules)) if not (p.name == "__init__.py" and t.startswith(n + "."))}
            for n, p in modules.items()}


def test_the_graph_sees_the_stages():
    graph = _graph()
    assert {"semcom_sim.training.preparation", "semcom_sim.training.loop"} <= graph[
        "semcom_sim.training.stages.contrastive"]
    assert "semcom_sim.training.stages.compression" in graph["semcom_sim.training.trainer"]


def test_the_training_modules_import_no_circle():
    graph, state = _graph(), {}

    def visit(n: str, path: list[str]) -> None:
        state[n] = "open"
        for t in sorted(graph[n]):
            if state.get(t) == "open":  # t is on the path being walked
                pytest.fail("import circle: " + " -> ".join(path[path.index(t):] + [n, t]))
            if t not in state:
                visit(t, path + [n])
        state[n] = "done"

    for n in sorted(graph):
        if n not in state:
            visit(n, [])


def test_no_stage_imports_the_orchestrator():
    graph = _graph()
    stages = [n for n in graph if n.startswith(f"{PACKAGE}.stages.")]
    assert len(stages) == 3
    for n in stages:
        assert f"{PACKAGE}.trainer" not in graph[n], n

