"""`grader grade`: one learner repository graded end to end, with feedback and (when it passes) a
credential from the local issuer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from grader.cli.main import finished_cleanly

# Only what every `grader grade` uses is imported up front (see run_grade and grade): the Markdown
# renderer, the issuer and the feedback writer load when a run needs them.
if TYPE_CHECKING:
    from grader.cli.console import Progress
    from grader.config import Settings
    from grader.core.result import GradingResult
    from grader.core.spec import LoadedAssignment
    from grader.grading.issue import CredentialIssuer


def _settings(allow_host: list[str] | None, allow_scheme: list[str] | None) -> Settings:
    from grader.config import get_settings

    settings = get_settings()
    update: dict[str, Any] = {}
    if allow_host:
        update["allowed_hosts"] = [*settings.allowed_hosts, *allow_host]
    if allow_scheme:
        update["allowed_schemes"] = [*settings.allowed_schemes, *allow_scheme]
    return settings.model_copy(update=update) if update else settings


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
    from grader.cli.console import fault_exit
    from grader.core.errors import is_known_fault
    from grader.grading.pipeline import grade_repository

    try:
        return grade_repository(url, assignment, settings, ref=ref, on_event=progress, issuer=issuer)
    except Exception as exc:
        if not is_known_fault(exc):
            raise
        raise fault_exit(exc) from exc


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
    from grader.cli.console import Progress, err, load_or_exit

    settings = _settings(allow_host, allow_scheme)
    loaded = load_or_exit(assignment)
    # Only an assignment that can issue is worth unlocking the keystore for.
    issuer = _issuer(settings, learner) if credential and loaded.spec.credential is not None else None
    result = run_grade(repo_url, loaded, settings, ref, Progress(err, quiet=as_json), issuer)
    if feedback_dir is not None:
        from grader.grading.outputs import write_feedback

        write_feedback(result, loaded, feedback_dir)
    if as_json:
        from grader.grading.outputs import grade_as_json

        sys.stdout.write(json.dumps(grade_as_json(result), indent=2) + "\n")
    else:
        _print_feedback(result, loaded)
    finished_cleanly()  # the workspace and containers are gone, the issuer's files written


def _issuer(settings: Settings, learner: str | None) -> CredentialIssuer:
    from grader.issuing.local import local_issuer

    issuer = local_issuer(settings, learner)
    issuer.unlock_ahead()  # scrypt overlaps the fetch and the containers' start instead of following them
    return issuer


def _print_feedback(result: GradingResult, loaded: LoadedAssignment) -> None:
    from rich.markdown import Markdown

    from grader.cli.console import out, say
    from grader.core.feedback import learner_view, render_markdown

    view = learner_view(result.grade, loaded.spec, result.learner_output)
    out.print(Markdown(render_markdown(view)))
    if result.credential is not None:
        say(out, "credential issued", result.credential.get("id"), style="green")


