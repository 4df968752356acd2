"""Fetch faults, sorted by whose they are, against the real fetch path and a real git smart-HTTP server.

A repository the snapshot cannot hold (names too long, a HEAD that is not a commit, a tree over the
file cap) is a learner's fault refused by a named rule, before anything is written; a git host the
worker cannot reach (stopped server, DNS failure) is a fault of the system.
"""

from __future__ import annotations

import secrets
import subprocess
import time
import tracemalloc
from pathlib import Path

import pytest

from grader.config import Settings
from grader.core.errors import FaultKind, disposition
from grader.demo.gitserver import LoopbackGitServer, learner_git_env
from grader.fetch.repository import FetchFailed, FetchRefused, FetchUnavailable, fetch_snapshot

pytestmark = pytest.mark.integration

Tree = dict[str, "bytes | Tree"]


def git(*args: str, cwd: Path, stdin: str | None = None) -> str:
    env = learner_git_env(cwd)
    done = subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def write_tree(bare: Path, tree: Tree) -> str:
    """Objects written straight into `bare` with mktree: names no work tree on this disk could hold."""
    lines = []
    for name, content in sorted(tree.items()):
        if isinstance(content, bytes):
            blob = (
                subprocess.run(
                    ["git", "hash-object", "-w", "--stdin"], cwd=bare, input=content, check=True, capture_output=True
                )
                .stdout.decode()
                .strip()
            )
            lines.append(f"100644 blob {blob}\t{name}")
        else:
            lines.append(f"040000 tree {write_tree(bare, content)}\t{name}")
    return git("mktree", cwd=bare, stdin="\n".join(lines) + "\n")


def new_bare(server: LoopbackGitServer) -> tuple[str, Path]:
    name = f"fault-{secrets.token_hex(4)}"
    bare = server.root / f"{name}.git"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=server.root)
    return name, bare


def tree_repo(server: LoopbackGitServer, tree: Tree) -> str:
    """A repository whose main branch (its HEAD) commits exactly `tree`."""
    name, bare = new_bare(server)
    commit = git("commit-tree", "-m", name, write_tree(bare, tree), cwd=bare)
    git("update-ref", "refs/heads/main", commit, cwd=bare)
    return server.url(name)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "snapshot"


def refused(url: str, dest: Path, settings: Settings, ref: str | None = None) -> FetchRefused:
    with pytest.raises(FetchRefused) as caught:
        fetch_snapshot(url, ref, dest, settings)
    assert disposition(caught.value).kind is FaultKind.LEARNER
    assert not dest.exists()
    return caught.value


# -- names the file system cannot hold ------------------------------------------------------------


def test_a_name_longer_than_the_file_system_allows_is_refused_by_rule(
    git_server: LoopbackGitServer, grading_settings: Settings, dest: Path
) -> None:
    url = tree_repo(git_server, {"ok.py": b"x = 1\n", "a" * 300 + ".py": b"y = 2\n"})
    refusal = refused(url, dest, grading_settings)
    assert refusal.rule == "path-too-long" and "303 bytes" in str(refusal)


def test_a_multibyte_name_is_measured_in_bytes(
    git_server: LoopbackGitServer, grading_settings: Settings, dest: Path
) -> None:
    url = tree_repo(git_server, {"é" * 130: b"x\n"})  # 130 characters, 260 bytes
    assert refused(url, dest, grading_settings).rule == "path-too-long"


def test_a_path_longer_than_the_file_system_allows_is_refused_by_rule(
    git_server: LoopbackGitServer, grading_settings: Settings, dest: Path
) -> None:
    deep: Tree = {"leaf.py": b"x = 1\n"}
    for level in range(20):  # 20 folders of 250 bytes: every name fits, the whole path does not
        deep = {f"{level:02}" + "d" * 248: deep}
    refusal = refused(tree_repo(git_server, deep), dest, grading_settings)
    assert refusal.rule == "path-too-long" and "longer than" in str(refusal)


def test_names_at_the_limit_still_fetch(git_server: LoopbackGitServer, grading_settings: Settings, dest: Path) -> None:
    name = "n" * 252 + ".py"  # 255 bytes: NAME_MAX exactly
    snapshot = fetch_snapshot(tree_repo(git_server, {name: b"x = 1\n"}), None, dest, grading_settings)
    assert snapshot.files == 1 and (dest / name).read_bytes() == b"x = 1\n"


# -- refs that are not commits --------------------------------------------------------------------


