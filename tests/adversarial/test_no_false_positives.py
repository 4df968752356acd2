"""Controls: ordinary things a real solution does must trip nothing. Each is the reference solution plus
code that exercises what the defences watch (frames, files, processes, equality), legitimately."""

from __future__ import annotations

from tests.adversarial.conftest import reference_with

BUSY_BUT_HONEST = """
import collections as _collections
import copy as _copy
import dataclasses as _dataclasses
import enum as _enum
import functools as _functools
import inspect as _inspect
import json as _json
import logging as _logging
import os as _os
import pickle as _pickle
import subprocess as _subprocess
import sys as _sys
import tempfile as _tempfile
import threading as _threading
import traceback as _traceback
import typing as _typing
import warnings as _warnings

_log = _logging.getLogger("ledger")
_logging.basicConfig(level=_logging.INFO)
_log.info("ledger imported from %s", __file__)
_Point = _collections.namedtuple("_Point", "x y")
class _Pair(_typing.NamedTuple):
    left: int
    right: int
class _Colour(_enum.Enum):
    RED = 1
@_dataclasses.dataclass(frozen=True)
class _Box:
    items: tuple = ()
assert _copy.deepcopy(_Box((1, 2))) == _Box((1, 2))
assert _pickle.loads(_pickle.dumps(_Point(1, 2))) == _Point(1, 2)
assert _Pair(1, 2).left == 1 and _Colour(1) is _Colour.RED
_inspect.signature(_Box)
try:
    raise ValueError("handled")
except ValueError:
    _formatted = _traceback.format_exc()
    _log.exception("a handled error")
_warnings.warn("a deprecation of our own", DeprecationWarning, stacklevel=2)
with open("scratch.json", "w") as _handle:
    _json.dump({"ok": True}, _handle)
with open(_os.path.join(_os.path.dirname(__file__), "__init__.py")) as _handle:
    _handle.read()
with _tempfile.TemporaryDirectory() as _folder:
    open(_os.path.join(_folder, "x"), "w").close()
_subprocess.run(["sh", "-c", "echo listing; cat /etc/hostname > /dev/null"], capture_output=True, check=True)
_subprocess.run([_sys.executable, "-c", "print(1)"], capture_output=True, check=True)
_thread = _threading.Thread(target=lambda: _log.info("from a thread"))
_thread.start()
_thread.join()
_functools.lru_cache(maxsize=None)(lambda n: n)(3)
print("honest extras ran", flush=True)
"""


def test_reference_with_busy_but_honest_code_scores_100_without_flags(attack, no_leftovers) -> None:
    result = attack(reference_with(BUSY_BUT_HONEST))
    assert "honest extras ran" in result.learner_output
    assert result.grade.flags == [], [(f.code, f.detail) for f in result.grade.flags]
    assert result.grade.passed and result.grade.percent == 100.0


def test_learner_code_compares_its_own_objects_freely(attack, no_leftovers) -> None:
    """Learner objects with their own `__eq__` (dataclasses, a Money type equal to equal amounts)."""
    money = """
        from decimal import Decimal as _Decimal
        class Money:
            def __init__(self, amount):
                self.amount = _Decimal(amount)
            def __eq__(self, other):
                if isinstance(other, Money):
                    return self.amount == other.amount
                if isinstance(other, (int, _Decimal)):
                    return self.amount == other
                return NotImplemented
            __hash__ = None
        assert Money("1.00") == _Decimal("1") and Money(1) != Money(2) and Money(1) in [Money(1)]
    """
    result = attack(reference_with(money))
    assert result.grade.flags == [] and result.grade.percent == 100.0
