"""The fetch stage's ownership check: read the claim file or verify the commit's signature on the
grader's bare snapshot, with git plumbing, before anything of the repository reaches the disk and
long before any learner code runs.

git runs here with fetch's locked-down environment (no system or global config, hooks off, a scratch
HOME) and only the settings this check needs on the command line: the allowed-signers file for SSH
signatures, a temporary GNUPGHOME holding only the learner's registered keys for OpenPGP ones. What
the outputs mean is decided by the pure grader.core.ownership.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from grader.core.errors import SystemFault
from grader.core.ownership import (
    CLAIM_FILE_MAX_BYTES,
    KeyKind,
    OwnershipMethod,
    OwnershipProof,
    OwnershipRequirement,
    check_claim,
    openpgp_signer,
    refused,
    settle,
    signature_format,
    signing_proof,
    ssh_signer,
)

GIT_TIMEOUT_S = 20.0
COMMIT_OBJECT_MAX_BYTES = 1024 * 1024


class OwnershipCheckFailed(SystemFault):
    """git or gpg could not run the check on our side (not a finding about the learner's commit)."""

    code = "ownership-check-failed"


class BareRepository:
    """The grader's bare snapshot of one fetch, and the environment git must run in there."""

    def __init__(self, git_dir: Path, env: dict[str, str], config: list[str], scratch: Path) -> None:
        self.git_dir = git_dir
        self.env = env
        self.config = config
        self.scratch = scratch

    def git(self, *args: str, extra_config: tuple[str, ...] = (), env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run one git command on the snapshot. Raises OwnershipCheckFailed when git cannot run or hangs."""
        options = [arg for item in (*self.config, *extra_config) for arg in ("-c", item)]
        try:
            return subprocess.run(
                ["git", *options, f"--git-dir={self.git_dir}", *args],
                env={**self.env, **(env or {})},
                capture_output=True,
                timeout=GIT_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OwnershipCheckFailed(f"git could not check the commit's ownership: {exc}") from exc

    def tree_of(self, commit: str) -> str:
        result = self.git("rev-parse", "--verify", "--end-of-options", f"{commit}^{{tree}}")
        if result.returncode != 0:
            raise OwnershipCheckFailed("git could not read the commit's tree")
        return result.stdout.decode().strip()

    def blob(self, commit: str, path: str, limit: int) -> bytes | None:
        """The blob at `path` in `commit`, or None when there is none; at most `limit` + 1 bytes are read
        (so an oversized file is seen as such without reading all of it)."""
        spec = f"{commit}:{path}"
        kind = self.git("cat-file", "-t", "--end-of-options", spec)
        if kind.returncode != 0 or kind.stdout.strip() != b"blob":
            return None
        size = self.git("cat-file", "-s", "--end-of-options", spec)
        if size.returncode != 0:
            return None
        if int(size.stdout.strip() or 0) > limit:
            return b"\0" * (limit + 1)
        data = self.git("cat-file", "blob", "--end-of-options", spec)
        return data.stdout if data.returncode == 0 else None

    def commit_object(self, commit: str) -> bytes:
        result = self.git("cat-file", "commit", "--end-of-options", commit)
        if result.returncode != 0:
            raise OwnershipCheckFailed("git could not read the commit object")
        return result.stdout[:COMMIT_OBJECT_MAX_BYTES]


def _claim(repo: BareRepository, commit: str, requirement: OwnershipRequirement) -> OwnershipProof:
    assert requirement.claim is not None
    content = repo.blob(commit, requirement.claim_file, CLAIM_FILE_MAX_BYTES)
    return check_claim(content, requirement.claim_file, requirement.claim)


def _ssh(repo: BareRepository, commit: str, requirement: OwnershipRequirement) -> OwnershipProof:
    keys = [k for k in requirement.keys if k.kind is KeyKind.SSH]
    if not keys:
        return refused("no-keys", "the commit has an SSH signature, but you registered no SSH key")
    signers = repo.scratch / "allowed_signers"
    # One principal for all of the learner's keys: which of them signed is read from the fingerprint.
    signers.write_text("".join(f'learner namespaces="git" {k.public_key}\n' for k in keys))
    result = repo.git(
        "verify-commit",
        "--raw",
        "--end-of-options",
        commit,
        extra_config=(f"gpg.ssh.allowedSignersFile={signers}", "gpg.ssh.program=ssh-keygen", "gpg.ssh.revocationFile="),
    )
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    fingerprint = ssh_signer(output) if result.returncode == 0 else None
    return signing_proof(fingerprint, KeyKind.SSH, requirement.keys)


def _openpgp(repo: BareRepository, commit: str, requirement: OwnershipRequirement) -> OwnershipProof:
    keys = [k for k in requirement.keys if k.kind is KeyKind.OPENPGP]
    if not keys:
        return refused("no-keys", "the commit has an OpenPGP signature, but you registered no OpenPGP key")
    home = repo.scratch / "gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    env = {"GNUPGHOME": str(home)}
    gpg = ["gpg", "--batch", "--no-tty", "--quiet", "--no-autostart", "--homedir", str(home)]
    for key in keys:
        try:
            subprocess.run(
                [*gpg, "--import"],
                input=key.public_key.encode(),
                env={**repo.env, **env},
                capture_output=True,
                timeout=GIT_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OwnershipCheckFailed(f"gpg could not import a registered key: {exc}") from exc
    result = repo.git(
        "verify-commit", "--raw", "--end-of-options", commit, extra_config=("gpg.program=gpg", "gpg.format=openpgp"), env=env
    )
    fingerprint = openpgp_signer(result.stderr.decode("utf-8", "replace")) if result.returncode == 0 else None
    return signing_proof(fingerprint, KeyKind.OPENPGP, requirement.keys)


def _signed(repo: BareRepository, commit: str, requirement: OwnershipRequirement) -> OwnershipProof:
    kind = signature_format(repo.commit_object(commit))
    if kind == "none":
        return refused("unsigned", "the commit is not signed: sign it with a key you registered (git commit -S)")
    if kind == "ssh":
        return _ssh(repo, commit, requirement)
    if kind == "openpgp":
        return _openpgp(repo, commit, requirement)
    return refused("bad-signature", "the commit's signature is neither SSH nor OpenPGP")


def check_ownership(repo: BareRepository, commit: str, requirement: OwnershipRequirement) -> OwnershipProof:
    """The ownership proof of `commit` under `requirement`.

    Raises OwnershipRefused (a learner's fault) when the proof fails and the spec refuses failures;
    OwnershipCheckFailed (a system fault) when git or gpg could not run.
    """
    if requirement.method is OwnershipMethod.CLAIM:
        proof = _claim(repo, commit, requirement)
    elif requirement.method is OwnershipMethod.SIGNED:
        proof = _signed(repo, commit, requirement)
    else:
        return OwnershipProof(method=OwnershipMethod.NONE, verified=True)
    return settle(proof, requirement)

