"""The pure parts of proof of ownership: claim tokens, public keys and what git's verification says."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.core.ownership import (
    KeyKind,
    KeyProblem,
    OwnershipFailure,
    OwnershipMethod,
    OwnershipProof,
    OwnershipRefused,
    OwnershipRequirement,
    RegisteredKey,
    check_claim,
    claim_path_problem,
    claim_token,
    expectation,
    openpgp_key,
    openpgp_signer,
    parse_public_key,
    settle,
    signature_format,
    signing_proof,
    ssh_key,
    ssh_signer,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "authenticity"
SECRET = "server secret"
# Printed by `ssh-keygen -lf` and `gpg --fingerprint` for the vendored keys: an oracle outside this code.
SSH_FINGERPRINT = "SHA256:18Nfh0DSEAoRA06kTlh4y0YVtXxHFqGfBAQaoovqHg4"
OPENPGP_FINGERPRINT = "DDFF6E8E66F995438F46AC9BFAFFDB5CAD292999"


def test_a_token_is_stable_and_bound_to_tenant_assignment_and_learner() -> None:
    token = claim_token(SECRET, "school", "py-ledger", "ann@example.org")
    assert token == claim_token(SECRET, "school", "py-ledger", "ann@example.org")
    others = {
        claim_token(SECRET, "other-school", "py-ledger", "ann@example.org"),
        claim_token(SECRET, "school", "py-notes-api", "ann@example.org"),
        claim_token(SECRET, "school", "py-ledger", "bob@example.org"),
        claim_token("another secret", "school", "py-ledger", "ann@example.org"),
    }
    assert token not in others and len(others) == 4
    assert "ann" not in token  # the learner is named by a digest only


def claimed(content: str | None, learner: str = "ann", assignment: str = "py-ledger") -> OwnershipProof:
    data = content.encode() if content is not None else None
    return check_claim(data, ".grader-claim", expectation(SECRET, "school", assignment, learner))


def test_the_learners_own_token_is_accepted_with_comments_and_blank_lines() -> None:
    token = claim_token(SECRET, "school", "py-ledger", "ann")
    proof = claimed(f"# claim\n\n  {token}  \n")
    assert proof.verified and proof.method is OwnershipMethod.CLAIM


@pytest.mark.parametrize(
    ("content", "rule", "words"),
    [
        (None, "claim-missing", "has no '.grader-claim'"),
        ("", "claim-invalid", "does not hold a claim token"),
        ("hello", "claim-invalid", "does not hold a claim token"),
        (claim_token(SECRET, "school", "py-ledger", "bob"), "claim-other-learner", "belongs to another learner"),
        (claim_token(SECRET, "school", "py-notes-api", "ann"), "claim-other-assignment", "for assignment 'py-notes-api'"),
        (claim_token("forged", "school", "py-ledger", "ann")[:-32] + "0" * 32, "claim-other-learner", "another learner"),
    ],
)
def test_a_wrong_or_missing_token_is_refused_with_its_reason(content: str | None, rule: str, words: str) -> None:
    proof = claimed(content)
    assert not proof.verified and proof.rule == rule and words in proof.detail


def test_a_forged_mac_for_the_right_learner_is_refused() -> None:
    real = claim_token(SECRET, "school", "py-ledger", "ann")
    forged = real[:-32] + ("1" if real[-32] == "0" else "0") + real[-31:]
    proof = claimed(forged)
    assert not proof.verified and proof.rule == "claim-invalid" and "not issued by this grader" in proof.detail


def test_an_oversized_or_binary_claim_file_is_refused() -> None:
    token = claim_token(SECRET, "school", "py-ledger", "ann")
    assert claimed(token + "\n" + "x" * 5000).rule == "claim-invalid"
    binary = check_claim(b"\xff\xfe" + token.encode(), ".grader-claim", expectation(SECRET, "school", "py-ledger", "ann"))
    assert binary.rule == "claim-invalid"


@pytest.mark.parametrize("path", ["", "/abs", "../up", "a/../b", ".git/config", "a//b", "x:y", "a\nb"])
def test_a_claim_file_must_be_a_plain_relative_path(path: str) -> None:
    assert claim_path_problem(path) is not None
    assert claim_path_problem(".grader-claim") is None and claim_path_problem("docs/CLAIM") is None


def test_ssh_and_openpgp_fingerprints_agree_with_ssh_keygen_and_gpg() -> None:
    ssh = parse_public_key((DATA / "learner-ssh.pub").read_text())
    assert ssh.kind is KeyKind.SSH and ssh.fingerprint == SSH_FINGERPRINT
    assert ssh.public_key.count(" ") == 1  # the comment is dropped
    pgp = parse_public_key((DATA / "learner-openpgp.asc").read_text())
    assert pgp.kind is KeyKind.OPENPGP and pgp.fingerprint == OPENPGP_FINGERPRINT


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "expected an SSH public key line"),
        ("ssh-dss AAAAB3NzaC1kc3M= x", "not a supported SSH key type"),
        ("ssh-ed25519 not*base64 x", "not valid base64"),
        ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x", "the key's data says"),
        ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!\n-----END PGP PUBLIC KEY BLOCK-----\n", "not valid base64"),
        ("-----BEGIN PGP MESSAGE-----\nabc\n-----END PGP MESSAGE-----\n", "ASCII-armored OpenPGP public key"),
    ],
)
def test_a_key_that_is_not_one_is_refused_with_a_reason(text: str, words: str) -> None:
    with pytest.raises(KeyProblem, match=words):
        parse_public_key(text)


def test_an_openpgp_block_that_is_not_a_public_key_is_refused() -> None:
    import base64

    user_id_packet = bytes([0xB4, 3]) + b"abc"  # old format, tag 13 (user id)
    block = (
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
        + base64.b64encode(user_id_packet).decode()
        + "\n-----END PGP PUBLIC KEY BLOCK-----\n"
    )
    with pytest.raises(KeyProblem, match="does not start with a public key packet"):
        openpgp_key(block)


def test_what_git_verify_commit_says_is_read_strictly() -> None:
    good = 'Good "git" signature for learner with ED25519 key SHA256:abc+/1\n'
    assert ssh_signer(good) == "SHA256:abc+/1"
    assert ssh_signer('Good "git" signature with ED25519 key SHA256:abc\nNo principal matched.\n') is None
    status = (
        "[GNUPG:] GOODSIG FAFFDB5CAD292999 Learner <l@x>\n"
        f"[GNUPG:] VALIDSIG {'A' * 40} 2026-12-01 1796140213 0 4 0 22 8 00 {OPENPGP_FINGERPRINT}\n"
    )
    assert openpgp_signer(status) == OPENPGP_FINGERPRINT  # the primary key, not the signing subkey
    assert openpgp_signer(status.replace("GOODSIG", "EXPKEYSIG")) is None
    assert openpgp_signer(status + "[GNUPG:] REVKEYSIG x\n") is None
    assert openpgp_signer("[GNUPG:] BADSIG x\n") is None


def test_the_signature_format_comes_from_the_commit_header_only() -> None:
    header = b"tree abc\nauthor a <a> 1 +0000\ncommitter a <a> 1 +0000\n"
    assert signature_format(header + b"\nmessage -----BEGIN SSH SIGNATURE-----\n") == "none"
    assert signature_format(header + b"gpgsig -----BEGIN SSH SIGNATURE-----\n x\n\nmsg\n") == "ssh"
    assert signature_format(header + b"gpgsig -----BEGIN PGP SIGNATURE-----\n x\n\nmsg\n") == "openpgp"


def test_a_signature_counts_only_for_a_registered_key_of_its_kind() -> None:
    key = RegisteredKey(kind=KeyKind.SSH, fingerprint="SHA256:k", public_key="ssh-ed25519 AAAA")
    assert signing_proof("SHA256:k", KeyKind.SSH, (key,)).verified
    assert signing_proof("SHA256:k", KeyKind.SSH, (key,)).key_fingerprint == "SHA256:k"
    assert signing_proof("SHA256:k", KeyKind.OPENPGP, (key,)).rule == "unknown-key"
    assert signing_proof(None, KeyKind.SSH, (key,)).rule == "unknown-key"


def test_a_failure_is_refused_unless_the_spec_sends_it_to_review() -> None:
    failed = OwnershipProof(method=OwnershipMethod.CLAIM, verified=False, rule="claim-missing", detail="no file")
    with pytest.raises(OwnershipRefused, match="refused by rule 'claim-missing': no file"):
        settle(failed, OwnershipRequirement(method=OwnershipMethod.CLAIM))
    review = OwnershipRequirement(method=OwnershipMethod.CLAIM, on_failure=OwnershipFailure.REVIEW)
    assert settle(failed, review) == failed


def test_a_refusal_is_a_learners_fault() -> None:
    from grader.core.errors import FaultKind, disposition

    outcome = disposition(OwnershipRefused("unsigned", "x"))
    assert outcome.kind is FaultKind.LEARNER and not outcome.retry and outcome.state == "rejected"


def test_ssh_key_parse_keeps_type_and_data() -> None:
    line = (DATA / "learner-ssh.pub").read_text().strip()
    key = ssh_key(line)
    assert key.public_key == " ".join(line.split()[:2])
