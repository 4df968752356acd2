"""The reporter: the pytest plugin that owns collection of the author's test modules and reports every
outcome (one signed event per test phase; the harness adds the phases up into results), and the
comparison that replaces pytest's while a test runs (it holds no reference back to the config)."""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable, Generator
from typing import Any

import pytest

from grader_harness.child.equality import EQ_HELPER, IN_HELPER, make_equality_checks
from grader_harness.child.guard import Classifier, Guard
from grader_harness.child.integrity import Integrity
from grader_harness.child.modules import TrustedModule, compile_test_module, mentions
from grader_harness.config import canaries_by_file
from grader_harness.protocol import COLLECT_ERROR, FINISH, MAX_MESSAGE, NOTICE, PHASE, TAMPER, ChildConfig
from grader_harness.signing import Sender

MAX_TAMPER_EVENTS = 40
Compare = Callable[[str, Any, Any], "str | None"]


class Reporter:
    """The pytest plugin that owns collection of the author's test modules and reports every outcome."""

    def __init__(self, cfg: ChildConfig, send: Sender, guard: Guard | None, integrity: Integrity,
                 classifier: Classifier):
        self.cfg = cfg
        self.send = send
        self.guard = guard
        self.integrity = integrity
        self.classifier = classifier
        self.roots = [(name, os.path.realpath(path)) for name, path in cfg["suites"].items()]
        self.paths: dict[str, str] = {}
        self.isolated_compare: Compare | None = None
        self.compiled: dict[str, types.CodeType | SyntaxError] = {}
        self.config: pytest.Config | None = None
        self.tampers = 0
        self.reported: set[tuple[str, str]] = set()

    # -- reporting -----------------------------------------------------------------------------
    def tamper(self, code: str, detail: str) -> None:
        key = (code, detail[:200])
        if key in self.reported or self.tampers >= MAX_TAMPER_EVENTS:
            return
        self.reported.add(key)
        self.tampers += 1
        self.send({"event": TAMPER, "code": code, "detail": detail[:500]})

    def notice(self, code: str, detail: str) -> None:
        key = ("notice", code)
        if key not in self.reported:
            self.reported.add(key)
            self.send({"event": NOTICE, "code": code, "detail": detail[:500]})

    def verify(self, where: str) -> None:
        changed = self.integrity.changes(self.config)
        if changed:
            self.tamper("pytest-patched", f"{where}: " + "; ".join(changed[:8]))

    # -- collection ----------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config
        silence_terminal(config)
        from _pytest.assertion import truncate

        pytest_8: Any = truncate  # the image's pytest (8.x) has the defaults; the names moved since
        DEFAULT_MAX_CHARS, DEFAULT_MAX_LINES = pytest_8.DEFAULT_MAX_CHARS, pytest_8.DEFAULT_MAX_LINES

        lines = config.getini("truncation_limit_lines")
        chars = config.getini("truncation_limit_chars")
        self.isolated_compare = make_isolated_compare(
            config.get_verbosity(), int(lines if lines is not None else DEFAULT_MAX_LINES),
            int(chars if chars is not None else DEFAULT_MAX_CHARS))

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:
        self.integrity.take()
        by_file = canaries_by_file(self.cfg["canaries"] or [])
        for suite, files in (self.cfg["sources"] or {}).items():
            root = self.cfg["suites"][suite]
            for rel, source in files.items():
                path = os.path.join(root, rel)
                try:
                    self.compiled[os.path.realpath(path)] = compile_test_module(
                        path, source, by_file.get((suite, rel), []), session.config)
                except SyntaxError as exc:
                    self.compiled[os.path.realpath(path)] = exc
        # Neither the sources nor the canaries' names are kept around for learner code to find.
        self.cfg["sources"] = self.cfg["canaries"] = None
        # pytest's assertion-rewriting import hook holds the config and the session; in sys.meta_path
        # any code could reach them. The tests are compiled (and rewritten) above, so it can go.
        sys.meta_path[:] = [f for f in sys.meta_path if not hasattr(f, "config") and not hasattr(f, "session")]
        from _pytest.mark.structures import MARK_GEN

        MARK_GEN._config = None  # the same, for marks (only unknown-mark warnings need it)
        if self.guard is not None:
            self.guard.armed = True
        submission = self.cfg.get("submission")
        if submission:
            sys.path.append(submission)

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makemodule(self, module_path: Any, parent: pytest.Collector) -> pytest.Module | None:
        code = self.compiled.get(os.path.realpath(str(module_path)))
        if code is None:
            return None
        module: TrustedModule = TrustedModule.from_parent(parent, path=module_path)
        module.grader_load = lambda node: self.load(node, code)
        return module

    def load(self, node: TrustedModule, code: types.CodeType | SyntaxError) -> types.ModuleType:
        self.verify(f"before importing {node.path.name}")
        if isinstance(code, SyntaxError):
            raise node.CollectError(f"the test module does not compile: {code}")
        name = f"grader_tests_{len(self.paths)}_{node.path.stem}"
        module = types.ModuleType(name)
        module.__file__ = str(node.path)
        eq, contains = make_equality_checks(self.classifier, self.tamper, allow_any=mentions(code, "ANY"))
        module.__dict__[EQ_HELPER] = eq
        module.__dict__[IN_HELPER] = contains
        # Registered only while it executes (dataclasses look their module up); afterwards a scan of
        # sys.modules does not find the tests.
        sys.modules[name] = module
        try:
            exec(code, module.__dict__)
        except (SystemExit, pytest.exit.Exception) as exc:
            what = f"sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else f"pytest.exit({exc.msg!r})"
            self.notice("exit-at-import", f"{what} while {node.path.name} imported the submission")
            raise node.CollectError(f"the submission called {what} while it was imported") from None
        except pytest.skip.Exception:
            raise
        except Exception:
            info = pytest.ExceptionInfo.from_current()
            raise node.CollectError(str(info.getrepr(style="short"))) from None
        finally:
            sys.modules.pop(name, None)
        node.config.pluginmanager.consider_module(module)
        return module

    def pytest_collectstart(self, collector: pytest.Collector) -> None:
        self.paths[collector.nodeid] = str(collector.path)

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        self.paths[item.nodeid] = str(item.path)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.verify("after collection")
        self.integrity.take_plugins(session.config)
        self.integrity.take_items(session.items)

    def locate(self, nodeid: str) -> tuple[str, str]:
        # Node ids of files outside pytest's rootdir are not stable paths; the collected node knows its own.
        real = os.path.realpath(self.paths.get(nodeid, ""))
        for suite, root in self.roots:
            if real.startswith(root + os.sep):
                rel = os.path.relpath(real, root).replace(os.sep, "/")
                rest = nodeid.split("::", 1)[1] if "::" in nodeid else ""
                return suite, rel + ("::" + rest if rest else "")
        return "unknown", nodeid

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            suite, file_id = self.locate(report.nodeid)
            self.send({"event": COLLECT_ERROR, "suite": suite, "file": file_id,
                       "message": str(report.longreprtext)[-MAX_MESSAGE:]})

    # -- results -------------------------------------------------------------------------------
    # Each phase is sent as it is logged; the harness (another process) adds them up per test, so no
    # running total sits in this process for learner code to edit.
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.verify(f"before reporting {report.nodeid.rpartition('::')[2]}")
        suite, test_id = self.locate(report.nodeid)
        if report.failed:
            message = str(report.longreprtext)[-MAX_MESSAGE:]
        elif report.skipped and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2])[-MAX_MESSAGE:]
        else:
            message = ""
        self.send({"event": PHASE, "suite": suite, "id": test_id, "when": str(report.when),
                   "outcome": str(report.outcome), "duration": round(float(report.duration), 4),
                   "message": message})

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, None]:
        """Innermost around each test: pytest's assertion plugin leaves the config (and through it this
        plugin) reachable from module globals of _pytest.assertion.util while a test runs; replace
        them with a comparison that holds no reference back."""
        from _pytest.assertion import util

        saved = util._reprcompare, util._config
        util._reprcompare, util._config = self.isolated_compare, None
        try:
            yield
        finally:
            util._reprcompare, util._config = saved

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.verify("at the end of the session")
        self.send({"event": FINISH, "exit_status": int(exitstatus)})


