"""DIDs for issuers, resolved without the network.

* ``did:key`` (Ed25519): the DID *is* the public key (multicodec 0xed01, base58btc), so it resolves
  locally.
* ``did:web``: the issuer publishes ``did.json`` at a URL derived from the DID. This module generates
  that document (several ``Multikey`` verification methods, so keys can rotate) and resolves a
  ``did:web`` only from a document the caller supplies or cached earlier; it never fetches.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credentials.errors import DidResolutionError
from credentials.multibase import MultibaseError, public_key_from_multibase, public_key_multibase

DID_V1_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
_MULTIBASE_VM_TYPES = frozenset({"Multikey", "Ed25519VerificationKey2020"})

KeyState = Literal["active", "retired"]


@dataclass(frozen=True)
class ResolvedKey:
    """A public key with who controls it and, when a keystore knows it, its lifecycle state."""

    verification_method: str
    controller: str
    public_key: Ed25519PublicKey = field(compare=False)
    source: str
    state: KeyState = "active"
    # A retired key verifies proofs created before this moment, never after.
    retired_at: datetime | None = None

    @property
    def public_key_multibase(self) -> str:
        return public_key_multibase(self.public_key)


def split_verification_method(vm: str) -> tuple[str, str]:
    """``did:...#frag`` -> (``did:...``, ``frag``); a bare did:key gets its key as the fragment."""
    base, sep, fragment = vm.partition("#")
    if not sep and base.startswith("did:key:"):
        fragment = base.removeprefix("did:key:")
    return base, fragment


# ---------------------------------------------------------------------------------------------- did:key


def did_key(public_key: Ed25519PublicKey) -> str:
    return f"did:key:{public_key_multibase(public_key)}"


def did_key_verification_method(public_key: Ed25519PublicKey) -> str:
    multibase = public_key_multibase(public_key)
    return f"did:key:{multibase}#{multibase}"


def resolve_did_key(vm_or_did: str) -> ResolvedKey:
    """Resolve ``did:key:z6Mk...`` or ``did:key:z6Mk...#z6Mk...`` to its Ed25519 key, locally.

    Raises :class:`DidResolutionError` for anything that is not an Ed25519 did:key. Answers are
    cached (a verifier sees the same few issuers again and again; the answer never changes).
    """
    return _resolve_did_key(vm_or_did)


@lru_cache(maxsize=1024)
def _resolve_did_key(vm_or_did: str) -> ResolvedKey:
    did, fragment = split_verification_method(vm_or_did)
    if not did.startswith("did:key:"):
        raise DidResolutionError(f"{vm_or_did!r} is not a did:key")
    multibase = did.removeprefix("did:key:")
    if fragment != multibase:
        raise DidResolutionError(f"{vm_or_did!r}: a did:key verification method must be #{multibase}")
    try:
        key = public_key_from_multibase(multibase)
    except (MultibaseError, ValueError) as exc:
        raise DidResolutionError(f"{vm_or_did!r} is not an Ed25519 did:key: {exc}") from exc
    return ResolvedKey(verification_method=f"{did}#{multibase}", controller=did, public_key=key, source="did:key")


def did_key_document(public_key: Ed25519PublicKey) -> dict[str, Any]:
    did = did_key(public_key)
    vm = did_key_verification_method(public_key)
    return {
        "@context": [DID_V1_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": [
            {"id": vm, "type": "Multikey", "controller": did, "publicKeyMultibase": public_key_multibase(public_key)}
        ],
        "authentication": [vm],
        "assertionMethod": [vm],
    }


# ---------------------------------------------------------------------------------------------- did:web


def did_web(domain: str, path: str | None = None) -> str:
    """``did:web`` for a domain (a port is percent-encoded) and an optional path (``a/b`` -> ``:a:b``)."""
    domain = domain.strip().lower()
    if not domain or "/" in domain or domain.startswith("."):
        raise ValueError(f"{domain!r} is not a domain name")
    did = f"did:web:{quote(domain, safe='.-')}"
    if path:
        parts = [p for p in path.strip("/").split("/") if p]
        did += "".join(f":{quote(p, safe='.-_~')}" for p in parts)
    return did


def did_web_url(did: str) -> str:
    """Where a ``did:web`` document is published (for the provider to host; never fetched here)."""
    if not did.startswith("did:web:"):
        raise ValueError(f"{did!r} is not a did:web")
    domain, *path = did.removeprefix("did:web:").split(":")
    base = f"https://{unquote(domain)}"
    if path:
        return base + "/" + "/".join(unquote(p) for p in path) + "/did.json"
    return base + "/.well-known/did.json"


