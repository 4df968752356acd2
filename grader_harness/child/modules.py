"""The author's test modules, compiled from the sources the harness sent (hidden ones exist on disk only
as empty placeholders): planted must-fail canaries, pytest's assertion rewriting, the always-equal check."""

from __future__ import annotations

import ast
import os
import types
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest
from _pytest.assertion.rewrite import rewrite_asserts

from grader_harness.child.equality import EqualityRewriter
from grader_harness.protocol import Canary


def blank_gaps(tree: ast.Module) -> list[tuple[int, int]]:
    """(line, index) pairs: a line between two top-level test functions that no statement occupies, and
    where in the module's body a definition on that line belongs."""
    spans = []
    for index, node in enumerate(tree.body):
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        spans.append((first, node.end_lineno or node.lineno, index, isinstance(node, ast.FunctionDef)))
    gaps = []
    for (_, end, _, was_test), (start, _, index, is_test) in pairwise(spans):
        if was_test and is_test and start - end >= 3:
            gaps.append((end + 1, index))
    return gaps


def plant_canaries(tree: ast.Module, canaries: list[Canary]) -> None:
    """Insert must-fail tests among the module's own: defined where a blank line separates two tests, so
    neither their line numbers nor their order sets them apart (hidden modules' sources are never
    visible to learner code)."""
    for canary in canaries:
        source = f"def {canary['name']}():\n    assert {canary['left']} + {canary['right']} == {canary['total']}\n"
        node = ast.parse(source).body[0]
        gaps = blank_gaps(tree)
        if gaps:
            line, index = gaps[int.from_bytes(os.urandom(2), "big") % len(gaps)]
        else:
            line = max((n.end_lineno or n.lineno for n in tree.body), default=0) + 3
            index = len(tree.body)
        ast.increment_lineno(node, line - 1)
        tree.body.insert(index, node)


def compile_test_module(path: str, source: str, canaries: list[Canary], config: pytest.Config) -> types.CodeType:
    tree = ast.parse(source, filename=path)
    plant_canaries(tree, canaries)
    ast.fix_missing_locations(tree)
    rewrite_asserts(tree, source.encode("utf-8"), path, config)
    # No fix_missing_locations after this: pytest's rewriter leaves end positions unset on purpose.
    tree = EqualityRewriter().visit(tree)
    return compile(tree, path, "exec", dont_inherit=True)



def mentions(code: types.CodeType, name: str) -> bool:
    """Whether compiled code (at any depth) refers to `name`."""
    if name in code.co_names:
        return True
    return any(mentions(const, name) for const in code.co_consts if isinstance(const, types.CodeType))


class TrustedModule(pytest.Module):
    """A test module built from the source the harness sent, never from the file on disk."""

    grader_load: Callable[[TrustedModule], Any] | None = None

    def _getobj(self) -> Any:
        assert self.grader_load is not None
        return self.grader_load(self)
