"""The import rules of the house, checked from the source (``ast``; nothing is imported):

- floors: ``core`` <- ``db`` <- ``pipeline`` <- ``retrieval``, ``flows`` <- ``intaj``; a module
  imports its own package or the floors below it, never above or sideways;
- frameworks at the edges: Prefect only in ``flows/``; FastAPI (and Starlette) only in the HTTP
  layer; typer (and click) only in the CLI;
- no import cycle between our modules (imports at module level, ``TYPE_CHECKING`` blocks
  included: a type-only cycle is still a cycle for a reader).

Every import counts for the floors and frameworks, those inside functions too.
:func:`violations` checks one module's source, :func:`tree_violations` and :func:`cycles` the
tree; tests/test_layers.py runs them, and feeds them forbidden imports to see them refused.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOORS = {"core": 0, "db": 1, "pipeline": 2, "retrieval": 3, "flows": 3, "intaj": 4}
# A framework and the modules (a module, or a package ending in "/") that may import it.
FRAMEWORKS: dict[str, tuple[str, ...]] = {
    "prefect": ("flows/",),
    "fastapi": ("intaj/http/",),
    "starlette": ("intaj/http/",),
    "typer": ("intaj/cli/",),
    "click": ("intaj/cli/",),
}


@dataclass(frozen=True)
class Import:
    module: str  # the module imported, absolute ("pipeline.parse.base")
    line: int
    top_level: bool  # at module level (``if TYPE_CHECKING:`` included), not in a function


def module_name(path: str) -> str:
    """``pipeline/parse/base.py`` -> ``pipeline.parse.base`` (a package: its ``__init__``)."""
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, path: str, known: set[str] | None = None) -> Iterator[Import]:
    """What a module imports. ``from pkg import name`` names ``pkg.name`` when that is one of
    the ``known`` modules, else ``pkg``."""
    package = module_name(path).split(".")
    if not path.endswith("__init__.py"):
        package = package[:-1]
    tree = ast.parse(source, path)
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            nested.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        top = id(node) not in nested
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno, top)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield Import(full if known and full in known else base, node.lineno, top)


def _allowed(path: str, places: tuple[str, ...]) -> bool:
    return any(path.startswith(p) if p.endswith("/") else path == p for p in places)


def violations(source: str, path: str) -> list[str]:
    """The rules the module at ``path`` (relative to the root, e.g. ``pipeline/x.py``) breaks."""
    own = path.split("/", 1)[0]
    found = []
    for imp in imports(source, path):
        top = imp.module.split(".", 1)[0]
        where = f"{path}:{imp.line} imports {imp.module}"
        if top in FLOORS and own in FLOORS and top != own and FLOORS[top] >= FLOORS[own]:
            found.append(f"{where}: {own}/ may import only the floors below it")
        if top in FRAMEWORKS and not _allowed(path, FRAMEWORKS[top]):
            found.append(f"{where}: {top} belongs in {', '.join(FRAMEWORKS[top])}")
    return found


def product_files(root: Path = ROOT) -> dict[str, str]:
    """Our product code: path (relative, with /) -> source."""
    return {
        str(f.relative_to(root)): f.read_text(encoding="utf-8")
        for package in FLOORS
        for f in sorted((root / package).rglob("*.py"))
    }


def tree_violations(files: dict[str, str]) -> list[str]:
    return [v for path, source in files.items() for v in violations(source, path)]


def cycles(files: dict[str, str]) -> list[list[str]]:
    """Import cycles between our modules (strongly connected components of more than one)."""
    known = {module_name(p) for p in files}
    graph = {
        module_name(p): {
            i.module for i in imports(s, p, known) if i.top_level and i.module in known
        }
        for p, s in files.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


STATUS_WRITERS = frozenset({"mark_pending", "mark_processing", "mark_ready", "mark_failed"})
RUN_STATES = frozenset({"processing", "ready", "failed"})


def status_writes(files: dict[str, str]) -> list[str]:
    """Where a source's status is written outside its one owner, ``pipeline/status.py``: a
    call to ``db/sources.py``'s writers anywhere else but ``db/`` (the claim and sweeper SQL of
    ``db/dispatch.py`` are statements, not calls), and the run's states (``processing``,
    ``ready``, ``failed``) set by anyone but the run, ``pipeline/run/job.py``."""
    found = []
    for path, source in files.items():
        if path.startswith("db/") or path == "pipeline/status.py":
            continue
        for node in ast.walk(ast.parse(source, path)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name, owner = node.func.attr, node.func.value
            if name in STATUS_WRITERS:
                found.append(f"{path}:{node.lineno}: {name} outside pipeline/status.py")
            elif (
                name in RUN_STATES
                and isinstance(owner, ast.Name)
                and owner.id == "status"
                and path != "pipeline/run/job.py"
            ):
                found.append(f"{path}:{node.lineno}: status.{name} outside pipeline/run/job.py")
    return found
