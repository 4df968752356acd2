"""Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite (W3C VC DI EdDSA).

hashData = SHA-256(canonical proof configuration) || SHA-256(canonical unsecured document), signed with
Ed25519 and encoded as multibase base58btc. Canonicalization is RDFC-1.0 in JSON-LD safe mode: a
document with an undefined term is refused, both for signing and for verifying.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from credentials.canon import canonicalize
from credentials.errors import CredentialError, ProofError
from credentials.multibase import MultibaseError, decode_base58btc, encode_base58btc

PROOF_TYPE: Final = "DataIntegrityProof"
CRYPTOSUITE: Final = "eddsa-rdfc-2022"
ASSERTION_METHOD: Final = "assertionMethod"

Canonicalizer = Callable[[dict[str, Any]], str]
KeyResolver = Callable[[str], Ed25519PublicKey]


class Signer(Protocol):
    """Something that signs with an Ed25519 key named by a verification method (e.g. a keystore key)."""

    @property
    def verification_method(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class Ed25519Signer:
    """A bare private key with the verification method that names its public key."""

    private_key: Ed25519PrivateKey
    verification_method: str

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def format_datetime(moment: datetime) -> str:
    """XML Schema dateTime in UTC with a ``Z`` and whole seconds, as credentials conventionally use."""
    if moment.tzinfo is None:
        raise ProofError("datetimes must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def unsecured_document(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "proof"}


def proof_configuration(proof: dict[str, Any], context: Any) -> dict[str, Any]:
    """The proof options that are signed: the proof without ``proofValue``, with the document's context."""
    config = {k: v for k, v in proof.items() if k not in ("proofValue", "@context")}
    config["@context"] = context
    return config


@dataclass(frozen=True)
class HashData:
    """The intermediate values of the cryptosuite, exposed so tests can compare them to test vectors."""

    proof_canonical: str
    document_canonical: str

    @property
    def proof_hash(self) -> bytes:
        return hashlib.sha256(self.proof_canonical.encode("utf-8")).digest()

    @property
    def document_hash(self) -> bytes:
        return hashlib.sha256(self.document_canonical.encode("utf-8")).digest()

    @property
    def value(self) -> bytes:
        return self.proof_hash + self.document_hash


def hash_data(
    unsecured: dict[str, Any], config: dict[str, Any], canonicalizer: Canonicalizer = canonicalize
) -> HashData:
    return HashData(proof_canonical=canonicalizer(config), document_canonical=canonicalizer(unsecured))


def create_proof(
    document: dict[str, Any],
    signer: Signer,
    *,
    created: datetime | None = None,
    proof_purpose: str = ASSERTION_METHOD,
    canonicalizer: Canonicalizer = canonicalize,
) -> dict[str, Any]:
    """A ``DataIntegrityProof`` over ``document`` (any existing ``proof`` is not covered)."""
    if "@context" not in document:
        raise ProofError("document has no @context")
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "created": format_datetime(created or datetime.now(UTC)),
        "verificationMethod": signer.verification_method,
        "cryptosuite": CRYPTOSUITE,
        "proofPurpose": proof_purpose,
    }
    unsecured = unsecured_document(document)
    data = hash_data(unsecured, proof_configuration(proof, unsecured["@context"]), canonicalizer)
    proof["proofValue"] = encode_base58btc(signer.sign(data.value))
    return proof


def sign_document(
    document: dict[str, Any],
    signer: Signer,
    *,
    created: datetime | None = None,
    proof_purpose: str = ASSERTION_METHOD,
) -> dict[str, Any]:
    """A copy of ``document`` with a new proof, as a one-element ``proof`` array (the OB 3.0 schema
    wants an array). Any existing proof is replaced. Safe mode applies: a document with an undefined
    term raises :class:`~credentials.errors.UndefinedTermError` and is not signed.
    """
    signed = copy.deepcopy(unsecured_document(document))
    signed["proof"] = [create_proof(signed, signer, created=created, proof_purpose=proof_purpose)]
    return signed


