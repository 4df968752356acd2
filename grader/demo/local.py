"""The main job: serve the bundled solutions from a loopback git server and grade each one for real.

Each solution goes through the same path as a learner's submission (URL policy, network fetch,
image, sandbox, judge, credential), and its grade is checked against `solutions/expected.yaml`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from grader.config import Settings
from grader.core.grade import Grade
from grader.core.result import GradingResult
from grader.core.spec import LoadedAssignment, load_assignment
from grader.demo.gitserver import LoopbackGitServer
from grader.grading.outputs import write_feedback
from grader.grading.pipeline import grade_repository
from grader.grading.stopwatch import StageEvent
from grader.issuing.local import local_issuer


def expected_mismatches(grade: Grade, expected: dict[str, Any]) -> list[str]:
    """Where a grade differs from its written-down expectation."""
    problems = []
    for field in ("score", "max_score", "percent", "passed"):
        if field in expected and getattr(grade, field) != expected[field]:
            problems.append(f"{field}: expected {expected[field]}, got {getattr(grade, field)}")
    actual = {c.id: c for c in grade.criteria}
    for criterion_id, want in (expected.get("criteria") or {}).items():
        got = actual.get(criterion_id)
        if got is None:
            problems.append(f"criterion {criterion_id} missing")
            continue
        if "points" in want and got.points != want["points"]:
            problems.append(f"{criterion_id}.points: expected {want['points']}, got {got.points}")
        if "level" in want and got.level != want["level"]:
            problems.append(f"{criterion_id}.level: expected {want['level']}, got {got.level}")
    return problems


def _verify_credential(result: GradingResult, settings: Settings) -> tuple[bool, str]:
    if result.credential is None:
        return False, "no credential was issued"
    from grader.issuing.local import report_summary, verify_issued

    report = verify_issued(result.credential, settings)
    return report.valid, report_summary(report)


def _demo_settings(settings: Settings, server: LoopbackGitServer) -> Settings:
    return settings.model_copy(
        update={
            "allowed_hosts": [*settings.allowed_hosts, server.host],
            "allowed_schemes": sorted({*settings.allowed_schemes, "http"}),
        }
    )


def _save_outputs(result: GradingResult, assignment: LoadedAssignment, name: str, out_dir: Path) -> None:
    """Feedback for every solution; the credential and its baked badge for those that passed."""
    from credentials.bake import bake_credential

    stem = f"{assignment.spec.id}-{name}"
    write_feedback(result, assignment, out_dir / stem)
    if result.credential is not None:
        (out_dir / f"{stem}.credential.json").write_text(json.dumps(result.credential, indent=2))
        (out_dir / f"{stem}.badge.png").write_bytes(bake_credential(result.credential))


def run_demo(
    assignments_dir: Path, settings: Settings, out: Console, err: Console, out_dir: Path, progress: StageEvent
) -> int:
    """Grade every solution of every assignment in `assignments_dir` and compare with its expected
    outcome; returns the exit code (0 when everything graded as written down)."""
    from grader.issuing.local import LocalIssuer

    failures = 0
    with tempfile.TemporaryDirectory(prefix="grader-demo-git-") as tmp, LoopbackGitServer(Path(tmp)) as server:
        demo_settings = _demo_settings(settings, server)
        issuer = local_issuer(demo_settings)
        for folder in sorted(p.parent.parent for p in assignments_dir.glob("*/solutions/expected.yaml")):
            assignment = load_assignment(folder)
            expected_all = yaml.safe_load((folder / "solutions" / "expected.yaml").read_text())
            table = Table("solution", "commit", "score", "passed", "levels", "check", title=assignment.spec.title)
            for name, expected in expected_all.items():
                url = server.publish(f"{assignment.spec.id}-{name}", folder / "solutions" / name)
                err.print(f"[bold]{assignment.spec.id}/{name}[/] {url}")
                result = grade_repository(url, assignment, demo_settings, on_event=progress, issuer=issuer)
                grade = result.grade
                problems = expected_mismatches(grade, expected)
                if grade.passed and issuer is not None:
                    ok, summary = _verify_credential(result, demo_settings)
                    out.print(f"  credential for {name}: {'[green]verified[/]' if ok else '[red]INVALID[/]'} {summary}")
                    if not ok:
                        problems.append(f"credential: {summary}")
                elif not grade.passed and result.credential is not None:
                    problems.append("a failing grade was issued a credential")
                failures += bool(problems)
                _save_outputs(result, assignment, name, out_dir)
                table.add_row(
                    name,
                    grade.commit[:10],
                    f"{grade.score}/{grade.max_score} ({grade.percent}%)",
                    "yes" if grade.passed else "no",
                    ", ".join(f"{c.id}={c.level}" for c in grade.criteria),
                    "[green]as expected[/]" if not problems else "[red]" + "; ".join(problems) + "[/]",
                )
            # Wide enough for the levels of every criterion, even when stdout is not a terminal.
            Console(width=max(out.width, 140), soft_wrap=True, file=out.file).print(table)
        if isinstance(issuer, LocalIssuer) and issuer.status_list_credential() is not None:
            (out_dir / "status-list.json").write_text(json.dumps(issuer.status_list_credential(), indent=2))
    out.print(f"feedback, credentials and badges written to {out_dir}/")
    out.print("[green]all grades as expected[/]" if not failures else f"[red]{failures} unexpected grade(s)[/]")
    return 1 if failures else 0
