"""Attacks in the repository itself, stopped by the fetch before any container starts."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from grader.demo.gitserver import LoopbackGitServer
from grader.fetch.repository import FetchRefused
from tests.adversarial.conftest import solution_files


def publish_tree(server: LoopbackGitServer, root: Path, files: dict[str, str | bytes]) -> str:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return server.publish(f"repo-attack-{secrets.token_hex(4)}", root)


def test_symlink_to_a_host_path(attack, record, git_server, tmp_path: Path, host_marker: Path, no_leftovers) -> None:
    root = tmp_path / "src"
    publish_tree(git_server, root, dict(solution_files("failing")))
    os.symlink(str(host_marker), root / "ledger" / "marker.py")
    os.symlink("/etc", root / "etc")
    url = git_server.publish(f"symlink-{secrets.token_hex(4)}", root)
    with pytest.raises(FetchRefused) as refused:
        attack(url=url)
    assert refused.value.rule == "symlink"
    record(None, "Symlinks to a host file and to /etc in the repository", "fetch (rule `symlink`)", "refused: symlink")


def test_huge_repository(attack, record, git_server, grading_settings, tmp_path: Path, no_leftovers) -> None:
    small = grading_settings.model_copy(update={"max_repo_mb": 2})
    files: dict[str, str | bytes] = dict(solution_files("failing"))
    files["ledger/blob.bin"] = os.urandom(3 * 1024 * 1024)
    url = publish_tree(git_server, tmp_path / "src", files)
    with pytest.raises(FetchRefused) as refused:
        attack(url=url, settings=small)
    assert refused.value.rule == "too-large"
    record(
        None,
        "A repository over the size cap (3 MB against a 2 MB cap)",
        "fetch (rule `too-large`)",
        "refused: too-large",
    )


def test_many_tiny_files(attack, record, git_server, grading_settings, tmp_path: Path, no_leftovers) -> None:
    few = grading_settings.model_copy(update={"max_repo_files": 200})
    files: dict[str, str | bytes] = dict(solution_files("failing"))
    files.update({f"ledger/data/f{i:04}.txt": str(i) for i in range(400)})
    url = publish_tree(git_server, tmp_path / "src", files)
    with pytest.raises(FetchRefused) as refused:
        attack(url=url, settings=few)
    assert refused.value.rule == "too-many-files"
    record(None, "400 tiny files against a 200-file cap", "fetch (rule `too-many-files`)", "refused: too-many-files")
