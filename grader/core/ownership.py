"""Proof that the learner controls the repository they submit: the pure parts.

An assignment chooses a method (`submission.ownership`):

- `none`: nothing is asked.
- `claim`: the learner commits their claim token into a file the spec names (default `.grader-claim`).
  The token is an HMAC of (tenant, assignment, learner) under a server secret, so only this grader can
  mint it, and it names the assignment and a digest of the learner so that a token of another
  assignment or another learner is refused with that reason rather than a vague "wrong token".
- `signed`: the submitted commit carries a signature by one of the SSH or OpenPGP public keys the
  learner registered; the key's fingerprint goes into the credential's evidence.

This module derives and checks tokens, reads key fingerprints and the output of `git verify-commit`,
and says what a failed check leads to (a refusal, or a review when the spec says so). Reading the
snapshot's commit is grader.fetch.ownership's work.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from grader.core.errors import LearnerFault

DEFAULT_CLAIM_FILE = ".grader-claim"
CLAIM_FILE_MAX_BYTES = 4096  # a token is about 90 bytes; anything much larger is not a claim file
TOKEN_PREFIX = "grader-claim"
TOKEN_VERSION = "v1"
_LEARNER_REF_LENGTH = 16
_MAC_LENGTH = 32
_TOKEN = re.compile(
    rf"^{TOKEN_PREFIX}:{TOKEN_VERSION}:(?P<assignment>[a-z0-9][a-z0-9-]{{1,62}}):"
    rf"(?P<learner>[0-9a-f]{{{_LEARNER_REF_LENGTH}}}):(?P<mac>[0-9a-f]{{{_MAC_LENGTH}}})$"
)
SSH_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
MAX_PUBLIC_KEY_CHARS = 16_384


class OwnershipMethod(StrEnum):
    NONE = "none"
    CLAIM = "claim"
    SIGNED = "signed"


class OwnershipFailure(StrEnum):
    """What a failed ownership check leads to: a refusal before any learner code runs (the default),
    or grading as usual with the credential held for an instructor's review."""

    REFUSE = "refuse"
    REVIEW = "review"


class KeyKind(StrEnum):
    SSH = "ssh"
    OPENPGP = "openpgp"


class OwnershipRefused(LearnerFault):
    """The submitted commit does not prove that the learner controls it: refused before any learner
    code runs. `rule` names what was missing (claim-missing, claim-other-learner, claim-other-assignment,
    claim-invalid, unsigned, unknown-key, bad-signature, no-keys)."""

    code = "ownership-refused"
    label = "ownership not proven"

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(f"refused by rule {rule!r}: {message}")


class RegisteredKey(BaseModel):
    """One public key a learner registered: what verification needs, nothing more."""

    model_config = ConfigDict(frozen=True)

    kind: KeyKind
    fingerprint: str
    public_key: str


class ClaimExpectation(BaseModel):
    """The token this submission must carry, and what identifies its parts."""

    model_config = ConfigDict(frozen=True)

    token: str
    assignment: str
    learner_ref: str


class OwnershipRequirement(BaseModel):
    """What the fetch stage checks on the snapshot's commit for one submission."""

    model_config = ConfigDict(frozen=True)

    method: OwnershipMethod
    on_failure: OwnershipFailure = OwnershipFailure.REFUSE
    claim_file: str = DEFAULT_CLAIM_FILE
    claim: ClaimExpectation | None = None
    keys: tuple[RegisteredKey, ...] = ()


class OwnershipProof(BaseModel):
    """What the check found: `verified` with the method (and for `signed` the key), or why not (when the
    spec sends a failure to review instead of refusing it)."""

    model_config = ConfigDict(frozen=True)

    method: OwnershipMethod
    verified: bool
    rule: str = ""
    detail: str = ""
    key_kind: KeyKind | None = None
    key_fingerprint: str | None = None


# Claim tokens --------------------------------------------------------------------------------------


def _mac(secret: str, *parts: str) -> str:
    # Length-prefixed, so ("ab", "c") and ("a", "bc") never share a MAC.
    message = b"".join(struct.pack(">I", len(p.encode())) + p.encode() for p in parts)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def learner_ref(secret: str, tenant: str, learner: str) -> str:
    """A digest naming the learner inside a token without revealing who they are."""
    return _mac(secret, "learner", tenant, learner)[:_LEARNER_REF_LENGTH]


def claim_token(secret: str, tenant: str, assignment: str, learner: str) -> str:
    """The learner's claim token for one assignment of one tenant (the same every time it is asked)."""
    ref = learner_ref(secret, tenant, learner)
    mac = _mac(secret, "claim", tenant, assignment, learner)[:_MAC_LENGTH]
    return f"{TOKEN_PREFIX}:{TOKEN_VERSION}:{assignment}:{ref}:{mac}"


def expectation(secret: str, tenant: str, assignment: str, learner: str) -> ClaimExpectation:
    return ClaimExpectation(
        token=claim_token(secret, tenant, assignment, learner),
        assignment=assignment,
        learner_ref=learner_ref(secret, tenant, learner),
    )