def silence_terminal(config: pytest.Config) -> None:
    """pytest's terminal report (progress letters, failure tracebacks, the summary, which name hidden
    tests and canaries) would otherwise be mixed into the output captured as the program's. The results
    travel as events; the report goes nowhere."""
    from _pytest.config import create_terminal_writer

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter._tw = create_terminal_writer(config, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 (kept open)


class ConfigView:
    """The two things pytest's assertion comparison reads from the config, copied."""

    __slots__ = ("verbosity",)

    def __init__(self, verbosity: int):
        self.verbosity = verbosity

    def get_verbosity(self, kind: str | None = None) -> int:
        return self.verbosity

    def get_terminal_writer(self) -> type[PlainWriter]:
        return PlainWriter


class PlainWriter:
    @staticmethod
    def _highlight(source: str, lexer: str = "python") -> str:
        return source


def make_isolated_compare(verbosity: int, max_lines: int, max_chars: int) -> Compare:
    """pytest's rich `==` explanations without the item or the config (author compare hooks are not called)."""
    from _pytest.assertion import truncate, util

    # Bound now; typed loosely, as the image's pytest (8.x) and the host's may differ in these internals.
    truncate_explanation: Any = truncate._truncate_explanation
    assertrepr_compare: Any = util.assertrepr_compare
    view = ConfigView(verbosity)

    def compare(op: str, left: Any, right: Any) -> str | None:
        try:
            lines = assertrepr_compare(config=view, op=op, left=left, right=right)
        except Exception:
            return None
        if not lines:
            return None
        if max_lines or max_chars:
            lines = truncate_explanation(lines, max_lines=max_lines, max_chars=max_chars)
        return "\n~".join(line.replace("\n", "\\n") for line in lines).replace("%", "%%")

    return compare

