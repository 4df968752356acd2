"""Our credentials checked by an independent verifier: Digital Bazaar's JS libraries, offline.

tests/interop/verify.mjs uses @digitalbazaar/vc with the eddsa-rdfc-2022 cryptosuite; its document
loader serves only our bundled contexts and resolves did:key locally. The npm packages are installed
outside the checkout (npm ci into a cache folder keyed by the lock file's hash, under
$GRADER_INTEROP_CACHE or ~/.cache/capstone-grader), so the tracked tree is never written to.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credentials.build import SubjectIdentity
from credentials.did import did_key, did_key_verification_method, did_web, did_web_document
from credentials.models import Profile
from credentials.proof import Ed25519Signer, sign_credential
from credentials.status import StatusList
from credentials.verify import FetchedStatusList, verify_credential
from tests.conftest import js_verify
from tests.credentials.forgeries.cases import Forgery, all_cases, local_issuer
from tests.unit.credentials.credsamples import sample_credential

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INTEROP = ROOT / "tests" / "interop"


KEY = Ed25519PrivateKey.generate()
ISSUER = did_key(KEY.public_key())
SIGNER = Ed25519Signer(KEY, did_key_verification_method(KEY.public_key()))


def _signed(**kwargs: Any) -> dict[str, Any]:
    return sign_credential(sample_credential(issuer=Profile(id=ISSUER, name="Example Grader"), **kwargs), SIGNER)


def test_our_credentials_verify_there(node_verifier: Path, tmp_path: Path) -> None:
    credentials = [
        _signed(),
        _signed(subject=SubjectIdentity.from_email("ada@example.org", salt="pepper")),
        _signed(credential_id="urn:uuid:7f1c2f43-1b7e-4a3b-9a39-2f3a1f6f0a55"),
    ]
    # Text that needs escaping in canonical N-Quads, including control characters that older
    # canonicalizers escape differently.
    tricky = _signed()
    tricky["name"] = 'Line 1\nLine 2\t"quoted" \\ back\x08space\x0cform\x07bell\x7f é 😀'
    tricky["credentialSubject"]["achievement"]["description"] = "\u2028 separators \x85 and \r returns"
    credentials.append(sign_credential(tricky, SIGNER))
    for credential in credentials:
        assert verify_credential(credential).valid
    results = js_verify(node_verifier, tmp_path, credentials)
    assert [r["verified"] for r in results] == [True] * len(credentials), results


def test_did_web_credential_verifies_there_with_its_did_document(node_verifier: Path, tmp_path: Path) -> None:
    did = did_web("grader.example.edu")
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    document = did_web_document(did, [("key-1", old.public_key()), ("key-2", new.public_key())])
    issuer = Profile(id=did, name="Example Grader")
    signed_old = sign_credential(sample_credential(issuer=issuer), Ed25519Signer(old, f"{did}#key-1"))
    signed_new = sign_credential(sample_credential(issuer=issuer), Ed25519Signer(new, f"{did}#key-2"))
    did_json = tmp_path / "did.json"
    did_json.write_text(json.dumps(document))
    results = js_verify(node_verifier, tmp_path, [signed_old, signed_new], "--did-document", str(did_json))
    assert [r["verified"] for r in results] == [True, True], results


TAMPERS: list[tuple[tuple[Any, ...], Any]] = [
    (("name",), "Python Ledger Project (honours)"),
    (("issuer", "name"), "Another Grader"),
    (("validFrom",), "2024-05-01T12:00:01Z"),
    (("credentialSubject", "id"), "did:example:someone-else"),
    (("credentialSubject", "achievement", "criteria", "narrative"), "Nothing required."),
    (("credentialSubject", "achievement", "tag", 0), "rust"),
    (("credentialSubject", "achievement", "resultDescription", 0, "rubricCriterionLevel", 2, "points"), "11"),
    (("credentialSubject", "achievement", "resultDescription", 0, "allowedValue", 0), "None"),
    (("credentialSubject", "result", 0, "achievedLevel"), "https://grader.example.edu/other#level"),
    (("credentialSubject", "result", 2, "value"), "20"),
    (
        ("evidence", 0, "id"),
        "https://git.example.edu/learner/py-ledger/commit/ffffffffffffffffffffffffffffffffffffffff",
    ),
    (("evidence", 1, "narrative"), "Assignment spec py-ledger 2.0.0"),
    (("proof", 0, "created"), "2030-01-01T00:00:00Z"),
]


def test_tampering_with_any_field_fails_there(node_verifier: Path, tmp_path: Path) -> None:
    original = _signed()
    tampered = []
    for path, value in TAMPERS:
        credential = copy.deepcopy(original)
        target: Any = credential
        for step in path[:-1]:
            target = target[step]
        assert target[path[-1]] != value
        target[path[-1]] = value
        assert not verify_credential(credential).valid, path  # and here, too
        tampered.append(credential)
    results = js_verify(node_verifier, tmp_path, [original, *tampered])
    assert results[0]["verified"] is True, results[0]
    for (path, _), result in zip(TAMPERS, results[1:], strict=True):
        assert result["verified"] is False, path
        assert result["errors"], path


def test_undefined_term_fails_there(node_verifier: Path, tmp_path: Path) -> None:
    # The signature covers the canonical form; a verifier without safe mode would drop the
    # undefined term and accept. Both verifiers must refuse instead.
    credential = _signed()
    credential["credentialSubject"]["grade"] = "A+"
    undefined_type = _signed()
    undefined_type["credentialSubject"]["type"] = ["AchievementSubject", "Graduate"]
    for doc in (credential, undefined_type):
        assert verify_credential(doc).check("terms").outcome == "failed"
    results = js_verify(node_verifier, tmp_path, [credential, undefined_type])
    assert [r["verified"] for r in results] == [False, False]
    joined = " ".join(" ".join(r["errors"]) for r in results).lower()
    assert "safe mode" in joined or "invalid signature" in joined


def test_revocation_is_seen_there(node_verifier: Path, tmp_path: Path) -> None:
    status = StatusList.create("https://grader.example.edu/status/1")
    entry = status.allocate_entry()
    credential = _signed(status=entry)
    live = tmp_path / "live.json"
    live.write_text(json.dumps(status.issue_credential(ISSUER, SIGNER)))
    status.revoke(int(entry.statusListIndex))
    revoked = tmp_path / "revoked.json"
    revoked.write_text(json.dumps(status.issue_credential(ISSUER, SIGNER)))
    assert js_verify(node_verifier, tmp_path, [credential], "--status-list", str(live))[0]["verified"] is True
    result = js_verify(node_verifier, tmp_path, [credential], "--status-list", str(revoked))[0]
    assert result["verified"] is False and "revocation" in " ".join(result["errors"])


def test_the_verifier_is_installed_outside_the_checkout(node_verifier: Path) -> None:
    assert ROOT not in node_verifier.parents
    assert (node_verifier.parent / "node_modules" / "@digitalbazaar" / "vc").is_dir()


def _oracle_cases() -> list[Forgery]:
    return [case for case in all_cases(local_issuer()) if case.oracle]


def _js_verdict(node_verifier: Path, tmp_path: Path, case: Forgery) -> dict[str, Any]:
    extra: list[str] = []
    for position, (_, document) in enumerate(case.lists):
        path = tmp_path / f"{case.name}-list-{position}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        extra += ["--status-list", str(path)]
    return js_verify(node_verifier, tmp_path, [case.document()], *extra)[0]


def test_the_independent_verifier_agrees_on_the_forgeries_it_can_judge(node_verifier: Path, tmp_path: Path) -> None:
    # Digital Bazaar's verifier checks the signature, validFrom/validUntil as JSON keys, that the
    # issuer controls the key, and a status list's proof, purpose and bit; it checks no input
    # limits, no compact form and not which list is used, so only the cases marked as its to judge
    # are compared (Forgery.oracle): fresh, endorsement, expired, revoked, stale list, another
    # purpose, unbound issuers.
    cases = _oracle_cases()
    assert {c.verdict for c in cases} == {"valid", "invalid"} and len(cases) >= 8
    for case in cases:
        lists = [FetchedStatusList(u, d) if u else d for u, d in case.lists]
        assert verify_credential(case.body, status_list=lists or None).valid is (case.verdict == "valid"), case.name
        theirs = _js_verdict(node_verifier, tmp_path, case)
        assert theirs["verified"] is (case.verdict == "valid"), (case.name, theirs["errors"])


def test_hidden_fields_fool_a_verifier_that_reads_json_keys(node_verifier: Path, tmp_path: Path) -> None:
    # Why they are not its cases: with expiry or status hidden, the signature holds and a verifier
    # reading JSON keys accepts; ours refuses them (terms), see tests/credentials/forgeries.
    cases = [c for c in all_cases(local_issuer()) if c.name in ("expiry-in-@nest", "status-as-full-iri")]
    for case in cases:
        assert not verify_credential(case.body, status_list=[d for _, d in case.lists] or None).valid
        assert _js_verdict(node_verifier, tmp_path, case)["verified"] is True, case.name
