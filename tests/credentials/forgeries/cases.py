"""Forgeries generated from freshly issued credentials, for every verifier front end.

Each case is what an attacker holding a project-issued credential (and the issuer's published status
lists) can make without the issuer's key: the issuer's signature stays intact wherever the class
allows it (hidden fields keep the signed RDF dataset unchanged; the generator checks that). Each says
the verdict it must get and the check that must fail.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credentials.contexts import OB_V3, VC_V2
from credentials.did import did_key, did_key_verification_method
from credentials.models import Profile
from credentials.proof import Ed25519Signer, Signer, sign_credential
from credentials.status import StatusList
from tests.unit.credentials.credsamples import sample_credential

Verdict = Literal["valid", "invalid", "unusable"]
EXIT_CODES: dict[Verdict, int] = {"valid": 0, "invalid": 1, "unusable": 2}
CRED = "https://www.w3.org/2018/credentials#"
XSD_DATETIME = "http://www.w3.org/2001/XMLSchema#dateTime"
NOW = datetime.now(UTC).replace(microsecond=0)
PAST = NOW - timedelta(days=30)


@dataclass(frozen=True)
class Forgery:
    """One input, its verdict, and the check whose failure must be named."""

    name: str
    kind: str
    body: bytes
    verdict: Verdict
    failed: str | None
    # Status lists the verifier is given, as (url it was fetched from or None, document).
    lists: tuple[tuple[str | None, dict[str, Any]], ...] = ()
    # Whether Digital Bazaar's verifier is a reliable oracle here (it reads validity from JSON keys
    # and checks no status, issuer binding or input limits, so only some verdicts are its to give).
    oracle: bool = False
    # Whether the forged document has the same signed dataset as the issuer's (hidden-field classes).
    same_dataset_as: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def document(self) -> Any:
        return json.loads(self.body)


@dataclass
class Issuer:
    """What the issuer has: its id, its signer, and its revocation list published at ``list_url``."""

    id: str
    signer: Signer
    status_list: StatusList
    # Publishes the list credential (signed); the service passes its own publisher.
    publish: Callable[..., dict[str, Any]] | None = None
    # Called after an index is allocated or revoked (the service writes its list back to the store).
    changed: Callable[[StatusList], None] | None = None

    def _changed(self) -> None:
        if self.changed is not None:
            self.changed(self.status_list)

    def sign(self, document: dict[str, Any]) -> dict[str, Any]:
        return sign_credential(document, self.signer)

    def list_credential(self, **kwargs: Any) -> dict[str, Any]:
        if self.publish is not None:
            return self.publish(**kwargs)
        return self.status_list.issue_credential(self.id, self.signer, **kwargs)

    def credential(self, *, valid_until: datetime | None = None, status: bool = True) -> dict[str, Any]:
        entry = self.status_list.allocate_entry() if status else None
        self._changed()
        unsigned = sample_credential(
            issuer=Profile(id=self.id, name="Example Grader"),
            status=entry,
            valid_until=valid_until,
            credential_id=f"urn:uuid:{uuid.uuid4()}",
        )
        return self.sign(unsigned)

    def revoke(self, credential: dict[str, Any]) -> None:
        self.status_list.revoke(int(credential["credentialStatus"]["statusListIndex"]))
        self._changed()

    def revoked(self) -> dict[str, Any]:
        credential = self.credential()
        self.revoke(credential)
        return credential


def local_issuer() -> Issuer:
    """A did:key issuer with its own revocation list, as `grader keys init` makes."""
    key = Ed25519PrivateKey.generate()
    issuer = did_key(key.public_key())
    signer = Ed25519Signer(key, did_key_verification_method(key.public_key()))
    return Issuer(issuer, signer, StatusList.create(f"https://grader.example.edu/status/{uuid.uuid4().hex}"))


def _text(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def _nest(document: dict[str, Any], key: str) -> dict[str, Any]:
    forged = {k: v for k, v in document.items() if k != key}
    forged["@nest"] = {key: document[key]}
    return forged


def _full_iri(document: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    forged = {k: v for k, v in document.items() if k != key}
    forged[CRED + key] = value
    return forged


def _inject(body: bytes, text: str) -> bytes:
    """``text`` inserted right after the opening brace (before every original key)."""
    assert body.startswith(b"{")
    return b"{" + text.encode("utf-8") + b"," + body[1:]


def _own_list(issuer: Issuer, **kwargs: Any) -> tuple[str | None, dict[str, Any]]:
    return (None, issuer.list_credential(**kwargs))


def hidden_field_cases(issuer: Issuer) -> list[Forgery]:
    """Expiry and revocation moved where only the RDF sees them (same signed dataset)."""
    expired = issuer.credential(valid_until=PAST)
    revoked = issuer.revoked()
    own = _own_list(issuer)
    until = {"@value": expired["validUntil"], "@type": XSD_DATETIME}
    status_iri = {**revoked["credentialStatus"]}
    return [
        Forgery("expiry-in-@nest", "hidden fields", _text(_nest(expired, "validUntil")), "invalid", "terms",
                same_dataset_as=expired),
        Forgery("expiry-as-full-iri", "hidden fields", _text(_full_iri(expired, "validUntil", until)), "invalid",
                "terms", same_dataset_as=expired),
        Forgery("status-in-@nest", "hidden fields", _text(_nest(revoked, "credentialStatus")), "invalid", "terms",
                lists=(own,), same_dataset_as=revoked),
        Forgery("status-as-full-iri", "hidden fields",
                _text(_full_iri(revoked, "credentialStatus", status_iri)), "invalid", "terms", lists=(own,),
                same_dataset_as=revoked),
        Forgery("validfrom-value-object", "hidden fields",
                _text({**expired, "validFrom": {"@value": expired["validFrom"], "@type": XSD_DATETIME}}),
                "invalid", "terms", same_dataset_as=expired),
        Forgery("expiry-in-@included", "hidden fields",
                _text({**{k: v for k, v in expired.items() if k != "validUntil"},
                       "@included": [{"id": "urn:uuid:00000000-0000-4000-8000-000000000000"}]}),
                "invalid", "terms"),
        Forgery("inline-context-alias", "hidden fields",
                _text({**{k: v for k, v in expired.items() if k != "validUntil"},
                       "@context": [VC_V2, OB_V3, {"expiry": {"@id": CRED + "validUntil", "@type": XSD_DATETIME}}],
                       "expiry": expired["validUntil"]}),
                "invalid", "contexts"),
    ]


def status_list_cases(issuer: Issuer) -> list[Forgery]:
    """Revoked credentials shown with lists that are not the one their entry names, or are stale."""
    # Lists published while the credential was still good (its bit clear), replayed after revocation.
    revoked = issuer.credential()
    body = _text(revoked)
    other = StatusList.create(issuer.status_list.url + "-other")
    other_doc = other.issue_credential(issuer.id, issuer.signer)
    stale = issuer.list_credential(valid_from=PAST - timedelta(days=1), valid_until=PAST)
    stale_hidden = sign_credential(
        issuer.status_list.to_credential(issuer.id, valid_from=PAST - timedelta(days=1), valid_until=PAST),
        issuer.signer,
    )
    stale_hidden = _nest(stale_hidden, "validUntil")
    ttl_doc = issuer.status_list.to_credential(issuer.id, valid_from=PAST)
    ttl_doc["credentialSubject"]["ttl"] = 60_000
    ttl_list = sign_credential(ttl_doc, issuer.signer)
    suspension = StatusList(
        issuer.status_list.url, "suspension", issuer.status_list.size,
        bytearray(issuer.status_list.size // 8), bytearray(issuer.status_list.size // 8),
    ).issue_credential(issuer.id, issuer.signer)
    stranger = local_issuer()
    foreign = StatusList(issuer.status_list.url, "revocation", issuer.status_list.size,
                         bytearray(issuer.status_list.size // 8), bytearray(issuer.status_list.size // 8))
    foreign_doc = foreign.issue_credential(stranger.id, stranger.signer)
    issuer.revoke(revoked)
    return [
        Forgery("revoked-own-list", "revoked", body, "invalid", "status", lists=(_own_list(issuer),), oracle=True),
        Forgery("other-list-of-the-issuer", "other lists", body, "invalid", "status", lists=((None, other_doc),)),
        Forgery("other-list-claimed-fetched-elsewhere", "other lists", body, "invalid", "status",
                lists=((other.url, other_doc),)),
        Forgery("stale-list", "stale lists", body, "invalid", "status", lists=((None, stale),), oracle=True),
        Forgery("stale-list-expiry-in-@nest", "stale lists", body, "invalid", "status",
                lists=((None, stale_hidden),)),
        Forgery("stale-list-ttl", "stale lists", body, "invalid", "status", lists=((None, ttl_list),)),
        Forgery("list-of-another-purpose", "other lists", body, "invalid", "status", lists=((None, suspension),),
                oracle=True),
        Forgery("list-signed-by-someone-else", "other lists", body, "invalid", "status",
                lists=((None, foreign_doc),)),
    ]


def issuer_cases(issuer: Issuer) -> list[Forgery]:
    """Credentials whose issuer no key is bound to."""
    key = Ed25519PrivateKey.generate()
    signer = Ed25519Signer(key, did_key_verification_method(key.public_key()))
    unsigned = sample_credential(
        issuer=Profile(id=f"urn:uuid:{uuid.uuid4()}", name="Nobody"), credential_id=f"urn:uuid:{uuid.uuid4()}"
    )
    other_did = sample_credential(issuer=Profile(id=issuer.id, name="Example Grader"))
    return [
        Forgery("urn-issuer-any-did-key", "unbound issuer", _text(sign_credential(unsigned, signer)), "invalid",
                "issuer_key", oracle=True),
        Forgery("issuer-signed-by-another-key", "unbound issuer", _text(sign_credential(other_did, signer)),
                "invalid", "issuer_key", oracle=True),
    ]


def parser_cases(issuer: Issuer) -> list[Forgery]:
    """Inputs that parsers read differently, or that exhaust a naive verifier."""
    original = issuer.credential(valid_until=NOW + timedelta(days=365))
    body = _text(original)
    deep = b'{"@context": "' + VC_V2.encode() + b'", "type": ["VerifiableCredential"], "name": ' + b"[" * 10_000
    deep += b'"x"' + b"]" * 10_000 + b"}"
    blank = copy.deepcopy(original)
    blank["credentialSubject"]["achievement"]["alignment"] = [
        {"type": ["Alignment"], "targetName": f"n{i}", "targetUrl": "https://example.org/x"} for i in range(1_200)
    ]
    return [
        Forgery("duplicate-name-before-original", "duplicate keys", _inject(body, '"name": "Forged badge"'),
                "unusable", "json"),
        Forgery("duplicate-validuntil", "duplicate keys", _inject(body, '"validUntil": "2000-01-01T00:00:00Z"'),
                "unusable", "json"),
        Forgery("nesting-10000", "depth", deep, "unusable", "json"),
        Forgery("lone-surrogate", "surrogates", body.replace(b'"name": "', b'"name": "\\ud800', 1), "unusable",
                "json"),
        Forgery("lone-surrogate-key", "surrogates", _inject(body, '"\\udfff": 1'), "unusable", "json"),
        Forgery("too-many-blank-nodes", "limits", _text(blank), "unusable", "json"),
        Forgery("not-json", "limits", b'{"@context": ', "unusable", "json"),
        Forgery("over-a-mebibyte", "limits", _inject(body, '"description": "' + "x" * 1_100_000 + '"'),
                "unusable", "json"),
    ]


def honest_cases(issuer: Issuer) -> list[Forgery]:
    """What must still verify: a fresh credential (with its list) and an EndorsementCredential."""
    fresh = issuer.credential(valid_until=NOW + timedelta(days=365))
    endorsement = issuer.sign(
        {
            "@context": [VC_V2, OB_V3],
            "id": f"urn:uuid:{uuid.uuid4()}",
            "type": ["VerifiableCredential", "EndorsementCredential"],
            "issuer": {"id": issuer.id, "type": ["Profile"], "name": "Example Grader"},
            "validFrom": "2024-05-01T12:00:00Z",
            "name": "Endorsement of the ledger assignment",
            "credentialSubject": {
                "id": "https://grader.example.edu/achievements/py-ledger/1.0.0",
                "type": ["EndorsementSubject"],
                "endorsementComment": "Reviewed by the department",
            },
            "evidence": [{"id": "https://grader.example.edu/reviews/1", "type": ["Evidence"], "name": "Review"}],
        }
    )
    expired = issuer.credential(valid_until=PAST)
    return [
        Forgery("fresh-credential", "honest", _text(fresh), "valid", None, lists=(_own_list(issuer),), oracle=True),
        Forgery("endorsement", "endorsement", _text(endorsement), "valid", None, oracle=True),
        Forgery("expired-in-plain-sight", "honest", _text(expired), "invalid", "validity", oracle=True),
    ]


def all_cases(issuer: Issuer) -> list[Forgery]:
    return [
        *honest_cases(issuer),
        *hidden_field_cases(issuer),
        *status_list_cases(issuer),
        *issuer_cases(issuer),
        *parser_cases(issuer),
    ]


CLASSES = (
    "honest", "endorsement", "hidden fields", "revoked", "other lists", "stale lists", "unbound issuer",
    "duplicate keys", "depth", "surrogates", "limits",
)  # fmt: skip
