"""The `grader` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from grader.config import Settings, get_settings
from grader.core.errors import EXIT_BAD_INPUT, GraderFault, disposition, fault_detail, fault_label, is_known_fault
from grader.core.feedback import gradescope_results, junit_xml, learner_view, printable, render_html, render_markdown
from grader.core.spec import LoadedAssignment, SpecError, load_assignment
from grader.grading.pipeline import CredentialIssuer, GradingResult, grade_repository
from grader.sandbox.images import assignment_image

app = typer.Typer(help="Grade learners' git repositories and issue verifiable micro-credentials.", no_args_is_help=True)
assignment_app = typer.Typer(help="Check and build assignment specs.", no_args_is_help=True)
app.add_typer(assignment_app, name="assignment")
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def say(console: Console, label: str, message: object, style: str = "red") -> None:
    """Print a styled label, then the message verbatim: messages quote user input (regexes, URLs,
    build output) whose brackets Rich would otherwise read as markup and drop."""
    console.print(Text.assemble((label, style), " ", str(message)))


def fault_exit(exc: BaseException) -> typer.Exit:
    """Print a fault once, introduced by its label, and give the exit code its kind maps to (grader.core.errors:
    2 a learner's or an author's fault, 1 a fault of the system)."""
    err.print(Text.assemble((fault_label(exc), "red"), " ", fault_detail(exc)))
    return typer.Exit(disposition(exc).exit_code)


class Progress:
    """Live progress through the stages, on stderr so that --json output stays clean."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.status: Any = None

    def __call__(self, stage: str, status: str, detail: str) -> None:
        if self.quiet:
            return
        if status == "start":
            self.status = self.console.status(f"[bold]{stage}[/] {escape(detail)}")
            self.status.start()
        elif status == "info" and self.status is not None:
            self.status.update(f"[bold]{stage}[/] {escape(detail[:100])}")
        elif status in ("done", "fail"):
            if self.status is not None:
                self.status.stop()
            # A failure's reason is printed once, by the caller, with its exit code.
            mark = "[green]✓[/]" if status == "done" else "[red]✗[/]"
            self.console.print(f"{mark} {stage}")


def _settings(allow_host: list[str] | None, allow_scheme: list[str] | None) -> Settings:
    settings = get_settings()
    update: dict[str, Any] = {}
    if allow_host:
        update["allowed_hosts"] = [*settings.allowed_hosts, *allow_host]
    if allow_scheme:
        update["allowed_schemes"] = [*settings.allowed_schemes, *allow_scheme]
    return settings.model_copy(update=update) if update else settings


def _load_or_exit(path: Path) -> LoadedAssignment:
    try:
        return load_assignment(path)
    except SpecError as exc:
        for issue in exc.issues:
            say(err, "error", issue)
        raise typer.Exit(EXIT_BAD_INPUT) from exc


def grade_as_json(result: GradingResult) -> dict[str, Any]:
    grade = result.grade
    return {
        "commit": grade.commit,
        "repository": result.evidence.repository,
        "assignment": {"id": grade.assignment_id, "version": grade.assignment_version, "hash": grade.spec_hash},
        "mode": grade.mode,
        "score": grade.score,
        "max_score": grade.max_score,
        "percent": grade.percent,
        "passed": grade.passed,
        "reason": grade.reason,
        "criteria": [
            {"id": c.id, "points": c.points, "max": c.max_points, "level": c.level, "percent": c.percent}
            for c in grade.criteria
        ],
        "tests": [
            {"id": t.id, "suite": t.suite, "outcome": t.outcome.value, "criterion": t.criterion} for t in grade.tests
        ],
        "flags": [f.model_dump() for f in grade.flags],
        "timings": result.timings,
        "evidence": result.evidence.model_dump(),
        "credential": result.credential,
    }


LEARNER_DIR = "feedback"  # safe to hand to the learner
AUTHOR_DIR = "author"  # hidden test ids, parameters and assertion text: course staff only
OUTPUT_README = """\
feedback/  safe to hand to the learner: feedback.md and feedback.html follow the assignment's
           feedback rules; credential.json is the learner's credential, when one was issued.
author/    course staff only: junit.xml, results.json and grade.json name every hidden test, its
           parameters and its failure messages, and the integrity flags in full.
"""


def _write(path: Path, text: str) -> None:
    # Test ids and messages can carry file names that are not UTF-8 (lone surrogates): escape, never crash.
    path.write_text(printable(text), encoding="utf-8")


