"""The test process's entry point: everything that decides a result is set up here before the learner's
folder joins sys.path (at the very end, once collection starts).

Started by the supervisor as `python3 -I /opt/grader/child.py CONFIG_FD RESULTS_FD [BRIDGE_IN BRIDGE_OUT]`
with a scrubbed environment and a working directory outside the learner's tree (the acknowledgement
pipe's fd comes in the configuration). The order below is the defence: configuration and key first,
then non-dumpable, then the guard, and the learner's code last.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import _pytest
import pluggy
import pytest

from grader_harness.child.boundaries import Boundaries, make_marker
from grader_harness.child.guard import Classifier, Guard, protected_roots, trusted_roots
from grader_harness.child.integrity import Integrity
from grader_harness.child.reporter import Reporter
from grader_harness.child.timelimit import TimeLimitPerTest
from grader_harness.config import read_child_config
from grader_harness.processes import CHILD_DEFAULT_SIGNALS, make_non_dumpable
from grader_harness.protocol import PYCACHE_DIR
from grader_harness.signing import make_sender


def pytest_args(run_dir: str, tests_root: str, suites: list[str]) -> list[str]:
    """pytest's command line: the author's configuration only (an empty ini in the run folder, conftests
    under the tests only), no capture, no plugins that keep the config reachable."""
    return [
        "-c", os.path.join(run_dir, "pytest.ini"), "--rootdir", run_dir, "--confcutdir", tests_root,
        "-p", "no:cacheprovider", "-p", "no:pastebin", "-p", "no:legacypath", "-p", "no:doctest",
        "-p", "no:debugging",  # its pytestPDB class keeps the config in a class attribute
        "--continue-on-collection-errors", "--import-mode=importlib", "-q", "--tb=short",
        # No capture: learner output goes straight to the harness, which caps it. pytest's capture would
        # buffer it in memory or in /tmp (a tmpfs that counts against the memory limit).
        "--capture=no",
        "-o", "console_output_style=classic", *suites,
    ]


def main() -> None:
    # `python -I` ignores PYTHONDONTWRITEBYTECODE: without this an honest import writes __pycache__ into the
    # read-only snapshot (write-outside-tmp), and with the prefix a committed .pyc is never loaded instead
    # of its source (bytecode is looked up under the prefix, where nothing is ever written).
    sys.dont_write_bytecode = True
    sys.pycache_prefix = PYCACHE_DIR
    cfg = read_child_config(int(sys.argv[1]))
    # The key is never held in a variable here: only the sender's closure keeps it.
    send = make_sender(int(sys.argv[2]), bytes.fromhex(cfg.pop("key")))
    make_non_dumpable()
    try:  # under runc, the kernel's OOM killer then picks the learner's processes before the harness
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")
    except OSError:
        pass
    for name in CHILD_DEFAULT_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    submission = cfg.get("submission")
    tools = [os.path.dirname(m.__file__ or "") for m in (pytest, _pytest, pluggy)]
    classifier = Classifier(submission or "/nonexistent-submission", trusted_roots(cfg["tests_root"], *tools))
    integrity = Integrity()
    guard = None
    reporter = Reporter(cfg, send, None, integrity, classifier)
    if submission:
        guard = Guard(classifier, reporter.tamper, reporter.notice, protected_roots(cfg["tests_root"]))
        reporter.guard = guard
        sys.addaudithook(guard.hook)
    with open(os.path.join(cfg["run_dir"], "pytest.ini"), "w", encoding="utf-8") as handle:
        handle.write("[pytest]\n")
    args = pytest_args(cfg["run_dir"], cfg["tests_root"], list(cfg["suites"].values()))
    plugins: list[Any] = [reporter]
    if cfg.get("test_timeout_s"):
        plugins.append(TimeLimitPerTest(float(cfg["test_timeout_s"] or 0)))
    # The author's helper modules beside the tests are importable as in the author's own checkout. (In the
    # in-process mode a hidden suite's helpers are then importable by learner code too; they are on disk
    # and readable there anyway, as SECURITY.md says, and reading them is flagged.)
    sys.path[:0] = [os.path.realpath(path) for path in cfg["suites"].values()]
    bridge = cfg.get("bridge")
    if bridge:
        # Isolated unit mode: the learner's modules are proxies of the learner's container's.
        from grader_harness.bridge import client

        plugins.append(client.install(bridge, int(sys.argv[3]), int(sys.argv[4]), reporter.tamper, reporter.notice))
    # Registered last: among the tryfirst wrappers of a test, the outermost.
    plugins.append(Boundaries(reporter.locate, make_marker(send, int(cfg.pop("ack_fd")), (sys.stdout, sys.stderr))))
    status = pytest.main(args, plugins=plugins)
    sys.stdout.flush()
    os._exit(int(status))
