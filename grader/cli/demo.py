"""`grader demo`: the main job, every bundled solution graded (locally or through the whole service)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from grader.cli.console import Progress, err, out
from grader.config import get_settings


def demo(
    assignments_dir: Annotated[Path, typer.Option(help="Folder of assignments with solutions/")] = Path("assignments"),
    out_dir: Annotated[Path, typer.Option("--out", help="Where feedback, credentials and badges go")] = Path(
        "demo-output"
    ),
    stack: Annotated[
        bool, typer.Option("--stack", help="Run it through the whole service: Redis, the REST API and queue workers")
    ] = False,
) -> None:
    """The main job: grade every bundled solution through a loopback git server and check the results."""
    from grader.demo.local import run_demo

    if stack:
        from grader.demo.stack import run_stack_demo

        raise typer.Exit(run_stack_demo(assignments_dir, get_settings(), out, err))
    out_dir.mkdir(parents=True, exist_ok=True)
    raise typer.Exit(run_demo(assignments_dir, get_settings(), out, err, out_dir, Progress(err)))


