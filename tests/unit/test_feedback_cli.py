"""The CLI prints messages verbatim: brackets in a spec error (a regex) or a URL are not Rich markup."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from grader.cli.console import say
from grader.cli.main import app

PATTERN = "'^[a-z0-9][a-z0-9-]{1,62}$'"


def test_say_keeps_brackets() -> None:
    console = Console(file=io.StringIO(), width=200)
    say(console, "error", f"id: String should match pattern {PATTERN} [bold]not markup[/]")
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert PATTERN in printed and "[bold]not markup[/]" in printed and printed.startswith("error ")


def test_validate_prints_the_spec_error_with_its_pattern(tmp_path: Path) -> None:
    (tmp_path / "assignment.yaml").write_text(
        "id: Not_A_Slug\nversion: 1.0.0\ntitle: t\nrunner: python-3.11\ntests: {visible: v}\n"
        "rubric: {criteria: [{id: c, title: C, points: 1, tests: ['*'], levels: {Ok: 50}}]}\n"
    )
    run = CliRunner().invoke(app, ["assignment", "validate", str(tmp_path)], env={"COLUMNS": "300"})
    assert run.exit_code == 1
    assert PATTERN in " ".join(run.output.split()), run.output
