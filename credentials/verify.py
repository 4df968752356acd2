"""Offline verification of an OpenBadgeCredential, as a report of named checks.

Each check is ``passed``, ``failed`` or ``skipped`` with a reason a person can read:

``json``        the input is a JSON object that claims to be a Verifiable Credential
``schema``      it validates against the bundled OB 3.0 JSON Schema
``contexts``    its contexts are bundled and hash-pinned, VC 2.0 first (then Open Badges)
``terms``       every property and type is defined by those contexts (JSON-LD safe mode)
``proof``       its ``eddsa-rdfc-2022`` DataIntegrityProof signature is valid
``issuer_key``  the proof's verification method belongs to the issuer (did:key locally, did:web from
                a supplied did.json, anything else from a key resolver) and was not retired before
                the proof was made
``validity``    validFrom <= now <= validUntil
``status``      its status-list bit is not set (skipped when no status list is supplied)
``evidence``    its evidence is well formed (skipped when it carries none, unless required)

Nothing here uses the network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, computed_field

from credentials import canon
from credentials.contexts import OB_V3, VC_V1, VC_V2, is_known_context
from credentials.did import DidDocumentCache, ResolvedKey, resolve_verification_method, split_verification_method
from credentials.errors import CredentialError, DidResolutionError
from credentials.proof import CRYPTOSUITE, PROOF_TYPE, proofs_of, verify_proof
from credentials.schema_check import schema_errors
from credentials.status import read_status

CheckName = Literal["json", "schema", "contexts", "terms", "proof", "issuer_key", "validity", "status", "evidence"]
CHECK_ORDER: tuple[CheckName, ...] = (
    "json",
    "schema",
    "contexts",
    "terms",
    "proof",
    "issuer_key",
    "validity",
    "status",
    "evidence",
)
Outcome = Literal["passed", "failed", "skipped"]
KeyResolver = Callable[[str], ResolvedKey | Ed25519PublicKey]
_OB_TYPES = frozenset({"OpenBadgeCredential", "AchievementCredential"})


class Check(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: CheckName
    outcome: Outcome
    reason: str


class VerificationReport(BaseModel):
    """The result of :func:`verify_credential`. ``valid`` means no check failed."""

    checks: list[Check]
    credential_id: str | None = None
    issuer: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def valid(self) -> bool:
        return self.usable and not self.failed

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verified(self) -> bool:
        """Same as :attr:`valid` (the name some callers use)."""
        return self.valid

    @property
    def usable(self) -> bool:
        """False when the input is not a credential at all (not JSON, not a VC)."""
        return self.check("json").outcome == "passed"

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.outcome == "failed"]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def errors(self) -> list[str]:
        """``"<check>: <reason>"`` of every failed check."""
        return [f"{c.name}: {c.reason}" for c in self.failed]

    def check(self, name: CheckName) -> Check:
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "credential_id": self.credential_id,
            "issuer": self.issuer,
            "checks": [c.model_dump() for c in self.checks],
            "failed": [c.name for c in self.failed],
        }


# ------------------------------------------------------------------------------------------ helpers


def _types(node: Any) -> list[str]:
    raw = node.get("type", []) if isinstance(node, Mapping) else []
    items = raw if isinstance(raw, list) else [raw]
    return [t for t in items if isinstance(t, str)]


def issuer_id(doc: Mapping[str, Any]) -> str | None:
    issuer = doc.get("issuer")
    if isinstance(issuer, str):
        return issuer
    if isinstance(issuer, Mapping) and isinstance(issuer.get("id"), str):
        return str(issuer["id"])
    return None


def _parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _is_bindable(identifier: str) -> bool:
    """Issuer ids a key can be bound to: DIDs and URLs (a urn:uuid names nothing resolvable)."""
    return identifier.startswith(("did:", "https://", "http://"))


def load_document(raw: str | bytes | Mapping[str, Any]) -> Any:
    if isinstance(raw, str | bytes):
        return json.loads(raw)
    return raw


class _KeyLookup:
    """Resolves verification methods offline, combining DID resolution and a caller's resolver."""

    def __init__(
        self, did_documents: DidDocumentCache | Iterable[Mapping[str, Any]] | None, key_resolver: KeyResolver | None
    ) -> None:
        self.documents = (
            did_documents if isinstance(did_documents, DidDocumentCache) else DidDocumentCache(did_documents or ())
        )
        self.key_resolver = key_resolver

    def _from_resolver(self, vm: str) -> tuple[ResolvedKey | None, str]:
        """The caller's answer for ``vm``, or None with why not."""
        if self.key_resolver is None:
            return None, "no key resolver was supplied"
        try:
            found = self.key_resolver(vm)
        except Exception as exc:  # a resolver may fail in any way; that means "unknown key"
            return None, f"the key resolver does not know it ({exc})"
        if isinstance(found, ResolvedKey):
            return found, ""
        controller, _ = split_verification_method(vm)
        return ResolvedKey(verification_method=vm, controller=controller, public_key=found, source="key resolver"), ""

    def resolve(self, vm: str) -> ResolvedKey:
        supplied, why_not = self._from_resolver(vm)
        if not vm.startswith("did:"):
            if supplied is not None:
                return supplied
            if ":" not in vm:
                raise DidResolutionError(f"verification method {vm!r} is not a URL or DID")
            raise DidResolutionError(
                f"verification method {vm!r} is not a DID, so only a key resolver can vouch for it "
                f"(keys are never fetched): {why_not}"
            )
        try:
            resolved = resolve_verification_method(vm, self.documents)
        except DidResolutionError:
            if supplied is not None:
                return supplied
            raise
        if supplied is None:
            return resolved
        if supplied.public_key_multibase != resolved.public_key_multibase:
            raise DidResolutionError(f"the key resolver and the DID document disagree about {vm!r}")
        return supplied  # carries lifecycle state (e.g. from a keystore)


