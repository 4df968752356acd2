"""Tests carry their own data: no test file names a path outside the checkout.

Reference data once lived in a shared folder next to the checkout, which CI does not have; it is now
vendored under tests/data/. This scan keeps it that way.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
TEXT_SUFFIXES = {".py", ".mjs", ".js", ".json", ".md", ".txt", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh"}
SKIP_PARTS = {"node_modules", "__pycache__", ".hypothesis"}
# The shared folder beside the checkout, by the name it has on the developers' machines, relatively, or
# by its absolute path beside this checkout. (Not every path under the checkout's parent: a clone in
# /tmp must not flag the tests' own /tmp paths.)
OUTSIDE = [
    re.compile(r"/work/shared"),
    re.compile(r"\.\./shared"),
    re.compile(r"(?<![\w.~-])" + re.escape(str(ROOT.parent / "shared")) + r"\b"),
]


def outside_paths(root: Path) -> list[str]:
    """``file:line: text`` for every line under ``root`` that names a path outside the checkout."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES or SKIP_PARTS & set(path.parts):
            continue
        if path == Path(__file__).resolve():
            continue  # this file spells the patterns out
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if any(pattern.search(line) for pattern in OUTSIDE):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()[:120]}")
    return found


def test_no_test_reads_outside_the_checkout() -> None:
    assert outside_paths(TESTS) == []


def test_the_scan_finds_such_paths(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text('DATA = Path("/work/shared/reference/credentials")\nOTHER = "../shared/x"\nOK = "/tmp/work/x"\n')
    assert [line.split(":", 2)[1] for line in outside_paths(tmp_path)] == ["1", "2"]
