"""The house as docs/architecture.md draws it: every module of `monitor/` has a floor, imports
run only down (or along one floor), and nothing imports in a circle.

Imports under `if TYPE_CHECKING:` are left out (they are annotations, never run); imports inside
functions count (they run, later)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "monitor"

# lowest first; a module may import from its own floor and below. A package stands for all its
# modules; a top-level module for itself.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("clock", "yamlsource", "periods", "cellsafe", "logs"),
    ("rulebook",),
    ("config",),
    ("store",),
    ("ingest", "calendar", "roster", "obligation_status", "subjects", "tokens", "audit", "waivers"),
    ("evaluation", "demo"),
    ("alerts",),
    ("reports",),
    ("runtime",),
    ("api",),
    ("daemon",),
    ("cli",),
    ("__main__", "__init__"),
)
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(ROOT).with_suffix("")
        if "migrations" in relative.parts:
            continue  # Alembic's scripts, run by Alembic
        name = ".".join(relative.parts).removesuffix(".__init__")
        found[name] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _type_only(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.body:
                skipped.update(id(inner) for inner in ast.walk(statement))
    return skipped


def imports() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for target in targets:
                resolved = _resolve(target, known) if target.startswith("monitor") else None
                if resolved and resolved != name:
                    graph[name].add(resolved)
    return graph


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_floor() -> None:
    homeless = sorted({room(m) for m in modules()} - FLOOR.keys())
    assert not homeless, f"give these a floor in FLOORS and in docs/architecture.md: {homeless}"


def upward(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} (floor {FLOOR[room(module)]}) imports {target} (floor {FLOOR[room(target)]})"
        for module, targets in graph.items()
        for target in targets
        if FLOOR[room(target)] > FLOOR[room(module)]
    )


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_imports_run_down_the_house() -> None:
    assert not upward(imports()), "\n".join(upward(imports()))


def test_nothing_imports_in_a_circle() -> None:
    assert not circles(imports()), "\n".join(" -> ".join(c) for c in circles(imports()))


def test_the_checks_see_an_upward_import_and_a_circle() -> None:
    """The checks can fail: the store importing the outbox, or two modules importing each other."""
    graph = imports()
    assert "monitor.store.db" in graph["monitor.evaluation.evaluate"]  # the imports are read at all
    graph["monitor.store.db"].add("monitor.alerts.dispatch")
    assert upward(graph) == ["monitor.store.db (floor 3) imports monitor.alerts.dispatch (floor 6)"]
    graph["monitor.clock"].add("monitor.logs")
    graph["monitor.logs"].add("monitor.clock")
    assert ["monitor.clock", "monitor.logs", "monitor.clock"] in circles(graph)
