"""The always-equal check: the tests' `==` and `in` are compiled to helpers that fail (and report) a
value of the learner's that equals anything, or is found in any container."""

from __future__ import annotations

import ast
import sys
import types
from collections.abc import Callable
from secrets import randbelow as _randbelow
from typing import Any

from grader_harness.child.guard import LEARNER, Classifier

Report = Callable[[str, str], None]
EQ_HELPER = "@grader_eq"
IN_HELPER = "@grader_in"


class Sentinel:
    """Equal to nothing but itself: whatever compares equal to it is not a real value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<grader sentinel>"


def make_equality_checks(
    classifier: Classifier, report: Report, allow_any: bool
) -> tuple[Callable[[Any, Any], Any], Callable[[Any, Any], bool]]:
    """`==` and `in` for the tests' compiled code: an always-equal value from the learner fails and is reported."""
    sentinel = Sentinel()
    randbelow = _randbelow  # bound now: learner code loaded later cannot swap the module's name
    mock_any = sys.modules.get("unittest.mock")
    mock_any = getattr(mock_any, "ANY", None) if mock_any is not None else None
    bool_type = bool

    def learners(kind: type) -> bool:
        """Whether a type's equality is the learner's own (by where its __eq__ or its module lives)."""
        if getattr(kind, "_grader_remote", False):
            return True  # isolated mode: a proxy of a learner object, whose == runs in the learner's process
        method = getattr(kind, "__eq__", None)
        code = getattr(method, "__code__", None)
        if isinstance(code, types.CodeType):
            return classifier.of(code.co_filename) == LEARNER
        module = sys.modules.get(getattr(kind, "__module__", None) or "", None)
        filename = getattr(module, "__file__", None) or ""
        return module is None or classifier.of(filename) == LEARNER

    def equals(a: Any, b: Any) -> bool:
        try:
            return bool_type(a == b)
        except Exception:
            return False

    def perturbed(value: Any) -> Any:
        """A value of the same kind that is not `value`, different each time: a learner's `==` that is
        shown both cannot tell the probe from the real expected value by a fixed marker or offset."""
        kind = type(value)
        if kind is bool_type:
            return sentinel
        if kind in (int, float) or kind.__module__ in ("decimal", "fractions"):
            return value + kind(1 + randbelow(997))
        if kind is str:
            return value + "".join(chr(97 + randbelow(26)) for _ in range(1 + randbelow(4)))
        if kind is bytes:
            return value + bytes(97 + randbelow(26) for _ in range(1 + randbelow(4)))
        if kind in (list, tuple):
            return value + kind([sentinel])
        return sentinel

    def fake(x: Any, other: Any, depth: int = 0) -> bool:
        if x is mock_any and mock_any is not None:
            return not allow_any
        kind = type(x)
        if kind in (list, tuple, set, frozenset) and depth < 2:
            return any(fake(item, None, depth + 1) for item in list(x)[:1000])
        if kind is dict and depth < 2:
            return any(fake(k, None, depth + 1) or fake(v, None, depth + 1) for k, v in list(x.items())[:1000])
        if kind.__module__ == "builtins" or not learners(kind):
            return False
        if equals(x, sentinel):
            return True
        if other is None or type(other).__module__ not in ("builtins", "decimal", "fractions"):
            return False
        try:
            return equals(x, perturbed(other))
        except Exception:
            return False

    def probed(a: Any, b: Any) -> bool:
        """Whether `a` or `b` is a learner's value that also equals a probe."""
        return fake(a, b) or fake(b, a)

    def eq(a: Any, b: Any) -> Any:
        # Probes run before and after the real comparison, a random number of them first, so a stateful
        # `__eq__` (yes only once, only to the first value, only to the n-th) cannot tell which call counts.
        caught = any(probed(a, b) for _ in range(1 + randbelow(3)))
        result = a == b
        if (result is True or (type(result) is bool_type and result)) and (caught or probed(a, b)):
            report("always-equal", f"a value of type {type(a).__name__} or {type(b).__name__} equals anything")
            return False
        return result

    def any_in(container: Any) -> bool:
        try:
            return type(container) in (list, tuple, set, frozenset, dict) and sentinel in container
        except Exception:
            return False

    def contains(a: Any, b: Any) -> bool:
        caught = any(fake(a, None) for _ in range(1 + randbelow(3)))
        result = a in b
        if result and (caught or fake(a, None) or any_in(b)):
            report("always-equal", f"a value of type {type(a).__name__} is found in any container")
            return False
        return result

    return eq, contains


class EqualityRewriter(ast.NodeTransformer):
    """`a == b` -> `@grader_eq(a, b)`, `a in b` -> `@grader_in(a, b)` (single comparisons only)."""

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1:
            return node
        if isinstance(node.ops[0], ast.Eq):
            helper = EQ_HELPER
        elif isinstance(node.ops[0], ast.In):
            helper = IN_HELPER
        else:
            return node
        name = ast.copy_location(ast.Name(id=helper, ctx=ast.Load()), node)
        call = ast.Call(func=name, args=[node.left, node.comparators[0]], keywords=[])
        return ast.copy_location(call, node)