def did_web_document(did: str, keys: Iterable[tuple[str, Ed25519PublicKey]]) -> dict[str, Any]:
    """The ``did.json`` of an issuer with the given ``(key id, public key)`` pairs, newest last.

    Every key is an ``assertionMethod``: after a rotation the old key must stay, or the
    credentials it signed would stop verifying with any standard verifier.
    """
    methods = [
        {
            "id": f"{did}#{key_id}",
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": public_key_multibase(key),
        }
        for key_id, key in keys
    ]
    if not methods:
        raise ValueError("a DID document needs at least one key")
    ids = [m["id"] for m in methods]
    if len(set(ids)) != len(ids):
        raise ValueError("key ids must be unique")
    return {
        "@context": [DID_V1_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": methods,
        "authentication": ids,
        "assertionMethod": ids,
    }


def _public_key_of(method: Mapping[str, Any]) -> Ed25519PublicKey:
    if method.get("type") in _MULTIBASE_VM_TYPES and isinstance(method.get("publicKeyMultibase"), str):
        return public_key_from_multibase(method["publicKeyMultibase"])
    jwk = method.get("publicKeyJwk")
    if isinstance(jwk, Mapping) and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        x = str(jwk.get("x", ""))
        return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
    raise DidResolutionError(f"verification method {method.get('id')!r} has no Ed25519 public key")


def _absolute(did: str, ref: str) -> str:
    return f"{did}{ref}" if ref.startswith("#") else ref


def resolve_from_document(vm: str, document: Mapping[str, Any], purpose: str = "assertionMethod") -> ResolvedKey:
    """Find verification method ``vm`` in a DID document and check it is authorized for ``purpose``."""
    did, _ = split_verification_method(vm)
    if document.get("id") != did:
        raise DidResolutionError(f"DID document is for {document.get('id')!r}, not {did!r}")
    methods: dict[str, Mapping[str, Any]] = {}
    for method in document.get("verificationMethod", []) or []:
        if isinstance(method, Mapping) and isinstance(method.get("id"), str):
            methods[_absolute(did, method["id"])] = method
    authorized: set[str] = set()
    for entry in document.get(purpose, []) or []:
        if isinstance(entry, str):
            authorized.add(_absolute(did, entry))
        elif isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
            full = _absolute(did, entry["id"])
            authorized.add(full)
            methods.setdefault(full, entry)
    method = methods.get(vm)
    if method is None:
        raise DidResolutionError(f"{vm!r} is not a verification method of {did}")
    if vm not in authorized:
        raise DidResolutionError(f"{vm!r} is not authorized for {purpose} by {did}")
    controller = method.get("controller", did)
    if controller != did:
        raise DidResolutionError(f"{vm!r} is controlled by {controller!r}, not {did}")
    try:
        key = _public_key_of(method)
    except (MultibaseError, ValueError) as exc:
        raise DidResolutionError(f"{vm!r}: {exc}") from exc
    return ResolvedKey(verification_method=vm, controller=did, public_key=key, source="DID document")


class DidDocumentCache:
    """DID documents known offline (supplied by the verifier, or saved from an earlier check)."""

    def __init__(self, documents: Iterable[Mapping[str, Any]] = ()) -> None:
        self._documents: dict[str, Mapping[str, Any]] = {}
        for document in documents:
            self.add(document)

    def add(self, document: Mapping[str, Any]) -> None:
        """Raises :class:`DidResolutionError` for a document that is not a JSON object with a DID ``id``."""
        if not isinstance(document, Mapping):
            raise DidResolutionError(f"a DID document is a JSON object, not {type(document).__name__}")
        did = document.get("id")
        if not isinstance(did, str) or not did.startswith("did:"):
            raise DidResolutionError("a DID document needs an 'id' that is a DID")
        self._documents[did] = document

    def get(self, did: str) -> Mapping[str, Any] | None:
        return self._documents.get(did)

    @classmethod
    def load(cls, directory: Path) -> DidDocumentCache:
        """DID documents saved earlier with :meth:`save` (or any ``*.json`` DID documents)."""
        cache = cls()
        for path in sorted(Path(directory).glob("*.json")):
            try:
                cache.add(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, DidResolutionError) as exc:
                raise DidResolutionError(f"{path} is not a DID document: {exc}") from exc
        return cache

    def save(self, directory: Path) -> None:
        """Write each document as ``<quoted DID>.json``, to be used offline later."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        for did, document in self._documents.items():
            (target / f"{quote(did, safe='')}.json").write_text(json.dumps(document, indent=2), encoding="utf-8")

    def __contains__(self, did: object) -> bool:
        return did in self._documents


def resolve_verification_method(
    vm: str, documents: DidDocumentCache | Iterable[Mapping[str, Any]] | None = None
) -> ResolvedKey:
    """Resolve a verification method offline: did:key locally, did:web from the given documents."""
    cache = documents if isinstance(documents, DidDocumentCache) else DidDocumentCache(documents or ())
    did, _ = split_verification_method(vm)
    if did.startswith("did:key:"):
        return resolve_did_key(vm)
    if did.startswith("did:web:"):
        document = cache.get(did)
        if document is None:
            raise DidResolutionError(
                f"no DID document for {did} was supplied (it would be at {did_web_url(did)}; "
                "did:web is never fetched during verification)"
            )
        return resolve_from_document(vm, document)
    if did.startswith("did:"):
        method = did.split(":")[1]
        raise DidResolutionError(f"DID method {method!r} of {vm!r} cannot be resolved offline")
    raise DidResolutionError(f"{vm!r} is not a DID; a key resolver must be supplied for it")
