"""Offline verification of an OpenBadgeCredential, as a report of named checks.

Each check is ``passed``, ``failed`` or ``skipped`` with a reason a person can read:

``json``        the input is a JSON object that claims to be a Verifiable Credential, within the
                limits of :mod:`credentials.inputs` (size, depth, values, blank nodes), without
                duplicate keys or lone surrogates
``schema``      it validates against the bundled OB 3.0 JSON Schema of its type (AchievementCredential
                or EndorsementCredential)
``contexts``    its contexts are bundled and hash-pinned, VC 2.0 first (then Open Badges)
``terms``       it is in compacted form with its contexts' terms (no IRI keys, no ``@nest``,
                ``@included``, ``@reverse``, value objects or inline contexts), every property and type
                is defined by those contexts (JSON-LD safe mode), and its signed RDF dataset holds
                exactly one top-level credential
``proof``       its ``eddsa-rdfc-2022`` DataIntegrityProof signature is valid
``issuer_key``  the proof's verification method is controlled by the issuer (did:key locally, did:web
                from a supplied did.json, anything else from a key resolver) or listed in the
                issuer's DID document, was not retired before the proof was made, and the issuer is
                in the trust list when one is given
``validity``    validFrom <= now <= validUntil
``status``      its status-list bit is not set in the list the entry names, signed by the issuer and
                within its validUntil/ttl (skipped when no status list is supplied)
``evidence``    its evidence is well formed (skipped when it carries none, unless required)

validFrom, validUntil, credentialStatus and the issuer are read from the signed RDF dataset (see
:mod:`credentials.dataset`), and must agree with the JSON. Nothing here uses the network.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, computed_field

from credentials import canon
from credentials.contexts import OB_V3, VC_V1, VC_V2, is_known_context
from credentials.dataset import CredentialView, StatusEntry, credential_view, status_list_json, status_list_ttl
from credentials.did import DidDocumentCache, ResolvedKey, resolve_verification_method, split_verification_method
from credentials.errors import CredentialError, DidResolutionError
from credentials.inputs import InputError, Scan, parse_json, scan_document
from credentials.proof import CRYPTOSUITE, PROOF_TYPE, proofs_of, verify_proof
from credentials.schema_check import SCHEMA_TITLES, schema_errors, schema_kinds
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
_OB_TYPES = frozenset({"OpenBadgeCredential", "AchievementCredential", "EndorsementCredential"})


@dataclass(frozen=True)
class FetchedStatusList:
    """A status list credential with the URL the verifier fetched it from: an entry naming that URL
    may use it even when the list's own ``id`` differs."""

    url: str
    document: Mapping[str, Any]


StatusListInput = Mapping[str, Any] | FetchedStatusList
NOT_A_CREDENTIAL = "the input is not a credential"


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
    # True/False when the verifier gave a trust list (is the issuer in it?), None otherwise.
    issuer_trusted: bool | None = None

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
            "issuer_trusted": self.issuer_trusted,
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
    """The parsed document, within the input limits.

    Raises :class:`credentials.inputs.InputError` for text that is not JSON, too large or too deep,
    has duplicate keys, or holds a lone surrogate.
    """
    parsed, scan = _load(raw)
    if scan.limits:
        raise InputError(scan.limits)
    return parsed


def _load(raw: Any) -> tuple[Any, Scan]:
    """The parsed document and what one scan of it found (limits, compact form).

    Raises :class:`credentials.inputs.InputError` for text that cannot be parsed at all.
    """
    parsed = parse_json(raw, limits=False) if isinstance(raw, str | bytes) else raw
    return parsed, scan_document(parsed)


