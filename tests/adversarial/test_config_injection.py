"""Changing how pytest runs: the learner's conftest, ini files, plugins, site hooks and shadowing modules.

The harness collects with the author's configuration only, so each of these is inert: the failing
solution keeps exactly its honest score, and the ignored files are named in a notice.
"""

from __future__ import annotations

from tests.adversarial.conftest import FAILING_SCORE, assert_defeated, solution_files

FORCE_PASS_HOOKS = """
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome, report.longrepr = "passed", None

def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(pytest.mark.skipif(True, reason="forced"))
"""

SHADOW_PYTEST = """
import os
print('@@grader:forged:{"event":"finish","exit_status":0}')
os._exit(0)
"""


def test_learner_conftest_forces_passes(attack, record, no_leftovers) -> None:
    files = solution_files(
        "failing",
        {
            "conftest.py": FORCE_PASS_HOOKS,
            "ledger/conftest.py": FORCE_PASS_HOOKS,
            "tests/conftest.py": FORCE_PASS_HOOKS,
        },
    )
    result = attack(files)
    assert_defeated(result, flags={"learner-config-ignored"}, tripwire=False, score=FAILING_SCORE)
    record(result, "`conftest.py` hooks forcing every report to passed", "harness (`--confcutdir`, rootdir)")


def test_ini_files_inject_options_and_plugins(attack, record, no_leftovers) -> None:
    addopts = "-p ledger.force_pass -p no:python --deselect test_core.py -o python_functions=nothing"
    files = solution_files(
        "failing",
        {
            "pytest.ini": f"[pytest]\naddopts = {addopts}\npython_files = nothing_*.py\n",
            "pyproject.toml": f'[tool.pytest.ini_options]\naddopts = "{addopts}"\n',
            "setup.cfg": f"[tool:pytest]\naddopts = {addopts}\n",
            "tox.ini": f"[pytest]\naddopts = {addopts}\n",
            "ledger/force_pass.py": FORCE_PASS_HOOKS,
        },
    )
    result = attack(files)
    assert_defeated(result, flags={"learner-config-ignored"}, tripwire=False, score=FAILING_SCORE)
    record(
        result, "`pytest.ini`/`pyproject.toml`/`setup.cfg`/`tox.ini` with `addopts = -p plugin`", "harness (`-c` ini)"
    )


def test_entry_point_plugin(attack, record, no_leftovers) -> None:
    files = solution_files(
        "failing",
        {
            "force_pass-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: force-pass\nVersion: 1.0\n",
            "force_pass-1.0.dist-info/entry_points.txt": "[pytest11]\nforce_pass = force_pass\n",
            "force_pass-1.0.dist-info/RECORD": "",
            "force_pass.py": FORCE_PASS_HOOKS,
        },
    )
    result = attack(files)
    assert_defeated(result, flags={"learner-plugins-ignored"}, tripwire=False, score=FAILING_SCORE)
    record(
        result,
        "A `pytest11` entry-point plugin in a `.dist-info` folder",
        "`PYTEST_DISABLE_PLUGIN_AUTOLOAD`, late sys.path",
    )


def test_sitecustomize_usercustomize_and_pth(attack, record, no_leftovers) -> None:
    patch = "import _pytest.reports as r\nr.TestReport.passed = property(lambda self: True)\n"
    files = solution_files(
        "failing",
        {"sitecustomize.py": patch, "usercustomize.py": patch, "force.pth": "import sitecustomize\n"},
    )
    result = attack(files)
    assert_defeated(result, flags={"learner-plugins-ignored"}, tripwire=False, score=FAILING_SCORE)
    record(result, "`sitecustomize.py`, `usercustomize.py` and a `.pth` file", "`python -I`, late sys.path")


def test_shadow_pytest_and_pluggy(attack, record, no_leftovers) -> None:
    files = solution_files(
        "failing",
        {"pytest.py": SHADOW_PYTEST, "_pytest/__init__.py": SHADOW_PYTEST, "pluggy.py": SHADOW_PYTEST},
    )
    result = attack(files)
    assert_defeated(result, flags={"shadowing-modules-ignored"}, tripwire=False, score=FAILING_SCORE)
    record(
        result, "`pytest.py`, `_pytest/` and `pluggy.py` shadowing the test tools", "imports before the learner path"
    )


def test_shadow_stdlib_and_harness(attack, record, no_leftovers) -> None:
    files = solution_files(
        "failing",
        {
            "json.py": SHADOW_PYTEST,
            "hmac.py": SHADOW_PYTEST,
            "ast.py": SHADOW_PYTEST,
            "harness.py": SHADOW_PYTEST,
            "child.py": SHADOW_PYTEST,
        },
    )
    result = attack(files)
    assert_defeated(result, flags={"shadowing-modules-ignored"}, tripwire=False, score=FAILING_SCORE)
    assert "forged-output" not in {f.code for f in result.grade.flags}  # none of the shadows ever ran
    record(
        result,
        "`json.py`, `hmac.py`, `ast.py`, `harness.py`, `child.py` shadowing the harness's imports",
        "harness run by path, learner path last",
    )
