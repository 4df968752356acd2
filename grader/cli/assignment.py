"""`grader assignment validate | check | new | build`: the course author's tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from grader.cli.console import err, fault_exit, load_or_exit, out, say
from grader.config import get_settings
from grader.core.errors import EXIT_BAD_INPUT, GraderFault, is_known_fault
from grader.core.spec import SpecError, load_assignment
from grader.sandbox.images import assignment_image

assignment_app = typer.Typer(help="Check and build assignment specs.", no_args_is_help=True)


@assignment_app.command("validate")
def assignment_validate(path: Annotated[Path, typer.Argument(help="Assignment folder or assignment.yaml")]) -> None:
    """Check a spec: every error names the file, the field and what was expected. Exit 0 valid, 1 invalid."""
    try:
        loaded = load_assignment(path)
    except SpecError as exc:
        for issue in exc.issues:
            say(out, "error", issue)
        out.print(f"{len(exc.issues)} error(s)")
        raise typer.Exit(1) from exc
    tests = sum(len(ids) for ids in loaded.test_ids.values())
    say(
        out,
        "valid",
        f"{loaded.spec.id} {loaded.spec.version}: {tests} tests, "
        f"{len(loaded.spec.rubric.criteria)} criteria, {loaded.spec_hash}",
        style="green",
    )


@assignment_app.command("check")
def assignment_check(
    path: Annotated[Path, typer.Argument(help="Assignment folder or assignment.yaml")],
    write_manifest: Annotated[
        bool, typer.Option("--write-manifest", help="Write manifest.json (the test ids grades count) from the reference run")
    ] = False,
) -> None:
    """Grade the reference and every solution in solutions/expected.yaml through the real sandbox and compare
    with what is written down. Exit 0 when all match, 2 when the assignment fails its check. Never issues a
    credential."""
    from grader.authoring.check import MANIFEST_STALE, check_assignment
    from grader.authoring.check import write_manifest as write_manifest_file

    try:
        report = check_assignment(path, get_settings(), lambda line: err.print(Text(line, style="dim")))
    except SpecError as exc:
        for issue in exc.issues:
            say(err, "error", issue)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    except GraderFault as exc:
        raise fault_exit(exc) from exc
    table = Table(title=f"check of {report.assignment}", show_lines=False)
    for column in ("solution", "expected", "got", "result"):
        table.add_column(column)
    for row in report.rows:
        result = Text("ok", style="green") if row.ok else Text("; ".join(row.problems), style="red")
        table.add_row(Text(row.solution), Text(row.expected), Text(row.got), result)
    out.print(table)
    for problem in report.problems:
        say(out, "refused", problem)
    root = load_assignment(path).root
    if report.manifest is not None and write_manifest:
        say(out, "wrote", write_manifest_file(root, report.manifest), style="green")
    elif report.manifest is not None and not report.manifest_current:
        say(out, "refused", MANIFEST_STALE)
        raise typer.Exit(EXIT_BAD_INPUT)
    if not report.ok:
        raise typer.Exit(EXIT_BAD_INPUT)
    say(out, "checked", f"{report.assignment}: every solution grades as written down", style="green")


@assignment_app.command("new")
def assignment_new(
    assignment_id: Annotated[str, typer.Argument(help="The new assignment's id (lowercase, digits, '-')")],
    directory: Annotated[Path | None, typer.Option("--dir", help="Where to create it (default: ./ID)")] = None,
) -> None:
    """Write a working skeleton (spec, visible and hidden suites, a reference and a known-bad solution, the
    expected outcomes) that passes `grader assignment check` at once."""
    from grader.authoring.skeleton import skeleton

    target = directory or Path(assignment_id)
    try:
        files = skeleton(assignment_id)
    except ValueError as exc:
        say(err, "error", exc)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    if target.exists() and any(target.iterdir()):
        say(err, "error", f"{target} exists and is not empty")
        raise typer.Exit(EXIT_BAD_INPUT)
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    say(out, "created", f"{target}: now run 'grader assignment check --write-manifest {target}'", style="green")


@assignment_app.command("build")
def assignment_build(path: Annotated[Path, typer.Argument(help="Assignment folder or assignment.yaml")]) -> None:
    """Build (or find cached) the runner and assignment images."""
    loaded = load_or_exit(path)
    try:
        with err.status("building images") as status:
            image = assignment_image(loaded, get_settings(), lambda line: status.update(escape(line[:100])))
    except Exception as exc:  # a package that does not exist is the author's (exit 2), an engine fault ours (1)
        if not is_known_fault(exc):
            raise
        raise fault_exit(exc) from exc
    say(out, "ready", f"{image.tag} {image.id}", style="green")