def _parse_time(value: str | None) -> datetime | None:
    return _parse_datetime(value) if value is not None else None


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
        keys: _KeyLookup,
        now: datetime,
        status_lists: Sequence[StatusListInput] = (),
        require_evidence: bool = False,
        trusted_issuers: Collection[str] | None = None,
        scan: Scan | None = None,
    ) -> None:
        self.doc = doc
        self.scan = scan
        self.status_lists = status_lists
        self.keys = keys
        self.now = now
        self.require_evidence = require_evidence
        self.trusted_issuers = trusted_issuers
        self.results: dict[CheckName, Check] = {}
        self._canonical: tuple[dict[str, Any], str] | None = None
        # The credential's facts as signed (set by the terms check).
        self.view: CredentialView | None = None
        self.issuer_trusted: bool | None = None

    def _canonicalize(self, doc: dict[str, Any]) -> str:
        """canon.canonicalize, reusing the unsecured document's form computed by the terms check."""
        cached = self._canonical
        # The proof check passes a fresh copy of the same top-level values: compare by identity,
        # which is exact for that case and avoids a deep comparison of the whole credential.
        if cached is not None and doc.keys() == cached[0].keys() and all(doc[k] is cached[0][k] for k in doc):
            return cached[1]
        return canon.canonicalize(doc)

    def record(self, name: CheckName, outcome: Outcome, reason: str) -> None:
        self.results[name] = Check(name=name, outcome=outcome, reason=reason)

    def run(self) -> VerificationReport:
        if not self.check_json():
            for name in CHECK_ORDER[1:]:
                self.record(name, "skipped", NOT_A_CREDENTIAL)
            return self.report()
        self.check_schema()
        if self.check_contexts():
            self.check_terms()
        else:
            self.record("terms", "skipped", "contexts are not usable")
        keys = self.check_issuer_key()
        # The terms check leaves the signed data's view only when the document canonicalizes safely.
        self.check_proof(keys, self.view is not None)
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
            issuer=self.view.issuer if self.view is not None else issuer_id(doc),
            issuer_trusted=self.issuer_trusted,
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
        kinds = schema_kinds(_types(doc))
        if not kinds:
            self.record(
                "schema",
                "failed",
                f"no Open Badges 3.0 schema for type {_types(doc)}: this verifier checks OpenBadgeCredential, "
                "AchievementCredential and EndorsementCredential",
            )
            return
        for kind in kinds:
            errors = schema_errors(doc, kind)
            if errors:
                self.record("schema", "failed", f"{SCHEMA_TITLES[kind]}: " + "; ".join(errors))
                return
        self.record("schema", "passed", "valid against the " + " and the ".join(SCHEMA_TITLES[k] for k in kinds))

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
        bad = [c for c in items if not isinstance(c, str)]
        if bad:
            self.record("contexts", "failed", "an @context entry is not a URL (inline contexts are refused)")
            return False
        if set(_types(self.doc)) & _OB_TYPES and (len(items) < 2 or items[1] != OB_V3):
            self.record("contexts", "failed", f"an Open Badges credential must list {OB_V3} second")
            return False
        self.record("contexts", "passed", f"{len(urls)} bundled, hash-pinned context(s), VC 2.0 first")
        return True

    def check_terms(self) -> bool:
        # Only the compacted form is read: every other spelling of the same RDF could hide a property
        # from the checks below while the signature still holds.
        scan = self.scan or scan_document(self.doc)
        problem = scan.form or scan.limits
        if problem:
            self.record("terms", "failed", f"not in compacted form: {problem}")
            return False
        # Canonicalizing in safe mode is the terms check; the result is kept for the proof check, and
        # the facts the later checks use are read from it.
        unsecured = {k: v for k, v in self.doc.items() if k != "proof"}
        try:
            canonical, quads = canon.canonical_form(unsecured)
            raw_id = self.doc.get("id")
            self.view = credential_view(quads, raw_id if isinstance(raw_id, str) else None)
        except CredentialError as exc:
            self.record("terms", "failed", str(exc))
            return False
        self._canonical = (unsecured, canonical)
        self.record("terms", "passed", "compacted form; every property and type is defined by the contexts")
        return True

    def _supported_proofs(self) -> list[dict[str, Any]]:
        return [
            p for p in proofs_of(dict(self.doc)) if p.get("type") == PROOF_TYPE and p.get("cryptosuite") == CRYPTOSUITE
        ]

    def _signed_issuer(self) -> tuple[str | None, str | None]:
        """(issuer id as signed, problem): the JSON issuer must be the one in the signed data."""
        issuer = issuer_id(self.doc)
        if self.view is None:
            return issuer, None
        if self.view.issuer != issuer:
            return self.view.issuer, f"the issuer in the JSON ({issuer}) is not the signed issuer ({self.view.issuer})"
        return issuer, None

    def check_issuer_key(self) -> dict[int, ResolvedKey]:
        """Resolve each supported proof's key and check it belongs to the issuer; keys by proof index."""
        proofs = self._supported_proofs()
        if not proofs:
            self.record("issuer_key", "failed", f"no {PROOF_TYPE} with cryptosuite {CRYPTOSUITE}")
            return {}
        issuer, mismatch = self._signed_issuer()
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
            problem = mismatch or self._binding_problem(key, issuer, proof)
            if problem:
                self.record("issuer_key", "failed", problem)
                return keys
            reasons.append(self._binding_reason(key, issuer))
        trust_problem = self._trust_problem(issuer)
        if trust_problem:
            self.record("issuer_key", "failed", trust_problem)
            return keys
        self.record("issuer_key", "passed", "; ".join(reasons))
        return keys

    def _trust_problem(self, issuer: str | None) -> str | None:
        if self.trusted_issuers is None:
            return None
        self.issuer_trusted = issuer is not None and issuer in self.trusted_issuers
        if not self.issuer_trusted:
            return f"the issuer {issuer} is not in the trust list ({len(self.trusted_issuers)} trusted issuer(s))"
        return None

    def _issuer_lists_key(self, issuer: str, vm: str) -> bool:
        """The issuer's own DID document names ``vm`` (a key of another controller; the issuer's own
        keys are bound already) as an assertion method: the issuer trusts that key."""
        document = self.keys.documents.get(issuer)
        listed = document.get("assertionMethod") or [] if document is not None else []
        return vm in {e if isinstance(e, str) else e.get("id") for e in listed if isinstance(e, str | Mapping)}

    def _binding_problem(self, key: ResolvedKey, issuer: str | None, proof: Mapping[str, Any]) -> str | None:
        if issuer is None:
            return "the credential has no issuer id to bind the key to"
        if not _is_bindable(issuer):
            return (
                f"issuer id {issuer} is not a DID or URL, so nothing binds it to the signing key "
                f"{key.verification_method}: anyone could have signed it"
            )
        if key.controller != issuer and not self._issuer_lists_key(issuer, key.verification_method):
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
        if key.controller != issuer:
            return f"{key.verification_method} is listed by the issuer {issuer}'s DID document ({key.source}){state}"
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

    def _json_disagrees(self, key: str, signed: str | None) -> bool:
        raw = self.doc.get(key)
        return (raw if isinstance(raw, str) or raw is None else repr(raw)) != signed

    def check_validity(self) -> None:
        view = self.view
        if view is None:
            self.record("validity", "skipped", "the signed data cannot be read (see contexts/terms)")
            return
        for key, signed in (("validFrom", view.valid_from), ("validUntil", view.valid_until)):
            if self._json_disagrees(key, signed):
                self.record("validity", "failed", f"{key} in the JSON is not the signed {key} ({signed!r})")
                return
        start = _parse_time(view.valid_from)
        if start is None:
            self.record("validity", "failed", "validFrom is missing or not a date-time with a timezone")
            return
        if self.now < start:
            self.record("validity", "failed", f"not valid yet: validFrom {view.valid_from} is after now")
            return
        if view.valid_until is None:
            self.record("validity", "passed", f"valid from {view.valid_from}, no expiry")
            return
        end = _parse_time(view.valid_until)
        if end is None:
            self.record("validity", "failed", "validUntil is not a date-time with a timezone")
            return
        if self.now > end:
            self.record("validity", "failed", f"expired: validUntil {view.valid_until} is before now")
            return
        self.record("validity", "passed", f"valid from {view.valid_from} until {view.valid_until}")

    def check_status(self) -> None:
        view = self.view
        if view is None:
            self.record("status", "skipped", "the signed data cannot be read (see contexts/terms)")
            return
        if not view.statuses:
            if self.doc.get("credentialStatus") is not None:
                self.record("status", "failed", "credentialStatus in the JSON is not in the signed data")
                return
            self.record("status", "skipped", "the credential has no credentialStatus")
            return
        if not self.status_lists:
            urls = ", ".join(e.list_credential or f"an entry of type {e.type}" for e in view.statuses)
            self.record("status", "skipped", f"no status list supplied (the issuer publishes it at {urls})")
            return
        reasons = []
        for entry in view.statuses:
            outcome, reason = self._entry_status(entry)
            if outcome != "passed":
                self.record("status", outcome, reason)
                return
            reasons.append(reason)
        self.record("status", "passed", "; ".join(reasons))

    def _entry_status(self, entry: StatusEntry) -> tuple[Outcome, str]:
        url = entry.list_credential
        if url is None:
            return "failed", "credentialStatus names no statusListCredential"
        candidates = [item for item in self.status_lists if _list_source(item) == url or _list_id(item) == url]
        if not candidates:
            return "failed", f"none of the supplied status lists is {url}: a list is only used for the entry naming it"
        fetched_from = _list_source(candidates[0])
        checked = self._checked_list(_list_document(candidates[0]))
        if isinstance(checked, str):
            return "failed", f"the status list {url} cannot be trusted: {checked}"
        result = read_status(checked, entry.as_json(), fetched_from=fetched_from)
        return ("passed" if result.state == "ok" else "failed"), result.reason

    def _checked_list(self, status_list: Mapping[str, Any]) -> dict[str, Any] | str:
        """The list's signed facts shaped like its JSON (for ``read_status``), or why the list cannot
        be trusted: it must be within the input limits, in compacted form, signed by the
        credential's issuer, and current (validUntil, ttl)."""
        nested = _Verification(status_list, keys=self.keys, now=self.now)
        limits = scan_document(status_list).limits
        if limits:
            return limits
        if not nested.check_json() or not nested.check_contexts() or not nested.check_terms():
            return next(c.reason for c in nested.results.values() if c.outcome == "failed")
        view = nested.view
        assert view is not None and self.view is not None  # both terms checks passed
        if view.issuer != self.view.issuer:
            return f"it is issued by {view.issuer}, not by the credential's issuer {self.view.issuer}"
        nested.check_proof(nested.check_issuer_key(), True)
        nested.check_validity()
        for name in ("issuer_key", "proof", "validity"):
            if nested.results[name].outcome != "passed":
                return nested.results[name].reason
        try:
            ttl_problem = _ttl_problem(view, self.now)
            return ttl_problem or status_list_json(view)
        except CredentialError as exc:
            return str(exc)

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