def test_a_head_that_names_a_blob_is_refused_by_rule(
    git_server: LoopbackGitServer, grading_settings: Settings, dest: Path
) -> None:
    name, bare = new_bare(git_server)
    blob = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=bare, input=b"not a commit\n", check=True, capture_output=True
        )
        .stdout.decode()
        .strip()
    )
    (bare / "refs" / "heads" / "main").write_text(blob + "\n")  # update-ref refuses this; a hostile host need not
    refusal = refused(git_server.url(name), dest, grading_settings)
    assert refusal.rule == "not-a-commit" and "blob" in str(refusal) and "usage" not in str(refusal)


def test_a_tag_that_names_a_tree_is_refused_by_rule(
    git_server: LoopbackGitServer, grading_settings: Settings, dest: Path
) -> None:
    url = tree_repo(git_server, {"ok.py": b"x = 1\n"})
    bare = git_server.root / (url.rsplit("/", 1)[1])
    tree = git("rev-parse", "main^{tree}", cwd=bare)
    git("tag", "-a", "-m", "a tree", "v-tree", tree, cwd=bare)
    refusal = refused(url, dest, grading_settings, ref="v-tree")
    assert refusal.rule == "not-a-commit" and "'v-tree'" in str(refusal) and "tree" in str(refusal)


# -- a tree over the file cap ---------------------------------------------------------------------


def test_a_tree_over_the_file_cap_is_refused_quickly_without_reading_the_whole_listing(
    git_server: LoopbackGitServer, grading_settings: Settings, dest: Path
) -> None:
    # 60,000 paths stand in for a million (too slow to build in a test) against a cap of 100.
    name, bare = new_bare(git_server)
    blob = git("hash-object", "-w", "--stdin", cwd=bare, stdin="x\n")
    listing = "".join(f"100644 blob {blob}\tfile-{index:06}-padding-padding-padding.txt\n" for index in range(60_000))
    commit = git("commit-tree", "-m", "many", git("mktree", cwd=bare, stdin=listing), cwd=bare)
    git("update-ref", "refs/heads/main", commit, cwd=bare)
    few = grading_settings.model_copy(update={"max_repo_files": 100})
    tracemalloc.start()
    started = time.monotonic()
    try:
        refusal = refused(git_server.url(name), dest, few)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refusal.rule == "too-many-files"
    assert elapsed < 15
    # The whole listing is about 4.5 MB of text (and several times that once split); streamed, the
    # grader holds one read's worth of it plus the entries up to the cap.
    assert peak < 2 * 1024 * 1024, peak


# -- whose fault: unreachable hosts are ours, missing repositories the learner's ------------------


def test_a_stopped_git_server_is_a_fault_of_the_system(grading_settings: Settings, tmp_path: Path, dest: Path) -> None:
    server = LoopbackGitServer(tmp_path / "stopped")
    server.start()
    url = tree_repo(server, {"ok.py": b"x = 1\n"})
    server.stop()
    settings = grading_settings.model_copy(update={"allowed_hosts": [server.host]})
    with pytest.raises(FetchUnavailable) as caught:
        fetch_snapshot(url, None, dest, settings)
    assert disposition(caught.value).kind is FaultKind.SYSTEM and disposition(caught.value).retry
    assert server.host in str(caught.value) and not dest.exists()


def test_a_dns_failure_is_a_fault_of_the_system(grading_settings: Settings, dest: Path) -> None:
    settings = grading_settings.model_copy(update={"allowed_hosts": ["no-such-host.invalid"]})
    with pytest.raises(FetchUnavailable) as caught:
        fetch_snapshot("https://no-such-host.invalid/learner/repo.git", None, dest, settings)
    assert "could not resolve host" in str(caught.value).lower()
    assert disposition(caught.value).exit_code == 1


def test_a_missing_repository_is_the_learners_fault(
    git_server: LoopbackGitServer, grading_settings: Settings, dest: Path
) -> None:
    with pytest.raises(FetchFailed) as caught:
        fetch_snapshot(git_server.url(f"absent-{secrets.token_hex(4)}"), None, dest, grading_settings)
    outcome = disposition(caught.value)
    assert outcome.kind is FaultKind.LEARNER and outcome.exit_code == 2 and not outcome.retry


def test_a_missing_ref_is_the_learners_fault(
    git_server: LoopbackGitServer, grading_settings: Settings, dest: Path
) -> None:
    url = tree_repo(git_server, {"ok.py": b"x = 1\n"})
    with pytest.raises(FetchFailed):
        fetch_snapshot(url, "no-such-branch", dest, grading_settings)
