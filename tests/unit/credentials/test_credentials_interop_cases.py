"""Every test case of 1EdTech's public credential validator, with the verdict written down.

Valid credentials signed by others verify with their issuer's key (named in the verification method's
fragment, as the validator's tests resolve them); each ``simple-err-*`` case fails the check its name
says. VC 1.1 credentials and JWT badges are refused as out of scope, with that reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credentials.bake import unbake
from credentials.multibase import public_key_from_multibase
from credentials.verify import FetchedStatusList, VerificationReport, verify_credential
from tests.data.credentials import BITSTRING, INTEROP

# The validator's cases are dated around 2010-2030; verify them at a fixed moment.
NOW = datetime(2026, 1, 1, tzinfo=UTC)
VC11 = ("contexts", "VC 1.1")  # out of scope: this verifier supports VC 2.0 / OB 3.0 only

# case -> (verdict, the check that fails, words its reason must contain)
EXPECTED: dict[str, tuple[str, str | None, str]] = {
    "simple.json": ("valid", None, ""),
    "simple-multiple-proofs.json": ("valid", None, ""),
    "simple-did-web-method.json": ("valid", None, ""),
    "simple-context-alias.json": ("valid", None, ""),
    "complete.json": ("valid", None, ""),
    "endorsement-valid.json": ("valid", None, ""),
    "simple-json.png": ("valid", None, ""),
    "bit-string-list/credential-status-revoked.json": ("valid", None, ""),  # no list given: status skipped
    "bit-string-list/credential-status-revoked-blank-nodes.json": ("valid", None, ""),
    # A urn:uuid issuer with a did:key proof: nothing binds the key to the issuer.
    "simple-did-key-method.json": ("invalid", "issuer_key", "nothing binds it"),
    # A context version that is not bundled (3.0.2): never fetched.
    "simple-context-version.json": ("invalid", "contexts", "unknown context"),
    "simple-err-context.json": ("invalid", "contexts", "first @context"),
    "simple-err-credential-subject-achievement-result-description-type.json": ("invalid", "schema", "Alignment"),
    "simple-err-credential-subject-identifier-type.json": ("invalid", "schema", "InvalidIdentityObject"),
    "simple-err-credential-subject-profile-type.json": ("invalid", "schema", "InvalidProfile"),
    "simple-err-credential-subject-result-type.json": ("invalid", "schema", "Alignment"),
    "simple-err-credential-subject-type.json": ("invalid", "schema", "InvalidAchievementSubject"),
    "simple-err-evidence-type.json": ("invalid", "schema", "evidence"),
    "simple-err-expired.json": ("invalid", "validity", "expired"),
    "simple-err-issued.json": ("invalid", "validity", "not valid yet"),
    "simple-err-issuer-otheridentifier-type.json": ("invalid", "schema", "issuer"),
    "simple-err-issuer-parentorg-type.json": ("invalid", "schema", "issuer"),
    "simple-err-issuer-type.json": ("invalid", "schema", "issuer"),
    "simple-err-issuer.json": ("invalid", "issuer_key", "no issuer id"),
    "simple-err-proof-method-no-scheme.json": ("invalid", "issuer_key", "not a URL or DID"),
    "simple-err-proof-method-unknown-did-method.json": ("invalid", "issuer_key", "cannot be resolved offline"),
    "simple-err-proof-method-unknown-scheme.json": ("invalid", "issuer_key", "not a DID"),
    "simple-err-proof-method.json": ("invalid", "issuer_key", "z6MkjZRsdas"),
    "simple-err-proof-value.json": ("invalid", "proof", "signature does not match"),
    "simple-err-type.json": ("invalid", "schema", "OtherCredential"),
    "endorsement-err-schema-status-refresh.json": ("invalid", "schema", "EndorsementCredential JSON Schema"),
    # VC 1.1 credentials: out of scope, refused with that reason.
    "simple_v1.json": ("invalid", *VC11),
    "complete_v1.json": ("invalid", *VC11),
    "simple-eddsa-2022.json": ("invalid", *VC11),
    "simple-noproof.json": ("invalid", *VC11),
    "credential-status-revoked.json": ("invalid", *VC11),
    # JWT badges (VC-JWT): out of scope; the baked text is a compact JWS, not a JSON credential.
    "simple-jwt.png": ("unusable", "json", "not JSON"),
    "simple-jwt_v1.png": ("unusable", "json", "not JSON"),
}


def fragment_key_resolver(vm: str) -> Ed25519PublicKey:
    """Stands in for the issuer's published key: the validator's files name their key in the fragment."""
    if not vm.startswith("https://") or "#" not in vm:
        raise LookupError(vm)
    return public_key_from_multibase(vm.split("#", 1)[1])


def _cases() -> list[str]:
    return sorted(
        p.relative_to(INTEROP).as_posix() for p in INTEROP.rglob("*") if p.suffix in (".json", ".png") and p.is_file()
    )


def _verify(path: Path, **kwargs: object) -> VerificationReport:
    raw = path.read_bytes()
    text: str | bytes = unbake(raw) if path.suffix == ".png" else raw
    return verify_credential(text, key_resolver=fragment_key_resolver, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_every_case_has_a_verdict_written_down() -> None:
    assert set(_cases()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_case_verdict(name: str) -> None:
    verdict, check, words = EXPECTED[name]
    report = _verify(INTEROP / name)
    got = "valid" if report.valid else ("invalid" if report.usable else "unusable")
    assert got == verdict, report.errors
    if check is not None:
        assert words in report.check(check).reason, report.check(check)


@pytest.mark.parametrize("name", ["credential-status-revoked.json", "credential-status-revoked-blank-nodes.json"])
def test_revoked_cases_with_their_status_list(name: str) -> None:
    credential = json.loads((BITSTRING / name).read_text())
    status_list = json.loads((BITSTRING / "testlist").read_text())
    url = credential["credentialStatus"]["statusListCredential"]
    report = _verify(BITSTRING / name, status_list=FetchedStatusList(url, status_list))
    assert not report.valid and report.check("status").outcome == "failed"
    assert "revoked" in report.check("status").reason