def claim_in(text: str) -> str | None:
    """The token in a claim file: its first line that is neither blank nor a `#` comment."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped
    return None


def check_claim(content: bytes | None, claim_file: str, expected: ClaimExpectation) -> OwnershipProof:
    """Whether the claim file's `content` (None: absent from the commit) carries the expected token.

    Returns a proof that is verified, or not with the rule and a reason the learner can act on.
    """

    def refused(rule: str, detail: str) -> OwnershipProof:
        return OwnershipProof(method=OwnershipMethod.CLAIM, verified=False, rule=rule, detail=detail)

    if content is None:
        return refused(
            "claim-missing",
            f"the commit has no {claim_file!r}; commit your claim token for this assignment in that file",
        )
    if len(content) > CLAIM_FILE_MAX_BYTES:
        return refused("claim-invalid", f"{claim_file!r} is over {CLAIM_FILE_MAX_BYTES} bytes; it should hold one token")
    try:
        token = claim_in(content.decode("utf-8"))
    except UnicodeDecodeError:
        token = None
    match = _TOKEN.match(token) if token else None
    if token is None or match is None:
        return refused("claim-invalid", f"{claim_file!r} does not hold a claim token ({TOKEN_PREFIX}:{TOKEN_VERSION}:…)")
    if match["assignment"] != expected.assignment:
        return refused(
            "claim-other-assignment",
            f"the token in {claim_file!r} is for assignment {match['assignment']!r}, not {expected.assignment!r}",
        )
    if not hmac.compare_digest(match["learner"], expected.learner_ref):
        return refused(
            "claim-other-learner",
            f"the token in {claim_file!r} belongs to another learner: submit your own repository with your own token",
        )
    if not hmac.compare_digest(token, expected.token):
        return refused("claim-invalid", f"the token in {claim_file!r} was not issued by this grader")
    return OwnershipProof(method=OwnershipMethod.CLAIM, verified=True, detail=f"claim token found in {claim_file!r}")


# Public keys ---------------------------------------------------------------------------------------


class KeyProblem(ValueError):
    """A public key that cannot be registered; the message says why."""


def _ssh_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(blob):
        raise KeyProblem("the SSH key's data is truncated")
    (length,) = struct.unpack(">I", blob[offset : offset + 4])
    end = offset + 4 + length
    if end > len(blob):
        raise KeyProblem("the SSH key's data is truncated")
    return blob[offset + 4 : end], end


def ssh_key(text: str) -> RegisteredKey:
    """An SSH public key line (`ssh-ed25519 AAAA… comment`) as a registered key with its SHA256
    fingerprint (as `ssh-keygen -l` prints it). Raises KeyProblem for anything else."""
    parts = text.strip().split()
    if len(parts) < 2:
        raise KeyProblem("expected an SSH public key line such as 'ssh-ed25519 AAAA… you@host'")
    kind, data = parts[0], parts[1]
    if kind not in SSH_KEY_TYPES:
        raise KeyProblem(f"{kind[:40]!r} is not a supported SSH key type; supported: {sorted(SSH_KEY_TYPES)}")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyProblem("the SSH key's data is not valid base64") from exc
    named, _ = _ssh_string(blob, 0)
    if named.decode("ascii", "replace") != kind:
        raise KeyProblem(f"the key's data says {named[:40]!r}, not {kind!r}")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return RegisteredKey(kind=KeyKind.SSH, fingerprint=f"SHA256:{digest}", public_key=f"{kind} {data}")


def _dearmor(text: str) -> bytes:
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or lines[0] != "-----BEGIN PGP PUBLIC KEY BLOCK-----" or "-----END PGP PUBLIC KEY BLOCK-----" not in lines:
        raise KeyProblem("expected an ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)")
    body = lines[1 : lines.index("-----END PGP PUBLIC KEY BLOCK-----")]
    while body and ":" in body[0]:  # armor headers (Version:, Comment:)
        body.pop(0)
    data = [line for line in body if line and not line.startswith("=")]
    try:
        return base64.b64decode("".join(data), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyProblem("the OpenPGP key block is not valid base64") from exc


def _first_packet(data: bytes) -> tuple[int, bytes]:
    """The tag and body of the first OpenPGP packet (RFC 4880 §4.2, both header formats)."""
    if not data or not data[0] & 0x80:
        raise KeyProblem("the OpenPGP data does not start with a packet")
    first = data[0]
    if first & 0x40:  # new format
        tag, length_octet = first & 0x3F, data[1] if len(data) > 1 else 0
        if length_octet < 192:
            length, start = length_octet, 2
        elif length_octet < 224:
            length, start = ((length_octet - 192) << 8) + data[2] + 192, 3
        elif length_octet == 255:
            (length,) = struct.unpack(">I", data[2:6])
            start = 6
        else:
            raise KeyProblem("partial-length OpenPGP packets are not supported in a public key")
    else:
        tag, length_type = (first >> 2) & 0x0F, first & 0x03
        if length_type == 3:
            raise KeyProblem("indeterminate-length OpenPGP packets are not supported in a public key")
        size = 1 << length_type
        length = int.from_bytes(data[1 : 1 + size], "big")
        start = 1 + size
    body = data[start : start + length]
    if len(body) != length:
        raise KeyProblem("the OpenPGP key block is truncated")
    return tag, body


def openpgp_key(text: str) -> RegisteredKey:
    """An armored OpenPGP public key as a registered key with its primary key's v4 fingerprint (40 hex
    digits, as gpg prints it). Raises KeyProblem for anything else."""
    if len(text) > MAX_PUBLIC_KEY_CHARS:
        raise KeyProblem(f"the key is over {MAX_PUBLIC_KEY_CHARS} characters")
    tag, body = _first_packet(_dearmor(text))
    if tag != 6:
        raise KeyProblem("the block does not start with a public key packet")
    if not body or body[0] != 4:
        raise KeyProblem(f"only version 4 OpenPGP keys are supported (this one is version {body[0] if body else '?'})")
    fingerprint = hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body, usedforsecurity=False).hexdigest()
    return RegisteredKey(kind=KeyKind.OPENPGP, fingerprint=fingerprint.upper(), public_key=text.strip() + "\n")


def parse_public_key(text: str) -> RegisteredKey:
    """An SSH or an armored OpenPGP public key, whichever `text` is. Raises KeyProblem."""
    if len(text) > MAX_PUBLIC_KEY_CHARS:
        raise KeyProblem(f"the key is over {MAX_PUBLIC_KEY_CHARS} characters")
    if "BEGIN PGP" in text:
        return openpgp_key(text)
    return ssh_key(text)


# Signatures ----------------------------------------------------------------------------------------

SignatureFormat = Literal["ssh", "openpgp", "none", "other"]
_SSH_GOOD = re.compile(r'Good "git" signature for \S+ with \S+ key (SHA256:[A-Za-z0-9+/]+)')
_GPG_VALIDSIG = re.compile(r"^\[GNUPG:\] VALIDSIG (?P<fpr>[0-9A-F]{40})(?: .*? (?P<primary>[0-9A-F]{40}))?\s*$", re.M)


def signature_format(commit_object: bytes) -> SignatureFormat:
    """The kind of signature in a raw commit object's `gpgsig` header."""
    header, _, _ = commit_object.partition(b"\n\n")
    if b"\ngpgsig " not in b"\n" + header:
        return "none"
    if b"-----BEGIN SSH SIGNATURE-----" in header:
        return "ssh"
    if b"-----BEGIN PGP SIGNATURE-----" in header:
        return "openpgp"
    return "other"


