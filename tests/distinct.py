"""Learners of the service stacks who each hand in a bundled solution: what makes their work their own
in the eyes of the authenticity checks (docs/authenticity.md).

Two learners of a tenant handing in the same files are flagged, and their credentials wait for review;
so are two whose code is the same bundled solution. The stacks that grade one bundled solution for many
learners, and expect each a credential at once, give every learner a repository of their own (the
solution plus a file naming them: another tree) and upload the assignment with its similarity check
off. The checks themselves are tested in tests/integration/test_review_queue.py and
tests/unit/authenticity/."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml

from grader.core.spec import load_assignment
from grader.demo.gitserver import LoopbackGitServer
from grader.demo.stack import assignment_tarball


def publish_own(git: LoopbackGitServer, name: str, solution: Path) -> str:
    """Serve `solution` as the repository `name` of its own learner (the solution's files and one naming
    the repository), so no two such repositories share a tree. Returns its URL."""
    with tempfile.TemporaryDirectory(prefix="own-work-") as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(solution, work, ignore=shutil.ignore_patterns("__pycache__", ".git"))
        (work / "AUTHOR.md").write_text(f"Submitted as {name}.\n")
        return git.publish(name, work)


def _without_similarity(folder: Path, target: Path) -> Path:
    copy = target / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("__pycache__"))
    spec_path = copy / "assignment.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec.setdefault("submission", {}).setdefault("similarity", {})["enabled"] = False
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return copy


def tarball_without_similarity(folder: Path) -> bytes:
    """The assignment folder as `assignment_tarball` packs it, with `submission.similarity.enabled: false`."""
    with tempfile.TemporaryDirectory(prefix="no-similarity-") as tmp:
        return assignment_tarball(_without_similarity(folder, Path(tmp)))


def spec_hash_without_similarity(folder: Path) -> str:
    """The spec hash of what `tarball_without_similarity` uploads."""
    with tempfile.TemporaryDirectory(prefix="no-similarity-") as tmp:
        return load_assignment(_without_similarity(folder, Path(tmp))).spec_hash
