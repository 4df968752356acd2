"""verify_credential: named checks on our credentials and on credentials signed by others."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from credentials.did import did_key, did_key_verification_method, did_web, did_web_document
from credentials.errors import UndefinedTermError
from credentials.models import Profile
from credentials.multibase import public_key_from_multibase
from credentials.proof import Ed25519Signer, sign_credential
from credentials.verify import CHECK_ORDER, FetchedStatusList, verify_credential
from tests.data.credentials import INTEROP
from tests.unit.credentials.credsamples import VALID_FROM, sample_credential

KEY = Ed25519PrivateKey.generate()
ISSUER = did_key(KEY.public_key())
SIGNER = Ed25519Signer(KEY, did_key_verification_method(KEY.public_key()))
AFTER = VALID_FROM + timedelta(days=1)


def _signed(**kwargs: Any) -> dict[str, Any]:
    return sign_credential(sample_credential(issuer=Profile(id=ISSUER, name="Grader"), **kwargs), SIGNER)


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((INTEROP / name).read_text())
    return data


def fragment_key_resolver(vm: str) -> Ed25519PublicKey:
    """Stands in for the issuer's published key: the interop files name their key in the fragment."""
    if not vm.startswith("https://") or "#" not in vm:
        raise LookupError(vm)
    return public_key_from_multibase(vm.split("#", 1)[1])


def test_our_credential_passes_every_check() -> None:
    report = verify_credential(_signed(), now=AFTER)
    assert [c.name for c in report.checks] == list(CHECK_ORDER)
    assert report.valid
    outcomes = {c.name: c.outcome for c in report.checks}
    assert outcomes == {**dict.fromkeys(CHECK_ORDER, "passed"), "status": "skipped"}
    assert report.issuer == ISSUER


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("name",), "Another badge"),
        (("credentialSubject", "achievement", "name"), "Something else"),
        (("credentialSubject", "result", 0, "achievedLevel"), "https://grader.example.edu/x#l"),
        (("credentialSubject", "result", 2, "value"), "20"),
        (("evidence", 0, "id"), "https://git.example.edu/other/repo/commit/ffff"),
        (("validFrom",), "2020-01-01T00:00:00Z"),
        (("issuer", "name"), "Someone else"),
    ],
)
def test_tampering_with_any_field_fails_the_proof(path: tuple[Any, ...], value: Any) -> None:
    credential = _signed()
    target: Any = credential
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    report = verify_credential(credential, now=AFTER)
    assert report.check("proof").outcome == "failed"
    assert "signature" in report.check("proof").reason


def test_undefined_term_fails_terms_and_is_not_signed() -> None:
    credential = _signed()
    credential["credentialSubject"]["grade"] = "A+"
    report = verify_credential(credential, now=AFTER)
    assert report.check("terms").outcome == "failed"
    assert "'grade'" in report.check("terms").reason
    assert report.check("proof").outcome == "skipped"
    with pytest.raises(UndefinedTermError, match="grade"):
        sign_credential(credential, SIGNER)


def test_validity_window() -> None:
    credential = _signed(valid_until=VALID_FROM + timedelta(days=30))
    assert verify_credential(credential, now=VALID_FROM - timedelta(seconds=1)).check("validity").outcome == "failed"
    assert verify_credential(credential, now=VALID_FROM + timedelta(days=10)).valid
    late = verify_credential(credential, now=VALID_FROM + timedelta(days=31))
    assert late.check("validity").outcome == "failed" and "expired" in late.check("validity").reason


def test_missing_or_empty_evidence() -> None:
    credential = _signed()
    del credential["evidence"]
    credential = sign_credential(credential, SIGNER)
    assert verify_credential(credential, now=AFTER).check("evidence").outcome == "skipped"
    assert verify_credential(credential, now=AFTER, require_evidence=True).check("evidence").outcome == "failed"
    credential["evidence"] = []
    credential = sign_credential(credential, SIGNER)
    assert verify_credential(credential, now=AFTER).check("evidence").outcome == "failed"


def test_key_of_someone_else_fails_issuer_key() -> None:
    other = Ed25519PrivateKey.generate()
    credential = sign_credential(
        sample_credential(issuer=Profile(id=ISSUER)),
        Ed25519Signer(other, did_key_verification_method(other.public_key())),
    )
    report = verify_credential(credential, now=AFTER)
    assert report.check("proof").outcome == "passed"  # a valid signature ...
    assert report.check("issuer_key").outcome == "failed"  # ... by a key that is not the issuer's
    assert "not the issuer" in report.check("issuer_key").reason


def test_did_web_issuer_needs_its_did_document() -> None:
    did = did_web("grader.example.edu")
    signer = Ed25519Signer(KEY, f"{did}#key-1")
    credential = sign_credential(sample_credential(issuer=Profile(id=did)), signer)
    missing = verify_credential(credential, now=AFTER)
    assert missing.check("issuer_key").outcome == "failed"
    assert "did.json" in missing.check("issuer_key").reason
    document = did_web_document(did, [("key-1", KEY.public_key())])
    assert verify_credential(credential, now=AFTER, did_documents=[document]).valid


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"name": "x"}', '{"@context": [], "type": ["Thing"]}'])
def test_unusable_input(raw: str) -> None:
    report = verify_credential(raw)
    assert not report.usable and not report.valid
    assert report.check("json").outcome == "failed"
    assert {c.outcome for c in report.checks[1:]} == {"skipped"}


