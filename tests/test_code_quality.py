"""The habits that keep the code honest: ruff (lint and format), mypy, no import cycles, small modules.

These run in the test suite so CI keeps them passing (configuration in pyproject.toml).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "imlforensic"
MAX_LINES = 500
"""Modules longer than this need a stated reason (none does today)."""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def _have(module: str) -> bool:
    return shutil.which(module) is not None or _run(module, "--version").returncode == 0


@pytest.mark.skipif(not _have("ruff"), reason="ruff is not installed (pip install '.[test]')")
def test_ruff_lint_and_format_pass() -> None:
    lint = _run("ruff", "check", "imlforensic")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    formatted = _run("ruff", "format", "--check", "imlforensic")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


@pytest.mark.skipif(not _have("mypy"), reason="mypy is not installed (pip install '.[test]')")
def test_mypy_passes() -> None:
    result = _run("mypy", "--cache-dir", str(ROOT / ".mypy_cache"))
    assert result.returncode == 0, result.stdout + result.stderr


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_time_imports(path: Path) -> set[str]:
    """The imlforensic modules ``path`` imports when it is imported: module-level ``import`` and
    ``from`` statements, not those inside functions or under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "imlforensic" or name.startswith("imlforensic.")}


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        # a submodule's reference to its own package is no cycle (the package is being imported)
        parents = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}
        graph[name] = {t for t in import_time_imports(path) if t in modules and t != name and t not in parents}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_modules() -> None:
    graph = import_graph()
    assert "imlforensic.registry.registry" in graph and "imlforensic.methods.base" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_registry_depends_on_no_method_refiner_or_pipeline() -> None:
    graph = import_graph()
    for name in (n for n in graph if n.startswith("imlforensic.registry")):
        layers = {t.split(".")[1] for t in graph[name] if t.count(".")}
        assert not layers & {"methods", "refiners", "pipeline", "cli", "report"}, (name, graph[name])


def test_no_module_is_over_the_size_limit() -> None:
    long = {
        str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