# -------------------------------------------------------------------------------------------- checks


class _Verification:
    def __init__(
        self,
        doc: Any,
        *,
        status_lists: Sequence[Mapping[str, Any]],
        keys: _KeyLookup,
        now: datetime,
        require_evidence: bool,
    ) -> None:
        self.doc = doc
        self.status_lists = status_lists
        self.keys = keys
        self.now = now
        self.require_evidence = require_evidence
        self.results: dict[CheckName, Check] = {}
        self._canonical: tuple[dict[str, Any], str] | None = None

    def _canonicalize(self, doc: dict[str, Any]) -> str:
        """canon.canonicalize, reusing the unsecured document's form computed by the terms check."""
        if self._canonical is not None and doc == self._canonical[0]:
            return self._canonical[1]
        return canon.canonicalize(doc)

    def record(self, name: CheckName, outcome: Outcome, reason: str) -> None:
        self.results[name] = Check(name=name, outcome=outcome, reason=reason)

    def run(self) -> VerificationReport:
        if not self.check_json():
            for name in CHECK_ORDER[1:]:
                self.record(name, "skipped", "the input is not a credential")
            return self.report()
        self.check_schema()
        contexts_ok = self.check_contexts()
        terms_ok = self.check_terms() if contexts_ok else self._skip_terms()
        keys = self.check_issuer_key()
        self.check_proof(keys, contexts_ok and terms_ok)
        self.check_validity()
        self.check_status()
        self.check_evidence()
        return self.report()

    def report(self) -> VerificationReport:
        doc = self.doc if isinstance(self.doc, Mapping) else {}
        credential_id = doc.get("id") if isinstance(doc.get("id"), str) else None
        return VerificationReport(
            checks=[self.results[name] for name in CHECK_ORDER],
            credential_id=credential_id,
            issuer=issuer_id(doc),
        )

    def check_json(self) -> bool:
        doc = self.doc
        if not isinstance(doc, Mapping):
            self.record("json", "failed", f"a credential is a JSON object, not {type(doc).__name__}")
            return False
        if "@context" not in doc:
            self.record("json", "failed", "no @context: not a JSON-LD Verifiable Credential")
            return False
        if "VerifiableCredential" not in _types(doc):
            self.record("json", "failed", "type does not include VerifiableCredential")
            return False
        self.record("json", "passed", f"a Verifiable Credential of type {', '.join(_types(doc))}")
        return True

    def check_schema(self) -> None:
        # A single proof object is as valid as a one-element array (VC Data Integrity allows both);
        # the OB schema only knows the array form.
        doc = dict(self.doc)
        if isinstance(doc.get("proof"), Mapping):
            doc["proof"] = [doc["proof"]]
        errors = schema_errors(doc)
        if errors:
            self.record("schema", "failed", "; ".join(errors))
        else:
            self.record("schema", "passed", "valid against the Open Badges 3.0 JSON Schema")

    def check_contexts(self) -> bool:
        raw = self.doc.get("@context")
        items = raw if isinstance(raw, list) else [raw]
        urls = [c for c in items if isinstance(c, str)]
        if VC_V1 in urls:
            self.record(
                "contexts",
                "failed",
                f"uses the VC 1.1 context {VC_V1}; this verifier supports VC 2.0 / Open Badges 3.0 credentials",
            )
            return False
        if not items or items[0] != VC_V2:
            self.record("contexts", "failed", f"the first @context must be {VC_V2}, got {items[0]!r}")
            return False
        unknown = [u for u in urls if not is_known_context(u)]
        if unknown:
            self.record(
                "contexts", "failed", f"unknown context {unknown[0]!r}: only bundled, hash-pinned contexts are used"
            )
            return False
        bad = [c for c in items if not isinstance(c, str | dict)]
        if bad:
            self.record("contexts", "failed", "an @context entry is neither a URL nor an object")
            return False
        if set(_types(self.doc)) & _OB_TYPES and (len(items) < 2 or items[1] != OB_V3):
            self.record("contexts", "failed", f"an Open Badges credential must list {OB_V3} second")
            return False
        inline = len(items) - len(urls)
        note = f" and {inline} inline context(s)" if inline else ""
        self.record("contexts", "passed", f"{len(urls)} bundled, hash-pinned context(s){note}, VC 2.0 first")
        return True

    def _skip_terms(self) -> bool:
        self.record("terms", "skipped", "contexts are not usable")
        return False

    def check_terms(self) -> bool:
        # Canonicalizing in safe mode is the terms check; the result is kept for the proof check.
        unsecured = {k: v for k, v in self.doc.items() if k != "proof"}
        try:
            self._canonical = (unsecured, canon.canonicalize(unsecured))
        except CredentialError as exc:
            self.record("terms", "failed", str(exc))
            return False
        self.record("terms", "passed", "every property and type is defined by the contexts")
        return True

    def _supported_proofs(self) -> list[dict[str, Any]]:
        return [
            p for p in proofs_of(dict(self.doc)) if p.get("type") == PROOF_TYPE and p.get("cryptosuite") == CRYPTOSUITE
        ]

    def check_issuer_key(self) -> dict[int, ResolvedKey]:
        """Resolve each supported proof's key and check it belongs to the issuer; keys by proof index."""
        proofs = self._supported_proofs()
        if not proofs:
            self.record("issuer_key", "failed", f"no {PROOF_TYPE} with cryptosuite {CRYPTOSUITE}")
            return {}
        issuer = issuer_id(self.doc)
        keys: dict[int, ResolvedKey] = {}
        reasons: list[str] = []
        for index, proof in enumerate(proofs):
            vm = proof.get("verificationMethod")
            if not isinstance(vm, str):
                self.record("issuer_key", "failed", "a proof has no verificationMethod")
                return {}
            try:
                key = self.keys.resolve(vm)
            except CredentialError as exc:
                self.record("issuer_key", "failed", str(exc))
                return {}
            # The signature can still be checked with a resolved key that fails the binding.
            keys[index] = key
            problem = self._binding_problem(key, issuer, proof)
            if problem:
                self.record("issuer_key", "failed", problem)
                return keys
            reasons.append(self._binding_reason(key, issuer))
        self.record("issuer_key", "passed", "; ".join(reasons))
        return keys

    def _binding_problem(self, key: ResolvedKey, issuer: str | None, proof: Mapping[str, Any]) -> str | None:
        if issuer is None:
            return "the credential has no issuer id to bind the key to"
        if _is_bindable(issuer) and key.controller != issuer:
            return f"verification method {key.verification_method} is controlled by {key.controller}, not the issuer {issuer}"
        if key.state == "retired":
            created = _parse_datetime(proof.get("created"))
            if created is None or key.retired_at is None or created > key.retired_at:
                return (
                    f"key {key.verification_method} was retired at {key.retired_at}; "
                    f"the proof was created {proof.get('created')!r}, after that"
                )
        return None

    def _binding_reason(self, key: ResolvedKey, issuer: str | None) -> str:
        state = (
            f" (retired {key.retired_at:%Y-%m-%d}, after this proof)"
            if key.state == "retired" and key.retired_at
            else ""
        )
        if issuer is not None and not _is_bindable(issuer):
            return (
                f"issuer id {issuer} is not a DID or URL, so nothing binds it to a key; the proof's key "
                f"{key.verification_method} was resolved from {key.source}{state}"
            )
        return f"{key.verification_method} belongs to the issuer {issuer} ({key.source}){state}"

    def check_proof(self, keys: dict[int, ResolvedKey], canonicalizable: bool) -> None:
        proofs = self._supported_proofs()
        if not proofs_of(dict(self.doc)):
            self.record("proof", "failed", "the credential has no proof")
            return
        if not proofs:
            self.record("proof", "failed", f"no {PROOF_TYPE} with cryptosuite {CRYPTOSUITE}")
            return
        if not canonicalizable:
            self.record("proof", "skipped", "cannot canonicalize the credential safely (see contexts/terms)")
            return
        if len(keys) != len(proofs):
            self.record("proof", "skipped", "the verification key could not be resolved (see issuer_key)")
            return
        reasons = []
        for index, proof in enumerate(proofs):
            try:
                result = verify_proof(dict(self.doc), proof, keys[index].public_key, canonicalizer=self._canonicalize)
            except CredentialError as exc:
                self.record("proof", "failed", str(exc))
                return
            if not result.ok:
                self.record("proof", "failed", result.reason)
                return
            reasons.append(result.reason)
        ignored = len(proofs_of(dict(self.doc))) - len(proofs)
        note = f" ({ignored} proof(s) of other types ignored)" if ignored else ""
        self.record("proof", "passed", "; ".join(reasons) + note)

    def check_validity(self) -> None:
        start = _parse_datetime(self.doc.get("validFrom"))
        if start is None:
            self.record("validity", "failed", "validFrom is missing or not a date-time with a timezone")
            return
        now = self.now
        if now < start:
            self.record("validity", "failed", f"not valid yet: validFrom {self.doc['validFrom']} is after now")
            return
        raw_end = self.doc.get("validUntil")
        if raw_end is not None:
            end = _parse_datetime(raw_end)
            if end is None:
                self.record("validity", "failed", "validUntil is not a date-time with a timezone")
                return
            if now > end:
                self.record("validity", "failed", f"expired: validUntil {raw_end} is before now")
                return
            self.record("validity", "passed", f"valid from {self.doc['validFrom']} until {raw_end}")
            return
        self.record("validity", "passed", f"valid from {self.doc['validFrom']}, no expiry")

    def check_status(self) -> None:
        entry = self.doc.get("credentialStatus")
        if entry is None:
            self.record("status", "skipped", "the credential has no credentialStatus")
            return
        if not isinstance(entry, Mapping):
            self.record("status", "failed", "credentialStatus is not an object")
            return
        url = entry.get("statusListCredential")
        if not self.status_lists:
            self.record("status", "skipped", f"no status list supplied (the issuer publishes it at {url})")
            return
        matching = [s for s in self.status_lists if s.get("id") == url]
        candidates = matching or (list(self.status_lists) if len(self.status_lists) == 1 else [])
        if not candidates:
            self.record("status", "failed", f"none of the supplied status lists is {url}")
            return
        status_list = candidates[0]
        problem = self._status_list_problem(status_list)
        if problem:
            self.record("status", "failed", f"the status list cannot be trusted: {problem}")
            return
        result = read_status(dict(status_list), dict(entry))
        self.record("status", "passed" if result.state == "ok" else "failed", result.reason)

    def _status_list_problem(self, status_list: Mapping[str, Any]) -> str | None:
        """A status list must be signed by the credential's issuer and be within its validity."""
        if issuer_id(status_list) != issuer_id(self.doc):
            return f"it is issued by {issuer_id(status_list)}, not by {issuer_id(self.doc)}"
        nested = _Verification(status_list, status_lists=(), keys=self.keys, now=self.now, require_evidence=False)
        if not nested.check_contexts() or not nested.check_terms():
            return nested.results.get("terms", nested.results["contexts"]).reason
        keys = nested.check_issuer_key()
        nested.check_proof(keys, True)
        for name in ("issuer_key", "proof"):
            if nested.results[name].outcome != "passed":
                return nested.results[name].reason
        nested.check_validity()
        if nested.results["validity"].outcome != "passed":
            return nested.results["validity"].reason
        return None

    def check_evidence(self) -> None:
        evidence = self.doc.get("evidence")
        if evidence is None:
            outcome: Outcome = "failed" if self.require_evidence else "skipped"
            self.record("evidence", outcome, "the credential carries no evidence")
            return
        items = evidence if isinstance(evidence, list) else [evidence]
        if not items:
            self.record("evidence", "failed", "evidence is present but empty")
            return
        for position, item in enumerate(items):
            if not isinstance(item, Mapping):
                self.record("evidence", "failed", f"evidence[{position}] is not an object")
                return
            if "Evidence" not in _types(item):
                self.record("evidence", "failed", f"evidence[{position}] has type {item.get('type')!r}, not Evidence")
                return
            item_id = item.get("id")
            if item_id is not None and not (isinstance(item_id, str) and ":" in item_id):
                self.record("evidence", "failed", f"evidence[{position}].id {item_id!r} is not an IRI")
                return
            if item_id is None and not item.get("narrative"):
                self.record("evidence", "failed", f"evidence[{position}] has neither an id nor a narrative")
                return
        self.record("evidence", "passed", f"{len(items)} evidence item(s), each with an IRI or a narrative")