def _ttl_problem(view: CredentialView, now: datetime) -> str | None:
    """A list past its ``ttl`` (milliseconds after its validFrom) is stale. Raises
    :class:`credentials.dataset.DatasetError` for a ttl that is not an integer."""
    ttl = status_list_ttl(view)
    start = _parse_time(view.valid_from)
    if ttl is None or start is None:
        return None
    if now > start + timedelta(milliseconds=ttl):
        return f"stale: its ttl of {ttl} ms after validFrom {view.valid_from} has passed"
    return None


def _list_document(item: StatusListInput) -> Mapping[str, Any]:
    return item.document if isinstance(item, FetchedStatusList) else item


def _list_source(item: StatusListInput) -> str | None:
    return item.url if isinstance(item, FetchedStatusList) else None


def _list_id(item: StatusListInput) -> Any:
    return _list_document(item).get("id")


def _unusable(reason: str) -> VerificationReport:
    """The report of input that is not a credential at all: ``json`` failed, the rest skipped."""
    skipped = [Check(name=name, outcome="skipped", reason=NOT_A_CREDENTIAL) for name in CHECK_ORDER[1:]]
    return VerificationReport(checks=[Check(name="json", outcome="failed", reason=reason), *skipped])


def _as_lists(status_list: StatusListInput | Sequence[StatusListInput] | None) -> tuple[StatusListInput, ...]:
    if status_list is None:
        return ()
    if isinstance(status_list, Mapping | FetchedStatusList):
        return (status_list,)
    return tuple(status_list)


