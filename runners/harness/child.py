"""In-container harness, learner side: runs pytest over the author's suites with the learner's code importable.

Started by harness.py with `python3 -I`, a scrubbed environment and a working directory outside the
learner's tree. pytest is imported before the learner's folder joins sys.path (at the end), so a learner
module can shadow neither pytest nor this harness; only the author's configuration is used.
"""

import json
import os
import sys

import pytest

EVENT_FD = int(sys.argv[1])
CONFIG = json.load(open(sys.argv[2], encoding="utf-8"))
MAX_MESSAGE = 4000


class Reporter:
    """A pytest plugin that sends one event per test outcome over the result pipe."""

    def __init__(self, suites, canary_dir):
        self.roots = [(name, os.path.realpath(path)) for name, path in suites.items()]
        self.roots.append(("canary", os.path.realpath(canary_dir)))
        self.outcomes = {}
        self.paths = {}
        self.out = os.fdopen(EVENT_FD, "w", buffering=1, encoding="utf-8")

    def send(self, event):
        self.out.write(json.dumps(event, separators=(",", ":")) + "\n")
        self.out.flush()

    def pytest_collectstart(self, collector):
        self.paths[collector.nodeid] = str(collector.path)

    def pytest_itemcollected(self, item):
        self.paths[item.nodeid] = str(item.path)

    def locate(self, nodeid):
        # Node ids of files outside pytest's rootdir are not stable paths; the collected node knows its own.
        real = os.path.realpath(self.paths.get(nodeid, ""))
        for suite, root in self.roots:
            if real.startswith(root + os.sep):
                rel = os.path.relpath(real, root).replace(os.sep, "/")
                rest = nodeid.split("::", 1)[1] if "::" in nodeid else ""
                return suite, rel + ("::" + rest if rest else "")
        return "unknown", nodeid

    def pytest_collectreport(self, report):
        if report.failed:
            suite, file_id = self.locate(report.nodeid)
            self.send({"event": "collect_error", "suite": suite, "file": file_id,
                       "message": str(report.longreprtext)[-MAX_MESSAGE:]})

    def pytest_runtest_logreport(self, report):
        state = self.outcomes.setdefault(report.nodeid, {"outcome": "passed", "duration": 0.0, "message": ""})
        state["duration"] += float(report.duration)
        if report.failed:
            state["outcome"] = "failed" if report.when == "call" else "error"
            state["message"] = str(report.longreprtext)[-MAX_MESSAGE:]
        elif report.skipped and state["outcome"] == "passed":
            state["outcome"] = "skipped"
            state["message"] = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        if report.when == "teardown":
            suite, test_id = self.locate(report.nodeid)
            self.send({"event": "result", "suite": suite, "id": test_id, "outcome": state["outcome"],
                       "duration": round(state["duration"], 4), "message": state["message"]})

    def pytest_sessionfinish(self, session, exitstatus):
        self.send({"event": "finish", "exit_status": int(exitstatus)})


def main():
    reporter = Reporter(CONFIG["suites"], CONFIG["canary_dir"])
    ini = os.path.join(CONFIG["run_dir"], "pytest.ini")
    with open(ini, "w", encoding="utf-8") as handle:
        handle.write("[pytest]\n")
    sys.path.append(CONFIG["submission"])
    paths = [CONFIG["canary_dir"], *CONFIG["suites"].values()]
    args = [
        "-c", ini, "--rootdir", CONFIG["run_dir"], "--confcutdir", CONFIG["tests_root"],
        "-p", "no:cacheprovider", "-p", "no:pastebin", "-p", "no:legacypath",
        "--continue-on-collection-errors", "--import-mode=importlib", "-q", "--tb=short",
        # No capture: learner output goes straight to the harness, which caps it. pytest's capture would
        # buffer it in memory or in /tmp (a tmpfs that counts against the memory limit).
        "--capture=no",
        "-o", "console_output_style=classic", *paths,
    ]
    sys.exit(pytest.main(args, plugins=[reporter]))


main()
