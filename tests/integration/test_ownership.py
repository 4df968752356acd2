"""Proof of ownership on real git repositories served by the loopback git server: claim tokens
committed in the repository, and commits signed with SSH and OpenPGP keys, checked by the fetch stage
on the grader's bare snapshot before any learner code runs."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

from grader.config import Settings
from grader.core.ownership import (
    KeyKind,
    OwnershipFailure,
    OwnershipMethod,
    OwnershipRefused,
    OwnershipRequirement,
    RegisteredKey,
    expectation,
    openpgp_key,
    ssh_key,
)
from grader.core.spec import LoadedAssignment
from grader.demo.gitserver import LoopbackGitServer, learner_git_env
from grader.fetch.repository import Snapshot, fetch_snapshot
from grader.grading.pipeline import grade_repository
from grader.grading.ports import GradingPorts
from tests.unit.fakes import FakeSandbox, fake_image

pytestmark = pytest.mark.integration

SECRET = "claim secret of these tests"
TENANT = "school"
_names = count()


class Learner:
    """A learner with a working copy, an SSH key and an OpenPGP key of their own."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.root = root
        root.mkdir(parents=True)
        self.env = learner_git_env(root) | {"GNUPGHOME": str(root / "gnupg")}
        self.ssh_private = root / "id_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(self.ssh_private)], check=True
        )
        self.ssh = ssh_key((root / "id_ed25519.pub").read_text())
        (root / "gnupg").mkdir(mode=0o700)
        self._gpg("--passphrase", "", "--quick-gen-key", f"{name} <{name}@example.org>", "ed25519", "sign", "never")
        listing = self._gpg("--with-colons", "--list-keys").stdout
        self.gpg_fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
        self.openpgp = openpgp_key(self._gpg("--armor", "--export", self.gpg_fpr).stdout)

    def _gpg(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["gpg", "--batch", *args], env=self.env, check=True, capture_output=True, text=True)

    def close(self) -> None:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=self.env, check=False, capture_output=True)

    def repository(
        self, server: LoopbackGitServer, files: dict[str, str], sign: str | None = None, key: Learner | None = None
    ) -> str:
        """Commit `files` (signed with `sign` = 'ssh' | 'openpgp', by `key`'s keys, default their own) and
        serve it; returns the URL."""
        name = f"{self.name}-{next(_names)}"
        work = self.root / name
        work.mkdir()
        for rel, text in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text)
        signer = key or self
        git = ["git", "-c", "init.defaultBranch=main"]
        if sign == "ssh":
            git += ["-c", "gpg.format=ssh", "-c", f"user.signingkey={signer.ssh_private}"]
        elif sign == "openpgp":
            git += ["-c", "gpg.format=openpgp", "-c", f"user.signingkey={signer.gpg_fpr}"]
        env = self.env | {"GNUPGHOME": signer.env["GNUPGHOME"]}
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "work", *(["-S"] if sign else [])]):
            subprocess.run([*git, *args], cwd=work, env=env, check=True, capture_output=True)
        bare = server.root / f"{name}.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], env=env, check=True, capture_output=True)
        return server.url(name)


@pytest.fixture(scope="module")
def learners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Learner]]:
    # A short base path: gpg-agent's socket path must fit in a sockaddr.
    root = Path(tmp_path_factory.mktemp("own"))
    made = {name: Learner(root / name, name) for name in ("ann", "bob")}
    yield made
    for learner in made.values():
        learner.close()


def claim(learner: str, assignment: str = "py-ledger") -> OwnershipRequirement:
    return OwnershipRequirement(
        method=OwnershipMethod.CLAIM, claim=expectation(SECRET, TENANT, assignment, learner), claim_file=".grader-claim"
    )


def signed(*keys: RegisteredKey, on_failure: OwnershipFailure = OwnershipFailure.REFUSE) -> OwnershipRequirement:
    return OwnershipRequirement(method=OwnershipMethod.SIGNED, keys=keys, on_failure=on_failure)


def fetch(url: str, settings: Settings, tmp_path: Path, requirement: OwnershipRequirement) -> Snapshot:
    dest = tmp_path / f"snap-{next(_names)}"
    try:
        return fetch_snapshot(url, None, dest, settings, ownership=requirement)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def token_file(learner: str, assignment: str = "py-ledger") -> dict[str, str]:
    return {".grader-claim": f"# my claim token\n{expectation(SECRET, TENANT, assignment, learner).token}\n", "a.py": "x = 1\n"}


# claim --------------------------------------------------------------------------------------------


def test_a_correctly_claimed_commit_passes(
    learners: dict[str, Learner], git_server: LoopbackGitServer, grading_settings: Settings, tmp_path: Path
) -> None:
    url = learners["ann"].repository(git_server, token_file("ann"))
    snapshot = fetch(url, grading_settings, tmp_path, claim("ann"))
    assert snapshot.ownership is not None and snapshot.ownership.verified
    assert snapshot.ownership.method is OwnershipMethod.CLAIM
    assert snapshot.tree and len(snapshot.tree) == 40


