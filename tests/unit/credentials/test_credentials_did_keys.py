"""did:key, did:web and the encrypted keystore."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credentials.did import (
    DidDocumentCache,
    did_key,
    did_key_verification_method,
    did_web,
    did_web_document,
    did_web_url,
    resolve_did_key,
    resolve_verification_method,
)
from credentials.errors import DidResolutionError, KeyError_, KeyNotFoundError, KeyRetiredError
from credentials.keys import Keystore, decrypt_private_key
from credentials.models import Profile
from credentials.multibase import public_key_multibase
from credentials.proof import sign_credential
from credentials.verify import verify_credential
from tests.unit.credentials.credsamples import sample_credential

VECTOR_KEY = Ed25519PrivateKey.from_private_bytes(
    bytes.fromhex("6241a409e6707bb640a0140a8a32bc3d193c33a661747284d6adfa4ed4180be4")
)


def test_did_key_matches_known_encoding_and_resolves_locally() -> None:
    public = VECTOR_KEY.public_key()
    assert did_key(public) == "did:key:z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi"
    vm = did_key_verification_method(public)
    assert vm == f"{did_key(public)}#z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi"
    resolved = resolve_did_key(vm)
    assert resolved.controller == did_key(public)
    assert resolved.public_key_multibase == public_key_multibase(public)
    assert resolve_did_key(did_key(public)).verification_method == vm  # bare DID form


@pytest.mark.parametrize(
    "value",
    ["did:key:z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi#other", "did:key:zQ3shXXX", "did:web:x.org#k"],
)
def test_did_key_rejects_malformed(value: str) -> None:
    with pytest.raises(DidResolutionError):
        resolve_did_key(value)


def test_did_web_names_and_urls() -> None:
    assert did_web("Grader.Example.edu") == "did:web:grader.example.edu"
    assert did_web("example.com:8443", "issuers/a b") == "did:web:example.com%3A8443:issuers:a%20b"
    assert did_web_url("did:web:grader.example.edu") == "https://grader.example.edu/.well-known/did.json"
    assert did_web_url("did:web:example.com%3A8443:issuers:1") == "https://example.com:8443/issuers/1/did.json"
    with pytest.raises(ValueError):
        did_web("example.com/path")


def test_did_web_document_with_rotated_keys_resolves_each_key() -> None:
    did = did_web("grader.example.edu")
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    document = did_web_document(did, [("key-1", old.public_key()), ("key-2", new.public_key())])
    assert document["assertionMethod"] == [f"{did}#key-1", f"{did}#key-2"]
    assert {m["type"] for m in document["verificationMethod"]} == {"Multikey"}
    for key_id, key in (("key-1", old), ("key-2", new)):
        resolved = resolve_verification_method(f"{did}#{key_id}", [document])
        assert resolved.public_key_multibase == public_key_multibase(key.public_key())
    with pytest.raises(DidResolutionError, match="not a verification method"):
        resolve_verification_method(f"{did}#key-3", [document])


def test_did_documents_are_cached_on_disk(tmp_path: Path) -> None:
    did = did_web("grader.example.edu", "issuers/1")
    cache = DidDocumentCache([did_web_document(did, [("key-1", VECTOR_KEY.public_key())])])
    cache.save(tmp_path / "dids")
    loaded = DidDocumentCache.load(tmp_path / "dids")
    assert did in loaded
    assert resolve_verification_method(f"{did}#key-1", loaded).controller == did
    (tmp_path / "dids" / "junk.json").write_text("{}")
    with pytest.raises(DidResolutionError, match=r"junk\.json"):
        DidDocumentCache.load(tmp_path / "dids")


def test_did_web_is_never_fetched() -> None:
    with pytest.raises(DidResolutionError, match="never fetched"):
        resolve_verification_method("did:web:grader.example.edu#key-1", None)


def test_did_web_key_must_be_an_assertion_method() -> None:
    did = did_web("grader.example.edu")
    document = did_web_document(did, [("key-1", VECTOR_KEY.public_key())])
    document["assertionMethod"] = []
    with pytest.raises(DidResolutionError, match="not authorized"):
        resolve_verification_method(f"{did}#key-1", DidDocumentCache([document]))


def test_unknown_did_method_is_a_clear_error() -> None:
    with pytest.raises(DidResolutionError, match="'example'"):
        resolve_verification_method("did:example:123#k")


# ---------------------------------------------------------------------------------------- keystore


@pytest.fixture
def store(tmp_path: Path) -> Keystore:
    return Keystore.init(tmp_path / "keys", "correct horse battery staple", controller="did:web:grader.example.edu")


def test_keystore_init_creates_one_active_key_encrypted_at_rest(store: Keystore) -> None:
    [record] = store.list()
    assert record.state == "active"
    assert record.verification_method == f"did:web:grader.example.edu#{record.key_id}"
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    key_file = store.directory / f"{record.key_id}.key.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    blob = json.loads(key_file.read_text())
    assert blob["kdf"]["name"] == "scrypt" and blob["cipher"]["name"] == "AES-256-GCM"
    # the raw private key appears nowhere in the files
    raw = store._private_key(record.key_id).private_bytes_raw()
    for path in store.directory.iterdir():
        assert raw not in path.read_bytes() and raw.hex().encode() not in path.read_bytes()
    with pytest.raises(KeyError_, match="wrong passphrase"):
        decrypt_private_key(blob, "wrong", record.key_id)


def test_keystore_refuses_to_init_twice(store: Keystore) -> None:
    with pytest.raises(KeyError_, match="already exists"):
        Keystore.init(store.directory, "x")


def test_reopen_with_the_passphrase_signs(store: Keystore) -> None:
    reopened = Keystore.open(store.directory, "correct horse battery staple")
    signature = reopened.signer().sign(b"data")
    reopened.active_key().public_key.verify(signature, b"data")
    with pytest.raises(KeyError_, match="wrong passphrase"):
        Keystore.open(store.directory, "nope").signer().sign(b"data")


def _issue(store: Keystore) -> dict[str, object]:
    doc = sample_credential(issuer=Profile(id=store.issuer_id(), name="Grader"))
    return sign_credential(doc, store.signer())


def test_rotation_keeps_old_credentials_valid_and_retired_key_cannot_sign(store: Keystore) -> None:
    first = store.active_key()
    old_signer = store.signer()
    old_credential = _issue(store)
    new = store.rotate()
    assert new.key_id != first.key_id
    assert store.get(first.key_id).state == "retired"
    assert store.active_key().key_id == new.key_id
    with pytest.raises(KeyRetiredError, match=first.key_id):
        old_signer.sign(b"x")
    with pytest.raises(KeyRetiredError):
        store.signer(first.key_id)
    new_credential = _issue(store)
    document = store.did_document()
    assert len(document["assertionMethod"]) == 2
    for credential in (old_credential, new_credential):
        report = verify_credential(credential, did_documents=[document], key_resolver=store.resolve)
        assert report.valid, report.failed
        assert report.check("issuer_key").outcome == "passed"


def test_proof_created_after_retirement_fails_issuer_key(store: Keystore) -> None:
    record = store.active_key()
    signer = store.signer()
    doc = sample_credential(issuer=Profile(id=store.issuer_id()))
    credential = sign_credential(doc, signer, created=datetime.now(UTC) + timedelta(hours=1))
    store.retire(record.key_id)
    report = verify_credential(credential, did_documents=[store.did_document()], key_resolver=store.resolve)
    assert report.check("proof").outcome == "passed"
    assert report.check("issuer_key").outcome == "failed"
    assert "retired" in report.check("issuer_key").reason
    with pytest.raises(KeyError_, match="no active key"):
        store.signer()


def test_did_key_mode_keystore(tmp_path: Path) -> None:
    store = Keystore.init(tmp_path / "k", "pw")
    assert store.issuer_id().startswith("did:key:z6Mk")
    credential = _issue(store)
    report = verify_credential(credential)  # did:key needs nothing supplied
    assert report.valid, report.failed
    with pytest.raises(KeyError_):
        store.did_document()


def test_unknown_key_id(store: Keystore) -> None:
    with pytest.raises(KeyNotFoundError):
        store.retire("key-nope")
