"""The test process's pytest plugins without Docker: the per-test time limit and the boundaries, run by
pytest in a subprocess over a small suite (as the harness's child does, minus the sandbox)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from grader_harness.child.boundaries import Boundaries, make_marker
from grader_harness.child.timelimit import TimeLimitPerTest

RUNNER = """
import os, sys, pytest
from grader_harness.child.boundaries import Boundaries
from grader_harness.child.timelimit import TimeLimitPerTest

marks = []
class Collect:
    def __init__(self):
        self.outcomes = {}
    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.failed:
            self.outcomes[report.nodeid.split("::")[-1]] = (report.outcome, str(report.longrepr or ""))
collect = Collect()
plugins = [collect, TimeLimitPerTest(float(sys.argv[2]))]
plugins.append(Boundaries(lambda nodeid: ("visible", nodeid.split("::")[-1]), marks.append))
pytest.main(["-q", "-p", "no:cacheprovider", "--capture=no", sys.argv[1]], plugins=plugins)
for name, (outcome, text) in sorted(collect.outcomes.items()):
    print("RESULT", name, outcome, "timed out after" in text)
print("MARKS", [(m["event"], m["id"]) for m in marks])
"""


def run(tmp_path: Path, tests: str, limit: float) -> list[str]:
    (tmp_path / "test_sample.py").write_text(textwrap.dedent(tests))
    (tmp_path / "runner.py").write_text(RUNNER)
    done = subprocess.run([sys.executable, str(tmp_path / "runner.py"), str(tmp_path / "test_sample.py"), str(limit)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    return [line for line in done.stdout.splitlines() if line.startswith(("RESULT", "MARKS"))]


def test_a_slow_test_fails_alone_and_boundaries_wrap_each_test(tmp_path: Path) -> None:
    lines = run(tmp_path, """
        import time

        def test_fast():
            assert sum([1, 2]) == 3

        def test_slow():
            time.sleep(5)

        def test_after():
            assert 1 + 1 == 2
    """, limit=0.5)
    assert "RESULT test_fast passed False" in lines
    assert "RESULT test_slow failed True" in lines
    assert "RESULT test_after passed False" in lines
    assert lines[-1] == ("MARKS [('begin', 'test_fast'), ('end', 'test_fast'), ('begin', 'test_slow'), "
                         "('end', 'test_slow'), ('begin', 'test_after'), ('end', 'test_after')]")


def test_the_marker_waits_for_its_acknowledgement() -> None:
    sent: list[dict[str, object]] = []
    ack_read, ack_write = os.pipe()
    seq = iter(range(1, 100))

    def send(event: dict[str, object]) -> int:
        sent.append(event)
        return next(seq)

    os.write(ack_write, b"1\n")
    mark = make_marker(send, ack_read, ())
    mark({"event": "begin", "suite": "visible", "id": "a"})  # acknowledged already: returns at once
    os.close(ack_write)
    mark({"event": "end", "suite": "visible", "id": "a"})  # the harness went away: returns, never hangs
    assert [e["event"] for e in sent] == ["begin", "end"]
    os.close(ack_read)
    assert Boundaries and TimeLimitPerTest(1).limit == 1.0