# ------------------------------------------------------------------------------------ interop files


def test_did_key_credential_with_an_unbound_urn_issuer_is_refused() -> None:
    # Its signature is good, but its issuer is a urn:uuid: nothing says that key speaks for it.
    report = verify_credential(_load("simple-did-key-method.json"))
    assert report.check("proof").outcome == "passed"
    assert report.check("issuer_key").outcome == "failed"
    assert "nothing binds it" in report.check("issuer_key").reason
    assert not report.valid


@pytest.mark.parametrize(
    "name", ["simple.json", "simple-multiple-proofs.json", "simple-did-web-method.json", "simple-context-alias.json"]
)
def test_valid_credentials_from_others_verify_with_their_key(name: str) -> None:
    report = verify_credential(_load(name), key_resolver=fragment_key_resolver)
    assert report.valid, report.failed


def test_complete_credential_signature_verifies() -> None:
    report = verify_credential(_load("complete.json"), key_resolver=fragment_key_resolver)
    assert report.check("proof").outcome == "passed"
    assert report.check("terms").outcome == "passed"


def test_https_issuer_without_a_key_resolver_cannot_be_checked() -> None:
    report = verify_credential(_load("simple.json"))
    assert report.check("issuer_key").outcome == "failed"
    assert "key resolver" in report.check("issuer_key").reason
    assert report.check("proof").outcome == "skipped"


ERROR_FILES = {
    "simple-err-context.json": "contexts",
    "simple-err-credential-subject-achievement-result-description-type.json": "schema",
    "simple-err-credential-subject-identifier-type.json": "schema",
    "simple-err-credential-subject-profile-type.json": "schema",
    "simple-err-credential-subject-result-type.json": "schema",
    "simple-err-credential-subject-type.json": "schema",
    "simple-err-evidence-type.json": "schema",
    "simple-err-expired.json": "validity",
    "simple-err-issued.json": "validity",
    "simple-err-issuer-otheridentifier-type.json": "schema",
    "simple-err-issuer-parentorg-type.json": "schema",
    "simple-err-issuer-type.json": "schema",
    "simple-err-issuer.json": "schema",
    "simple-err-proof-method-no-scheme.json": "issuer_key",
    "simple-err-proof-method-unknown-did-method.json": "issuer_key",
    "simple-err-proof-method-unknown-scheme.json": "issuer_key",
    "simple-err-proof-method.json": "issuer_key",
    "simple-err-proof-value.json": "proof",
    "simple-err-type.json": "schema",
}


def test_every_error_file_is_covered() -> None:
    assert {p.name for p in INTEROP.glob("simple-err-*.json")} == set(ERROR_FILES)


@pytest.mark.parametrize(("name", "check"), sorted(ERROR_FILES.items()))
def test_error_files_fail_the_rule_they_break(name: str, check: str) -> None:
    report = verify_credential(_load(name), key_resolver=fragment_key_resolver)
    assert not report.valid
    assert report.check(check).outcome == "failed", report.check(check)  # type: ignore[arg-type]


def test_expired_and_not_yet_valid_files_have_good_signatures() -> None:
    for name in ("simple-err-expired.json", "simple-err-issued.json"):
        report = verify_credential(_load(name), key_resolver=fragment_key_resolver)
        assert report.check("proof").outcome == "passed", name


def test_undefined_types_in_error_files_are_named() -> None:
    report = verify_credential(_load("simple-err-issuer-type.json"), key_resolver=fragment_key_resolver)
    assert "InvalidProfile" in report.check("terms").reason


@pytest.mark.parametrize(
    "name", ["simple_v1.json", "complete_v1.json", "simple-eddsa-2022.json", "simple-noproof.json"]
)
def test_vc_1_1_credentials_are_rejected_with_a_reason(name: str) -> None:
    report = verify_credential(_load(name))
    assert report.check("contexts").outcome == "failed"
    assert "VC 1.1" in report.check("contexts").reason


def test_revoked_interop_credential_with_its_status_list() -> None:
    status_list = json.loads((INTEROP / "bit-string-list" / "testlist").read_text())
    for name in ("credential-status-revoked.json", "credential-status-revoked-blank-nodes.json"):
        credential = json.loads((INTEROP / "bit-string-list" / name).read_text())
        # The list's id differs from the URL the entry names: it counts as fetched from that URL.
        fetched = FetchedStatusList(credential["credentialStatus"]["statusListCredential"], status_list)
        report = verify_credential(credential, status_list=fetched, key_resolver=fragment_key_resolver)
        assert report.check("proof").outcome == "passed", name
        assert report.check("status").outcome == "failed", name
        assert "revoked" in report.check("status").reason
        # Given without the URL, the list is another list: it is not used.
        report = verify_credential(credential, status_list=status_list, key_resolver=fragment_key_resolver)
        assert "none of the supplied status lists" in report.check("status").reason


def test_report_json_shape() -> None:
    credential = _signed()
    broken = copy.deepcopy(credential)
    broken["validUntil"] = "2000-01-01T00:00:00Z"
    data = verify_credential(broken, now=datetime.now(UTC)).to_json()
    assert data["valid"] is False
    assert "proof" in data["failed"] and "validity" in data["failed"]
    assert [c["name"] for c in data["checks"]] == list(CHECK_ORDER)
