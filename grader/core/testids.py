"""Static discovery of an author's test ids, without importing anything.

The set of tests a run must report is computed here, from the author's files alone, so learner code
can never shrink it. Ids follow pytest's node ids relative to the suite folder, without parameter
suffixes: `test_core.py::test_post` or `sub/test_x.py::TestClass::test_y`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DiscoveryProblem:
    file: str
    where: str
    message: str


def is_test_file(path: Path) -> bool:
    return path.suffix == ".py" and (path.name.startswith("test_") or path.stem.endswith("_test"))


MAX_BASE_DEPTH = 8


def _is_test_function(node: ast.stmt) -> bool:
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")


class _Classes:
    """Finds the class a base name refers to: in the same module, or imported from a helper module
    beside the tests (`from helpers_base import BaseContract`), read from the file, never imported."""

    def __init__(self, suite_dir: Path) -> None:
        self.suite_dir = suite_dir
        self.modules: dict[Path, ast.Module | None] = {}

    def module(self, path: Path) -> ast.Module | None:
        if path not in self.modules:
            try:
                self.modules[path] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            except (OSError, SyntaxError, UnicodeDecodeError):
                self.modules[path] = None
        return self.modules[path]

    def resolve(self, name: str, tree: ast.Module, here: Path) -> tuple[ast.ClassDef, ast.Module, Path] | None:
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                return node, tree, here
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if (alias.asname or alias.name) != name:
                        continue
                    for folder in (here.parent, self.suite_dir):
                        helper = folder / (node.module.replace(".", "/") + ".py")
                        other = self.module(helper) if helper.is_file() else None
                        if other is not None:
                            found = self.resolve(alias.name, other, helper)
                            if found is not None:
                                return found
        return None

    def test_methods(self, cls: ast.ClassDef, tree: ast.Module, here: Path, depth: int = 0) -> list[str]:
        """The class's own test methods, then those it inherits (pytest collects both)."""
        names = [m.name for m in cls.body if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef) and _is_test_function(m)]
        if depth >= MAX_BASE_DEPTH:
            return names
        for base in cls.bases:
            if isinstance(base, ast.Name):
                found = self.resolve(base.id, tree, here)
                if found is not None:
                    names.extend(self.test_methods(*found, depth=depth + 1))
        return list(dict.fromkeys(names))


def _tests_in_module(tree: ast.Module, rel: str, classes: _Classes | None = None, path: Path | None = None) -> list[str]:
    ids: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            ids.append(f"{rel}::{node.name}")
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            has_init = any(isinstance(m, ast.FunctionDef) and m.name == "__init__" for m in node.body)
            if has_init:  # pytest refuses to collect such classes
                continue
            if classes is not None and path is not None:
                methods = classes.test_methods(node, tree, path)
            else:
                methods = [
                    m.name for m in node.body if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef) and _is_test_function(m)
                ]
            ids.extend(f"{rel}::{node.name}::{name}" for name in methods)
    return ids


def discover_test_ids(suite_dir: Path) -> tuple[list[str], list[DiscoveryProblem]]:
    ids: list[str] = []
    problems: list[DiscoveryProblem] = []
    classes = _Classes(suite_dir)
    for path in sorted(suite_dir.rglob("*.py")):
        if not is_test_file(path) or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(suite_dir).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            problems.append(DiscoveryProblem(str(path), f"line {exc.lineno}", f"not valid Python: {exc.msg}"))
            continue
        found = _tests_in_module(tree, rel, classes, path)
        seen: set[str] = set()
        for test_id in found:
            if test_id in seen:
                problems.append(DiscoveryProblem(str(path), test_id, "test defined twice; pytest keeps only the last"))
            seen.add(test_id)
        ids.extend(dict.fromkeys(found))
    return ids, problems


def base_id(node_id: str) -> str:
    """`test_a.py::test_b[1-2]` -> `test_a.py::test_b`."""
    head, sep, _ = node_id.partition("[")
    return head if sep else node_id