def write_feedback(result: GradingResult, assignment: LoadedAssignment, directory: Path) -> None:
    """Write DIR/feedback/ (feedback.md, feedback.html, and credential.json when one was issued: all
    learner-safe) and DIR/author/ (junit.xml, results.json, grade.json: everything, hidden tests
    included). Raises OSError when the folder cannot be written."""
    learner, author = directory / LEARNER_DIR, directory / AUTHOR_DIR
    learner.mkdir(parents=True, exist_ok=True)
    author.mkdir(parents=True, exist_ok=True)
    spec = assignment.spec
    view = learner_view(result.grade, spec, result.learner_output)
    _write(learner / "feedback.md", render_markdown(view))
    _write(learner / "feedback.html", render_html(view))
    if result.credential is not None:
        _write(learner / "credential.json", json.dumps(result.credential, indent=2))
    _write(author / "results.json", json.dumps(gradescope_results(result.grade, spec.feedback), indent=2))
    _write(author / "junit.xml", junit_xml(result.grade))
    _write(author / "grade.json", json.dumps(grade_as_json(result), indent=2))
    _write(directory / "README.txt", OUTPUT_README)


def make_issuer(settings: Settings, learner: str | None = None) -> CredentialIssuer:
    """The local issuer: did:key keys under <home>/keys, created on first use."""
    from grader.issuing.local import local_issuer

    return local_issuer(settings, learner)


def run_grade(
    url: str,
    assignment: LoadedAssignment,
    settings: Settings,
    ref: str | None,
    progress: Progress,
    issuer: CredentialIssuer | None,
) -> GradingResult:
    """Grade; every fault it raises (learner's, author's, system's) leaves with the exit code grader.core.errors
    maps its kind to. Anything else is a bug, and shows its traceback."""
    try:
        return grade_repository(url, assignment, settings, ref=ref, on_event=progress, issuer=issuer)
    except Exception as exc:
        if not is_known_fault(exc):
            raise
        raise fault_exit(exc) from exc


@app.command()
def grade(
    repo_url: Annotated[str, typer.Argument(help="https URL of the learner's git repository")],
    assignment: Annotated[Path, typer.Option("--assignment", "-a", help="Assignment folder or its assignment.yaml")],
    ref: Annotated[str | None, typer.Option(help="Branch, tag or commit (default: the remote HEAD)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    allow_host: Annotated[list[str] | None, typer.Option(help="Also allow this git host (host or host:port)")] = None,
    allow_scheme: Annotated[list[str] | None, typer.Option(help="Also allow this URL scheme")] = None,
    feedback_dir: Annotated[
        Path | None,
        typer.Option(help="Write DIR/feedback/ (learner-safe: feedback.md, .html) and DIR/author/ (junit, results, grade)"),
    ] = None,
    credential: Annotated[bool, typer.Option(help="Issue a credential when the grade passes")] = True,
    learner: Annotated[
        str | None, typer.Option(help="The learner: a DID, or an email (stored only as a salted hash)")
    ] = None,
) -> None:
    """Grade one learner repository against an assignment."""
    settings = _settings(allow_host, allow_scheme)
    loaded = _load_or_exit(assignment)
    issuer = make_issuer(settings, learner) if credential else None
    result = run_grade(repo_url, loaded, settings, ref, Progress(err, quiet=as_json), issuer)
    if feedback_dir is not None:
        write_feedback(result, loaded, feedback_dir)
    if as_json:
        sys.stdout.write(json.dumps(grade_as_json(result), indent=2) + "\n")
        return
    view = learner_view(result.grade, loaded.spec, result.learner_output)
    out.print(Markdown(render_markdown(view)))
    if result.credential is not None:
        say(out, "credential issued", result.credential.get("id"), style="green")


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
    loaded = _load_or_exit(path)
    try:
        with err.status("building images") as status:
            image = assignment_image(loaded, get_settings(), lambda line: status.update(escape(line[:100])))
    except Exception as exc:  # a package that does not exist is the author's (exit 2), an engine fault ours (1)
        if not is_known_fault(exc):
            raise
        raise fault_exit(exc) from exc
    say(out, "ready", f"{image.tag} {image.id}", style="green")


@app.command()
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
    raise typer.Exit(run_demo(assignments_dir, get_settings(), out, err, out_dir))


def _mount_optional_apps() -> None:
    """Sub-commands that live beside the grading core."""
    try:
        from grader.cli.credentials import credential_app, keys_app
    except ImportError:
        pass
    else:
        app.add_typer(keys_app, name="keys")
        app.add_typer(credential_app, name="credential")
    try:
        from grader.cli.service import register
    except ImportError:
        pass
    else:
        register(app)


_mount_optional_apps()


def main() -> None:
    app()


def _table(rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    return table


if __name__ == "__main__":
    main()
