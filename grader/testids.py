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


def _tests_in_module(tree: ast.Module, rel: str) -> list[str]:
    ids: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            ids.append(f"{rel}::{node.name}")
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            has_init = any(isinstance(m, ast.FunctionDef) and m.name == "__init__" for m in node.body)
            if has_init:  # pytest refuses to collect such classes
                continue
            ids.extend(
                f"{rel}::{node.name}::{member.name}"
                for member in node.body
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef) and member.name.startswith("test")
            )
    return ids


def discover_test_ids(suite_dir: Path) -> tuple[list[str], list[DiscoveryProblem]]:
    ids: list[str] = []
    problems: list[DiscoveryProblem] = []
    for path in sorted(suite_dir.rglob("*.py")):
        if not is_test_file(path) or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(suite_dir).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            problems.append(DiscoveryProblem(str(path), f"line {exc.lineno}", f"not valid Python: {exc.msg}"))
            continue
        found = _tests_in_module(tree, rel)
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
