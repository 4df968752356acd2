"""Bitstring Status List: allocation, encoding, revocation, suspension, checking."""

from __future__ import annotations

import gzip
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credentials.did import did_key, did_key_verification_method
from credentials.errors import StatusListError
from credentials.models import Profile
from credentials.multibase import decode_base64url
from credentials.proof import Ed25519Signer, sign_credential
from credentials.status import MIN_BITS, StatusList, decode_bitstring, encode_bitstring, read_status
from credentials.verify import verify_credential
from tests.data.credentials import BITSTRING
from tests.unit.credentials.credsamples import sample_credential

URL = "https://grader.example.edu/status/1"


def test_encoding_is_gzip_base64url_multibase_and_msb_first() -> None:
    status = StatusList.create(URL)
    index = status.allocate()
    status.revoke(index)
    encoded = status.encoded_list()
    assert encoded.startswith("u") and "=" not in encoded and "+" not in encoded and "/" not in encoded
    raw = gzip.decompress(decode_base64url(encoded))
    assert len(raw) * 8 == MIN_BITS
    assert raw[index // 8] == 0x80 >> (index % 8)
    assert sum(bin(b).count("1") for b in raw) == 1
    assert decode_bitstring(encode_bitstring(raw)) == raw


def test_reads_the_interop_list_written_by_others() -> None:
    status_list = json.loads((BITSTRING / "testlist").read_text())
    credential = json.loads((BITSTRING / "credential-status-revoked.json").read_text())
    entry = credential["credentialStatus"]
    result = read_status(status_list, entry, fetched_from=entry["statusListCredential"])
    assert result.state == "set" and result.index == 23 and "revoked" in result.reason
    other = dict(credential["credentialStatus"], statusListIndex="24")
    assert read_status(status_list, other, fetched_from=entry["statusListCredential"]).state == "ok"
    # Not fetched from the URL the entry names, and another id: it is some other list.
    assert read_status(status_list, other).state == "invalid"


def test_allocation_is_random_and_never_reuses_an_index() -> None:
    status = StatusList.create(URL)
    indices = [status.allocate() for _ in range(2000)]
    assert len(set(indices)) == len(indices)
    assert indices != sorted(indices)
    assert max(indices) > MIN_BITS // 2  # spread over the whole list, not sequential from 0
    assert status.free == MIN_BITS - 2000


def test_full_list_and_dense_allocation() -> None:
    status = StatusList.create(URL)
    for byte in range(len(status._allocated)):  # mark all but 10 indices taken
        status._allocated[byte] = 0xFF
    free = [5, 77, 1000, 4096, 70000, 100001, 120000, 130000, 131000, 131071]
    for index in free:
        status._allocated[index // 8] &= ~(0x80 >> (index % 8)) & 0xFF
    status._allocated_count = MIN_BITS - len(free)
    assert sorted(status.allocate() for _ in free) == free
    with pytest.raises(StatusListError, match="full"):
        status.allocate()


def test_state_round_trip_keeps_bits_and_allocations() -> None:
    status = StatusList.create(URL, "suspension")
    a, b = status.allocate(), status.allocate()
    status.suspend(a)
    restored = StatusList.from_state(status.to_state())
    assert restored.get(a) and not restored.get(b)
    assert restored.is_allocated(b) and restored.free == status.free
    restored.unsuspend(a)
    assert not restored.get(a)


def test_purposes_are_enforced() -> None:
    revocation = StatusList.create(URL)
    index = revocation.allocate()
    with pytest.raises(StatusListError):
        revocation.suspend(index)
    with pytest.raises(StatusListError, match="cannot be undone"):
        revocation.unsuspend(index)
    unallocated = next(i for i in range(MIN_BITS) if not revocation.is_allocated(i))
    with pytest.raises(StatusListError, match="belongs to no credential"):
        revocation.revoke(unallocated)
    with pytest.raises(StatusListError):
        StatusList.create(URL, size=1024)


def test_revocation_end_to_end_with_signed_list() -> None:
    key = Ed25519PrivateKey.generate()
    signer = Ed25519Signer(key, did_key_verification_method(key.public_key()))
    issuer = did_key(key.public_key())
    status = StatusList.create(URL)
    entry = status.allocate_entry()
    credential = sign_credential(sample_credential(issuer=Profile(id=issuer), status=entry), signer)

    published = status.issue_credential(issuer, signer)
    report = verify_credential(credential, status_list=published)
    assert report.valid, report.failed
    assert report.check("status").outcome == "passed"

    status.revoke(int(entry.statusListIndex))
    republished = status.issue_credential(issuer, signer)
    report = verify_credential(credential, status_list=republished)
    assert not report.valid
    assert report.check("status").outcome == "failed"
    assert "revoked" in report.check("status").reason
    assert [c.name for c in report.failed] == ["status"]

    # without a list the check is skipped and says where the list lives
    skipped = verify_credential(credential).check("status")
    assert skipped.outcome == "skipped" and URL in skipped.reason


def test_status_list_from_another_issuer_or_tampered_is_not_trusted() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signer = Ed25519Signer(key, did_key_verification_method(key.public_key()))
    status = StatusList.create(URL)
    entry = status.allocate_entry()
    credential = sign_credential(sample_credential(issuer=Profile(id=did_key(key.public_key())), status=entry), signer)

    forged = status.issue_credential(
        did_key(other.public_key()), Ed25519Signer(other, did_key_verification_method(other.public_key()))
    )
    check = verify_credential(credential, status_list=forged).check("status")
    assert check.outcome == "failed" and "issued by" in check.reason

    genuine = status.issue_credential(did_key(key.public_key()), signer)
    status.revoke(int(entry.statusListIndex))
    tampered = dict(genuine, credentialSubject=dict(genuine["credentialSubject"], encodedList=status.encoded_list()))
    check = verify_credential(credential, status_list=tampered).check("status")
    assert check.outcome == "failed" and "signature" in check.reason