def verify_credential(
    doc: Any,
    *,
    status_list: StatusListInput | Sequence[StatusListInput] | None = None,
    did_documents: DidDocumentCache | Iterable[Mapping[str, Any]] | None = None,
    key_resolver: KeyResolver | None = None,
    now: datetime | None = None,
    require_evidence: bool = False,
    trusted_issuers: Collection[str] | None = None,
) -> VerificationReport:
    """Verify a credential fully offline and report every check.

    ``doc``: the credential (a dict, or its JSON text). ``status_list``: the signed status list
    credential(s) the verifier obtained, each a document or a :class:`FetchedStatusList` (the
    document with the URL it came from). ``did_documents``: did.json documents for did:web issuers.
    ``key_resolver``: ``verification method -> key`` for issuers that are not DIDs (or a
    :meth:`credentials.keys.Keystore.resolve`, which also knows retired keys). ``trusted_issuers``:
    when given, only these issuer ids pass ``issuer_key`` (and the report says whether it was one).

    Never raises for bad input: unusable input is a report whose ``json`` check failed.
    """
    try:
        parsed, scan = _load(doc)
    except CredentialError as exc:
        return _unusable(str(exc))
    if scan.limits:
        return _unusable(scan.limits)
    return _Verification(
        parsed,
        status_lists=_as_lists(status_list),
        keys=_KeyLookup(did_documents, key_resolver),
        now=now or datetime.now(UTC),
        require_evidence=require_evidence,
        trusted_issuers=trusted_issuers,
        scan=scan,
    ).run()