def verify_credential(
    doc: Any,
    *,
    status_list: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    did_documents: DidDocumentCache | Iterable[Mapping[str, Any]] | None = None,
    key_resolver: KeyResolver | None = None,
    now: datetime | None = None,
    require_evidence: bool = False,
) -> VerificationReport:
    """Verify a credential fully offline and report every check.

    ``doc``: the credential (a dict, or its JSON text). ``status_list``: the signed status list
    credential(s) the verifier obtained. ``did_documents``: did.json documents for did:web issuers.
    ``key_resolver``: ``verification method -> key`` for issuers that are not DIDs (or a
    :meth:`credentials.keys.Keystore.resolve`, which also knows retired keys).
    """
    try:
        parsed = load_document(doc)
    except (ValueError, UnicodeDecodeError) as exc:
        report = _Verification(
            None,
            status_lists=(),
            keys=_KeyLookup(None, None),
            now=now or datetime.now(UTC),
            require_evidence=require_evidence,
        )
        report.record("json", "failed", f"not JSON: {exc}")
        for name in CHECK_ORDER[1:]:
            report.record(name, "skipped", "the input is not a credential")
        return report.report()
    lists: Sequence[Mapping[str, Any]]
    if status_list is None:
        lists = ()
    elif isinstance(status_list, Mapping):
        lists = (status_list,)
    else:
        lists = tuple(status_list)
    return _Verification(
        parsed,
        status_lists=lists,
        keys=_KeyLookup(did_documents, key_resolver),
        now=now or datetime.now(UTC),
        require_evidence=require_evidence,
    ).run()