def signing_proof(fingerprint: str | None, kind: KeyKind, keys: tuple[RegisteredKey, ...]) -> OwnershipProof:
    """The proof from the fingerprint `git verify-commit` vouched for (None: it vouched for none)."""
    registered = {k.fingerprint for k in keys if k.kind is kind}
    if fingerprint is None or fingerprint not in registered:
        return OwnershipProof(
            method=OwnershipMethod.SIGNED,
            verified=False,
            rule="unknown-key",
            detail="the commit is signed, but not by a key you registered: register your key, or sign with it",
        )
    return OwnershipProof(
        method=OwnershipMethod.SIGNED,
        verified=True,
        detail=f"signed by your registered {kind.value} key {fingerprint}",
        key_kind=kind,
        key_fingerprint=fingerprint,
    )


def ssh_signer(output: str) -> str | None:
    """The key fingerprint of a good SSH signature in `git verify-commit --raw` output."""
    match = _SSH_GOOD.search(output)
    return match.group(1) if match else None


def openpgp_signer(status: str) -> str | None:
    """The primary key fingerprint of a good OpenPGP signature in gpg's status output (`--raw`), or None
    when the signature is bad, expired or made by a revoked key."""
    if "[GNUPG:] GOODSIG " not in status or any(
        f"[GNUPG:] {bad} " in status for bad in ("BADSIG", "EXPKEYSIG", "REVKEYSIG", "EXPSIG", "ERRSIG")
    ):
        return None
    match = _GPG_VALIDSIG.search(status)
    if match is None:
        return None
    return match["primary"] or match["fpr"]


def refused(rule: str, detail: str, method: OwnershipMethod = OwnershipMethod.SIGNED) -> OwnershipProof:
    return OwnershipProof(method=method, verified=False, rule=rule, detail=detail)


def settle(proof: OwnershipProof, requirement: OwnershipRequirement) -> OwnershipProof:
    """A failed proof is refused at once unless the spec sends failures to review.

    Raises OwnershipRefused (a learner's fault) for a failure the spec refuses.
    """
    if not proof.verified and requirement.on_failure is OwnershipFailure.REFUSE:
        raise OwnershipRefused(proof.rule, proof.detail)
    return proof


def claim_path_problem(path: str) -> str | None:
    """Why `path` cannot name a claim file in a repository (None when it can): a plain relative path."""
    parts = path.split("/")
    if not path or len(path) > 200 or path.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts):
        return f"{path!r} is not a plain relative path inside the repository (such as '.grader-claim')"
    if any(ord(c) < 32 for c in path) or ":" in path:
        return f"{path!r} holds a character a claim file's name cannot have"
    return None
