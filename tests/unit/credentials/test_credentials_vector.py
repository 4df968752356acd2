"""The Open Badges 3.0 eddsa-rdfc-2022 test vector, reproduced byte for byte."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credentials import canon
from credentials.multibase import public_key_multibase
from credentials.proof import Ed25519Signer, create_proof, hash_data, proof_configuration, verify_proof
from tests.data.credentials import VECTORS

VECTOR = json.loads((VECTORS / "ob-eddsa-rdfc-2022.json").read_text())
EXPECTED = VECTOR["expected"]
DOC_CANON = (VECTORS / EXPECTED["document_canonical_form_file"]).read_text()
PROOF_CANON = (VECTORS / EXPECTED["proof_canonical_form_file"]).read_text()
KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTOR["ed25519_private_key_hex"]))


def _doc() -> dict[str, Any]:
    return json.loads(json.dumps(VECTOR["unsigned_credential"]))


def _proof_config() -> dict[str, Any]:
    return proof_configuration(VECTOR["proof_options"], _doc()["@context"])


@pytest.mark.parametrize(
    "canonicalizer", [canon.canonicalize, canon.canonicalize_reference, canon.canonicalize_fast_only]
)
def test_canonical_forms_match_vector(canonicalizer: Any) -> None:
    assert canonicalizer(_doc()) == DOC_CANON
    assert canonicalizer(_proof_config()) == PROOF_CANON


def test_hashes_match_vector() -> None:
    data = hash_data(_doc(), _proof_config())
    assert data.document_hash.hex() == EXPECTED["document_sha256_hex"]
    assert data.proof_hash.hex() == EXPECTED["proof_sha256_hex"]
    assert hashlib.sha256(DOC_CANON.encode()).hexdigest() == EXPECTED["document_sha256_hex"]


def test_proof_value_matches_vector() -> None:
    options = VECTOR["proof_options"]
    proof = create_proof(
        _doc(),
        Ed25519Signer(KEY, options["verificationMethod"]),
        created=datetime(2010, 1, 1, 19, 23, 24, tzinfo=UTC),
    )
    assert proof["proofValue"] == EXPECTED["proofValue"]
    assert {k: v for k, v in proof.items() if k != "proofValue"} == options


def test_vector_key_is_the_one_named_in_the_verification_method() -> None:
    fragment = VECTOR["proof_options"]["verificationMethod"].split("#")[1]
    assert public_key_multibase(KEY.public_key()) == fragment


def test_vector_proof_verifies_and_tampering_fails() -> None:
    doc = _doc()
    doc["proof"] = {**VECTOR["proof_options"], "proofValue": EXPECTED["proofValue"]}
    assert verify_proof(doc, doc["proof"], KEY.public_key()).ok
    doc["name"] = "Teamwork Badge!"
    check = verify_proof(doc, doc["proof"], KEY.public_key())
    assert not check.ok
    assert "signature" in check.reason
