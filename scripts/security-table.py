#!/usr/bin/env python3
"""Copy the adversarial suite's generated results table into SECURITY.md.

The table is written by tests/adversarial/conftest.py (tests/adversarial/RESULTS.md) after a complete,
green run of the adversarial suite. This script replaces everything between the two markers in
SECURITY.md with it. With --check it changes nothing and exits 1 when SECURITY.md is out of date.

    scripts/adversarial-table.sh   (runs the suite with the table writer on, then this script)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "tests" / "adversarial" / "RESULTS.md"
SECURITY = ROOT / "SECURITY.md"
START = "<!-- adversarial-results:start -->"
END = "<!-- adversarial-results:end -->"


def spliced(document: str, table: str) -> str:
    head, found_start, rest = document.partition(START)
    _, found_end, tail = rest.partition(END)
    if not (found_start and found_end):
        raise SystemExit(f"{SECURITY.name} lacks the markers {START} ... {END}")
    return f"{head}{START}\n{table.rstrip()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if SECURITY.md differs from RESULTS.md")
    args = parser.parse_args()
    if not RESULTS.is_file():
        print(f"{RESULTS.relative_to(ROOT)} does not exist: run the whole adversarial suite first", file=sys.stderr)
        return 1
    document = SECURITY.read_text()
    updated = spliced(document, RESULTS.read_text())
    if args.check:
        if updated != document:
            print("SECURITY.md's results table is out of date: run scripts/security-table.py", file=sys.stderr)
            return 1
        print("SECURITY.md's results table matches the last adversarial run")
        return 0
    SECURITY.write_text(updated)
    print(f"updated {SECURITY.name} from {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