def test_another_learners_repository_is_refused_under_claim(
    learners: dict[str, Learner], git_server: LoopbackGitServer, grading_settings: Settings, tmp_path: Path
) -> None:
    url = learners["ann"].repository(git_server, token_file("ann"))
    with pytest.raises(OwnershipRefused, match="belongs to another learner") as refused:
        fetch(url, grading_settings, tmp_path, claim("bob"))
    assert refused.value.rule == "claim-other-learner"


def test_a_token_of_another_assignment_or_none_at_all_is_refused(
    learners: dict[str, Learner], git_server: LoopbackGitServer, grading_settings: Settings, tmp_path: Path
) -> None:
    other = learners["ann"].repository(git_server, token_file("ann", assignment="py-notes-api"))
    with pytest.raises(OwnershipRefused, match="for assignment 'py-notes-api', not 'py-ledger'"):
        fetch(other, grading_settings, tmp_path, claim("ann"))
    bare = learners["ann"].repository(git_server, {"a.py": "x = 1\n"})
    with pytest.raises(OwnershipRefused, match=r"has no '\.grader-claim'") as refused:
        fetch(bare, grading_settings, tmp_path, claim("ann"))
    assert refused.value.rule == "claim-missing"


def test_a_refusal_comes_before_any_learner_code_runs(
    learners: dict[str, Learner],
    git_server: LoopbackGitServer,
    grading_settings: Settings,
    ledger: LoadedAssignment,
) -> None:
    url = learners["ann"].repository(git_server, token_file("ann"))
    sandbox = FakeSandbox()
    ports = GradingPorts(fetch=fetch_snapshot, build=fake_image, run=sandbox)
    with pytest.raises(OwnershipRefused):
        grade_repository(url, ledger, grading_settings, ports=ports, ownership=claim("bob"))
    assert sandbox.runs == 0
    result = grade_repository(url, ledger, grading_settings, ports=ports, ownership=claim("ann"))
    assert sandbox.runs == 1
    assert result.evidence.ownership is not None and result.evidence.ownership.verified


# signed -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ssh", "openpgp"])
def test_a_commit_signed_by_a_registered_key_passes_with_its_fingerprint(
    kind: str, learners: dict[str, Learner], git_server: LoopbackGitServer, grading_settings: Settings, tmp_path: Path
) -> None:
    ann = learners["ann"]
    url = ann.repository(git_server, {"a.py": "x = 1\n"}, sign=kind)
    snapshot = fetch(url, grading_settings, tmp_path, signed(ann.ssh, ann.openpgp))
    proof = snapshot.ownership
    assert proof is not None and proof.verified
    expected = ann.ssh if kind == "ssh" else ann.openpgp
    assert proof.key_kind is KeyKind(kind) and proof.key_fingerprint == expected.fingerprint
    if kind == "openpgp":
        assert proof.key_fingerprint == ann.gpg_fpr  # the fingerprint read from the key is gpg's own


@pytest.mark.parametrize("kind", ["ssh", "openpgp"])
def test_another_learners_signed_repository_is_refused(
    kind: str, learners: dict[str, Learner], git_server: LoopbackGitServer, grading_settings: Settings, tmp_path: Path
) -> None:
    ann, bob = learners["ann"], learners["bob"]
    url = ann.repository(git_server, {"a.py": "x = 1\n"}, sign=kind)
    with pytest.raises(OwnershipRefused, match="not by a key you registered") as refused:
        fetch(url, grading_settings, tmp_path, signed(bob.ssh, bob.openpgp))
    assert refused.value.rule == "unknown-key"


def test_a_commit_signed_by_an_unregistered_key_is_refused(
    learners: dict[str, Learner], git_server: LoopbackGitServer, grading_settings: Settings, tmp_path: Path
) -> None:
    ann, bob = learners["ann"], learners["bob"]
    # Ann's own repository, signed with a key she never registered (Bob's), while she registered hers.
    url = ann.repository(git_server, {"a.py": "x = 1\n"}, sign="ssh", key=bob)
    with pytest.raises(OwnershipRefused, match="not by a key you registered"):
        fetch(url, grading_settings, tmp_path, signed(ann.ssh))


def test_an_unsigned_commit_is_refused_or_sent_to_review(
    learners: dict[str, Learner], git_server: LoopbackGitServer, grading_settings: Settings, tmp_path: Path
) -> None:
    ann = learners["ann"]
    url = ann.repository(git_server, {"a.py": "x = 1\n"})
    with pytest.raises(OwnershipRefused, match="not signed") as refused:
        fetch(url, grading_settings, tmp_path, signed(ann.ssh))
    assert refused.value.rule == "unsigned"
    held = fetch(url, grading_settings, tmp_path, signed(ann.ssh, on_failure=OwnershipFailure.REVIEW))
    assert held.ownership is not None and not held.ownership.verified and held.ownership.rule == "unsigned"


def test_a_registered_ssh_key_signs_but_only_openpgp_keys_are_registered(
    learners: dict[str, Learner], git_server: LoopbackGitServer, grading_settings: Settings, tmp_path: Path
) -> None:
    ann = learners["ann"]
    url = ann.repository(git_server, {"a.py": "x = 1\n"}, sign="ssh")
    with pytest.raises(OwnershipRefused, match="registered no SSH key") as refused:
        fetch(url, grading_settings, tmp_path, signed(ann.openpgp))
    assert refused.value.rule == "no-keys"
