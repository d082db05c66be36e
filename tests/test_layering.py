import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

CHECK = """
import pkgutil, sys, importlib
import humanvid
for mod in pkgutil.walk_packages(humanvid.__path__, "humanvid."):
    importlib.import_module(mod.name)
import tasks.download, tasks.estimate, tasks.shard, tasks.train, tasks.sample, tasks.evaluate, tasks.report
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("prefect", "dvc"))
print(bad[:5])
sys.exit(1 if bad else 0)
"""


def test_library_and_tasks_never_import_prefect_or_dvc():
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _module_imports() -> dict[str, set[str]]:
    """humanvid module -> the humanvid modules it imports at module level (not inside functions)."""
    graph: dict[str, set[str]] = {}
    for path in (SRC / "humanvid").rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        deps = set()
        for node in ast.parse(path.read_text()).body:  # top-level statements only
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("humanvid"):
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("humanvid")}
        graph[name] = deps
    return graph


def test_no_import_circle_in_the_library():
    graph = _module_imports()
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for dep in graph.get(node, ()):
            dep = dep if dep in graph else dep.rsplit(".", 1)[0]  # `from pkg import module` names a module of pkg
            if state.get(dep) == 1:
                cycle.extend(stack[stack.index(dep):] + [dep] if dep in stack else [node, dep])
                return True
            if state.get(dep) is None and dep in graph and visit(dep, stack + [dep]):
                return True
        state[node] = 2
        return False

    assert not any(visit(n, [n]) for n in sorted(graph) if state.get(n) is None), " -> ".join(cycle)


def test_config_sections_import_no_registry():
    """Plugins import humanvid.config for their option schemas; it imports nothing of humanvid back."""
    assert _module_imports()["humanvid.config"] == set()
