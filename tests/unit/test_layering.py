"""The pure core loads where the shell's libraries do not exist: every grader.core module imported in a
fresh interpreter in which docker, git, redis, rq, SQLAlchemy, httpx, FastAPI, typer and rich cannot be
imported. (import-linter checks the same rule statically, in the test command.)"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import grader.core

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("docker", "git", "redis", "rq", "sqlalchemy", "alembic", "httpx", "fastapi", "starlette", "typer", "rich")
PROGRAM = """
import importlib, importlib.abc, sys
FORBIDDEN = set(sys.argv[1].split(","))
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            raise ImportError(f"{name} is not installed here")
        return None
sys.meta_path.insert(0, Absent())
for module in sys.argv[2:]:
    importlib.import_module(module)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
assert not leaked, leaked
print("ok", len(sys.argv) - 2)
"""


def core_modules() -> list[str]:
    return [f"grader.core.{m.name}" for m in pkgutil.iter_modules(grader.core.__path__)]


def test_every_core_module_imports_without_the_shell_libraries() -> None:
    modules = core_modules()
    assert "grader.core.judge" in modules and "grader.core.feedback" in modules
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, ",".join(FORBIDDEN), *modules],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ok", str(len(modules))]


def test_the_blocker_itself_refuses_a_shell_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, ",".join(FORBIDDEN), "grader.sandbox.engine"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode != 0 and "docker is not installed here" in done.stderr
