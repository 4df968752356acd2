"""The CLI loads lazily: `grader --help` imports no command module's heavy dependencies, `grader grade`
only what grading uses, and every lazily registered command still resolves (with the help it lists)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from grader.cli.main import COMMANDS, app, load_command

HEAVY = ("sqlalchemy", "alembic", "docker", "git", "pyld", "pyoxigraph", "jinja2", "rich.markdown", "uvicorn", "redis")


def _imported_after(code: str) -> list[str]:
    """Run `code` in a fresh interpreter and list which HEAVY modules it left in sys.modules."""
    probe = (
        "import json, sys\n"
        f"{code}\n"
        f"sys.stderr.write('\\nMODULES ' + json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)) + '\\n')\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    marker = [line for line in run.stderr.splitlines() if line.startswith("MODULES ")]
    assert marker, run.stderr
    loaded: list[str] = json.loads(marker[-1].removeprefix("MODULES "))
    return loaded


def test_help_imports_none_of_the_heavy_libraries() -> None:
    code = (
        "from grader.cli.main import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
    )
    assert _imported_after(code) == []


def test_the_modules_a_grade_loads_need_no_database_verifier_or_markdown() -> None:
    # What `grader grade --json` imports on its way: the command, its console, the pipeline, the issuer
    # and the JSON output. The sandbox's Docker SDK and the fetcher's git are used by a grade, so allowed.
    code = (
        "import grader.cli.grade, grader.cli.console, grader.grading.pipeline, grader.issuing.local\n"
        "import grader.grading.outputs, grader.config\n"
    )
    loaded = _imported_after(code)
    assert [m for m in loaded if m not in ("docker", "git")] == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_lazy_command_resolves_with_the_help_it_lists(name: str) -> None:
    command = load_command(name)  # a broken module fails here, never hides its command
    assert command.name == name
    assert (command.help or "").strip().splitlines()[0] == COMMANDS[name].help


def test_the_root_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == list(COMMANDS)


def test_an_unknown_command_is_refused_by_name() -> None:
    result = CliRunner().invoke(app, ["gradd"])
    assert result.exit_code == 2
    assert "No such command 'gradd'" in result.output