sign_credential = sign_document


@dataclass(frozen=True)
class ProofCheck:
    """The outcome of checking one proof."""

    ok: bool
    reason: str
    verification_method: str | None = None


def proofs_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    raw = document.get("proof")
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [p for p in items if isinstance(p, dict)]


def _check_shape(proof: dict[str, Any], expected_purpose: str) -> str | None:
    if proof.get("type") != PROOF_TYPE:
        return f"proof type {proof.get('type')!r} is not {PROOF_TYPE}"
    if proof.get("cryptosuite") != CRYPTOSUITE:
        return f"cryptosuite {proof.get('cryptosuite')!r} is not {CRYPTOSUITE}"
    if proof.get("proofPurpose") != expected_purpose:
        return f"proofPurpose {proof.get('proofPurpose')!r} is not {expected_purpose}"
    if not isinstance(proof.get("verificationMethod"), str):
        return "proof has no verificationMethod"
    if not isinstance(proof.get("proofValue"), str):
        return "proof has no proofValue"
    return None


def verify_proof(
    document: dict[str, Any],
    proof: dict[str, Any],
    public_key: Ed25519PublicKey,
    *,
    expected_purpose: str = ASSERTION_METHOD,
    canonicalizer: Canonicalizer = canonicalize,
) -> ProofCheck:
    """Check one eddsa-rdfc-2022 proof of ``document`` against ``public_key``.

    Safe-mode errors (undefined terms, unknown contexts) are raised, not returned: such a document
    cannot be verified at all, and the caller reports why.
    """
    vm = proof.get("verificationMethod")
    problem = _check_shape(proof, expected_purpose)
    if problem:
        return ProofCheck(False, problem, vm if isinstance(vm, str) else None)
    unsecured = unsecured_document(document)
    context = unsecured.get("@context")
    proof_context = proof.get("@context")
    if proof_context is not None:
        # The proof may carry its own context; it must be a prefix of the document's.
        doc_ctx = context if isinstance(context, list) else [context]
        p_ctx = proof_context if isinstance(proof_context, list) else [proof_context]
        if doc_ctx[: len(p_ctx)] != p_ctx:
            return ProofCheck(False, "proof @context is not a prefix of the document @context", vm)
        unsecured["@context"] = proof_context
        context = proof_context
    try:
        signature = decode_base58btc(proof["proofValue"])
    except MultibaseError as exc:
        return ProofCheck(False, f"proofValue is not base58btc: {exc}", vm)
    if len(signature) != 64:
        return ProofCheck(False, f"proofValue decodes to {len(signature)} bytes, not a 64-byte signature", vm)
    data = hash_data(unsecured, proof_configuration(proof, context), canonicalizer)
    try:
        public_key.verify(signature, data.value)
    except InvalidSignature:
        return ProofCheck(False, "signature does not match the document (altered, or another key)", vm)
    return ProofCheck(True, f"valid {CRYPTOSUITE} signature by {vm}", vm)


def verify_document_proofs(
    document: dict[str, Any],
    resolve_key: KeyResolver,
    *,
    expected_purpose: str = ASSERTION_METHOD,
) -> list[ProofCheck]:
    """Check every supported proof of ``document``; proofs of other types are reported, not trusted."""
    results: list[ProofCheck] = []
    for proof in proofs_of(document):
        if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
            results.append(ProofCheck(False, f"unsupported proof {proof.get('type')!r}/{proof.get('cryptosuite')!r}"))
            continue
        vm = proof.get("verificationMethod")
        if not isinstance(vm, str):
            results.append(ProofCheck(False, "proof has no verificationMethod"))
            continue
        try:
            key = resolve_key(vm)
        except CredentialError as exc:
            results.append(ProofCheck(False, f"cannot resolve {vm}: {exc}", vm))
            continue
        results.append(verify_proof(document, proof, key, expected_purpose=expected_purpose))
    return results
