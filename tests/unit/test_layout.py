"""The house rules a reader relies on, held by a test: small modules that say what they
hold, imports that never run in a circle, and no rule written in both surfaces."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bay_mcp", "rest", "ship")
MAX_LINES = 500
# Table-like modules, exempt from the size rule: one entry per migration, manifest or
# wire model, read by lookup rather than top to bottom.
TABLES = {"bay_mcp/drivers/kubernetes_manifests.py", "ship/protocol.py"}
SHARED_RUN = 6  # lines in a row that make a copy


def product_modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_no_product_module_is_over_500_lines() -> None:
    long = {
        relative(path): n
        for path in product_modules()
        if (n := len(path.read_text().splitlines())) > MAX_LINES and relative(path) not in TABLES
    }
    assert not long, f"split these by concept (at most {MAX_LINES} lines): {long}"


def test_every_module_opens_with_what_it_holds() -> None:
    silent = [
        relative(path)
        for path in product_modules()
        if path.read_text().strip() and not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert not silent, f"these modules do not say what they hold: {silent}"


def _imports_at_load(path: Path, names: set[str]) -> set[str]:
    """Project modules `path` imports when it is loaded (not under TYPE_CHECKING, not
    inside a function)."""
    tree = ast.parse(path.read_text())
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for child in [node] if not isinstance(node, ast.If) else ast.walk(node):
            if isinstance(child, ast.Import):
                candidates = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package.split(".")
                    parent = parent[: len(parent) - (child.level - 1)]
                    base = ".".join([*parent, base] if base else parent)
                candidates = [base] + [f"{base}.{alias.name}" for alias in child.names]
            else:
                continue
            found.update(name for name in candidates if name in names)
    found.discard(this)
    return found


def test_no_import_cycle() -> None:
    modules = {module_name(path): path for path in product_modules()}
    graph = {name: _imports_at_load(path, set(modules)) for name, path in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycle = [*stack[stack.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def _code_lines(path: Path) -> list[str]:
    lines = []
    for line in path.read_text().splitlines():
        text = line.strip()
        if text and not text.startswith(("#", "import ", "from ")) and text not in "()[]{},":
            lines.append(text)
    return lines


def test_no_rule_is_written_in_both_surfaces() -> None:
    mcp = sorted((ROOT / "bay_mcp" / "mcp").rglob("*.py"))
    rest = sorted((ROOT / "rest").rglob("*.py"))
    runs: dict[tuple[str, ...], str] = {}
    for path in mcp:
        lines = _code_lines(path)
        for i in range(len(lines) - SHARED_RUN + 1):
            runs.setdefault(tuple(lines[i : i + SHARED_RUN]), relative(path))
    shared = []
    for path in rest:
        lines = _code_lines(path)
        for i in range(len(lines) - SHARED_RUN + 1):
            window = tuple(lines[i : i + SHARED_RUN])
            if window in runs:
                shared.append(f"{runs[window]} ~ {relative(path)}: {window[0]!r}")
    assert not shared, "written in both surfaces (move it into a service):\n" + "\n".join(shared)
