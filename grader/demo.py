"""The main job: serve the bundled solutions from a loopback git server and grade each one for real.

Each solution goes through the same path as a learner's submission (URL policy, network fetch,
image, sandbox, judge, credential), and its grade is checked against `solutions/expected.yaml`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from grader.config import Settings
from grader.gitserver import LoopbackGitServer
from grader.grade import Grade
from grader.pipeline import GradingResult, grade_repository
from grader.spec import load_assignment


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
    from grader.issuance import verify_issued

    report = verify_issued(result.credential, settings)
    return report.valid, report.summary()


def _demo_settings(settings: Settings, server: LoopbackGitServer) -> Settings:
    return settings.model_copy(
        update={
            "allowed_hosts": [*settings.allowed_hosts, server.host],
            "allowed_schemes": sorted({*settings.allowed_schemes, "http"}),
        }
    )


def run_demo(assignments_dir: Path, settings: Settings, out: Console, err: Console) -> int:
    from grader.cli import Progress, make_issuer

    failures = 0
    with tempfile.TemporaryDirectory(prefix="grader-demo-git-") as tmp, LoopbackGitServer(Path(tmp)) as server:
        demo_settings = _demo_settings(settings, server)
        issuer = make_issuer(demo_settings)
        for folder in sorted(p.parent.parent for p in assignments_dir.glob("*/solutions/expected.yaml")):
            assignment = load_assignment(folder)
            expected_all = yaml.safe_load((folder / "solutions" / "expected.yaml").read_text())
            table = Table("solution", "commit", "score", "passed", "levels", "check", title=assignment.spec.title)
            for name, expected in expected_all.items():
                url = server.publish(f"{assignment.spec.id}-{name}", folder / "solutions" / name)
                err.print(f"[bold]{assignment.spec.id}/{name}[/] {url}")
                result = grade_repository(url, assignment, demo_settings, on_event=Progress(err), issuer=issuer)
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
                table.add_row(
                    name,
                    grade.commit[:10],
                    f"{grade.score}/{grade.max_score} ({grade.percent}%)",
                    "yes" if grade.passed else "no",
                    ", ".join(f"{c.id}={c.level}" for c in grade.criteria),
                    "[green]as expected[/]" if not problems else "[red]" + "; ".join(problems) + "[/]",
                )
            out.print(table)
    out.print("[green]all grades as expected[/]" if not failures else f"[red]{failures} unexpected grade(s)[/]")
    return 1 if failures else 0
