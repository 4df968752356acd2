"""Tests that pin the verifier: every boundary and branch of credentials/verify.py and status.py.

Written against mutation testing (scripts/mutation.sh credentials): an expired list trusted, ``>=``
for ``>``, an untested ``invalid`` branch of ``read_status`` must each make a test fail. Reasons are
compared by their start, so a changed message is caught too.
"""

from __future__ import annotations

import copy
import gzip
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credentials.contexts import OB_V3, VC_V1, VC_V2
from credentials.did import ResolvedKey, did_key, did_key_verification_method, did_web, did_web_document
from credentials.errors import StatusListError
from credentials.models import Profile
from credentials.multibase import encode_base64url
from credentials.proof import Ed25519Signer, sign_credential
from credentials.status import MIN_BITS, StatusList, StatusListState, decode_bitstring, encode_bitstring, read_status
from credentials.verify import (
    CHECK_ORDER,
    FetchedStatusList,
    VerificationReport,
    load_document,
    verify_credential,
)
from tests.unit.credentials.credsamples import VALID_FROM, sample_credential

KEY = Ed25519PrivateKey.generate()
ISSUER = did_key(KEY.public_key())
VM = did_key_verification_method(KEY.public_key())
SIGNER = Ed25519Signer(KEY, VM)
URL = "https://grader.example.edu/status/pins"
VF = "2024-05-01T12:00:00Z"
UNTIL = VALID_FROM + timedelta(days=30)
UNTIL_TEXT = "2024-05-31T12:00:00Z"
NOW = VALID_FROM + timedelta(days=1)


def _credential(status_list: StatusList | None = None, *, valid_until: datetime | None = UNTIL) -> dict[str, Any]:
    entry = status_list.allocate_entry() if status_list is not None else None
    unsigned = sample_credential(issuer=Profile(id=ISSUER, name="Grader"), status=entry, valid_until=valid_until)
    return sign_credential(unsigned, SIGNER)


def _reason(report: VerificationReport, name: str) -> str:
    return report.check(name).reason  # type: ignore[arg-type]


def _outcome(report: VerificationReport, name: str) -> str:
    return report.check(name).outcome  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- validity


def test_validity_boundaries_are_inclusive() -> None:
    credential = _credential()
    at_start = verify_credential(credential, now=VALID_FROM)
    assert _outcome(at_start, "validity") == "passed"
    assert _reason(at_start, "validity") == f"valid from {VF} until {UNTIL_TEXT}"
    before = verify_credential(credential, now=VALID_FROM - timedelta(seconds=1))
    assert _reason(before, "validity") == f"not valid yet: validFrom {VF} is after now"
    assert _outcome(before, "validity") == "failed"
    assert _outcome(verify_credential(credential, now=UNTIL), "validity") == "passed"
    after = verify_credential(credential, now=UNTIL + timedelta(seconds=1))
    assert _outcome(after, "validity") == "failed"
    assert _reason(after, "validity") == f"expired: validUntil {UNTIL_TEXT} is before now"


def test_validity_without_expiry() -> None:
    report = verify_credential(_credential(valid_until=None), now=NOW)
    assert _reason(report, "validity") == f"valid from {VF}, no expiry"
    assert report.valid


def test_validity_needs_readable_dates() -> None:
    credential = _credential()
    no_zone = dict(credential, validFrom="2024-05-01T12:00:00")
    report = verify_credential(no_zone, now=NOW)
    assert _reason(report, "validity") == "validFrom is missing or not a date-time with a timezone"
    bad_end = dict(credential, validUntil="2024-05-31T12:00:00")
    report = verify_credential(bad_end, now=NOW)
    assert _reason(report, "validity") == "validUntil is not a date-time with a timezone"
    assert _outcome(report, "validity") == "failed"
    missing = {k: v for k, v in credential.items() if k != "validFrom"}
    assert _reason(verify_credential(missing, now=NOW), "validity").startswith("validFrom is missing")


def test_validity_is_skipped_when_the_signed_data_cannot_be_read() -> None:
    credential = dict(_credential(), **{"@context": [VC_V1]})
    report = verify_credential(credential, now=NOW)
    assert _outcome(report, "validity") == "skipped"
    assert _reason(report, "validity") == "the signed data cannot be read (see contexts/terms)"
    assert _reason(report, "status") == "the signed data cannot be read (see contexts/terms)"
    assert _outcome(report, "status") == "skipped"


# --------------------------------------------------------------------------------------- status


def _list_doc(status_list: StatusList, **kwargs: Any) -> dict[str, Any]:
    return status_list.issue_credential(ISSUER, SIGNER, **kwargs)


def test_status_reasons_and_a_clear_or_set_bit() -> None:
    status_list = StatusList.create(URL)
    credential = _credential(status_list)
    index = int(credential["credentialStatus"]["statusListIndex"])
    fresh = verify_credential(credential, status_list=_list_doc(status_list, valid_from=VALID_FROM), now=NOW)
    assert _outcome(fresh, "status") == "passed"
    assert _reason(fresh, "status") == f"revocation bit {index} of {URL} is not set"
    status_list.revoke(index)
    revoked = verify_credential(credential, status_list=_list_doc(status_list, valid_from=VALID_FROM), now=NOW)
    assert _outcome(revoked, "status") == "failed"
    assert _reason(revoked, "status") == f"revocation bit {index} is set: the credential is revoked"
    skipped = verify_credential(credential, now=NOW)
    assert _outcome(skipped, "status") == "skipped"
    assert _reason(skipped, "status") == f"no status list supplied (the issuer publishes it at {URL})"
    none = verify_credential(_credential(), status_list=_list_doc(status_list), now=NOW)
    assert _reason(none, "status") == "the credential has no credentialStatus"
    assert _outcome(none, "status") == "skipped"


def test_status_list_expiry_boundary() -> None:
    status_list = StatusList.create(URL)
    credential = _credential(status_list)
    until = NOW + timedelta(hours=1)
    listed = _list_doc(status_list, valid_from=VALID_FROM, valid_until=until)
    assert _outcome(verify_credential(credential, status_list=listed, now=until), "status") == "passed"
    stale = verify_credential(credential, status_list=listed, now=until + timedelta(seconds=1))
    assert _outcome(stale, "status") == "failed"
    assert _reason(stale, "status").startswith(f"the status list {URL} cannot be trusted: expired: validUntil")
    early = verify_credential(credential, status_list=listed, now=VALID_FROM - timedelta(seconds=1))
    assert "not valid yet" in _reason(early, "status")


def test_status_list_ttl_boundary() -> None:
    status_list = StatusList.create(URL)
    credential = _credential(status_list)
    document = status_list.to_credential(ISSUER, valid_from=VALID_FROM)
    document["credentialSubject"]["ttl"] = 3_600_000
    listed = sign_credential(document, SIGNER)
    edge = VALID_FROM + timedelta(hours=1)
    assert _outcome(verify_credential(credential, status_list=listed, now=edge), "status") == "passed"
    late = verify_credential(credential, status_list=listed, now=edge + timedelta(milliseconds=1))
    assert _reason(late, "status") == (
        f"the status list {URL} cannot be trusted: stale: its ttl of 3600000 ms after validFrom {VF} has passed"
    )
    document["credentialSubject"]["ttl"] = "soon"
    odd = verify_credential(credential, status_list=sign_credential(document, SIGNER), now=NOW)
    assert _reason(odd, "status").endswith("ttl 'soon' is not an integer number of milliseconds")


def test_only_the_named_list_is_used() -> None:
    status_list = StatusList.create(URL)
    credential = _credential(status_list)
    other = StatusList.create(URL + "-other")
    report = verify_credential(credential, status_list=_list_doc(other), now=NOW)
    assert _reason(report, "status") == (
        f"none of the supplied status lists is {URL}: a list is only used for the entry naming it"
    )
    # A list fetched from the URL the entry names counts, whatever its id.
    moved = _list_doc(StatusList(URL + "-moved", "revocation", MIN_BITS, bytearray(MIN_BITS // 8),
                                 bytearray(MIN_BITS // 8)), valid_from=VALID_FROM)
    fetched = verify_credential(credential, status_list=[FetchedStatusList(URL, moved)], now=NOW)
    assert _outcome(fetched, "status") == "passed"
    wrong_url = verify_credential(credential, status_list=FetchedStatusList(URL + "-x", moved), now=NOW)
    assert _outcome(wrong_url, "status") == "failed"


def test_status_list_must_be_the_issuers_and_signed() -> None:
    status_list = StatusList.create(URL)
    credential = _credential(status_list)
    stranger_key = Ed25519PrivateKey.generate()
    stranger = did_key(stranger_key.public_key())
    foreign = status_list.issue_credential(
        stranger, Ed25519Signer(stranger_key, did_key_verification_method(stranger_key.public_key()))
    )
    report = verify_credential(credential, status_list=foreign, now=NOW)
    assert _reason(report, "status") == (
        f"the status list {URL} cannot be trusted: it is issued by {stranger}, not by the credential's issuer {ISSUER}"
    )
    unsigned = status_list.to_credential(ISSUER)
    report = verify_credential(credential, status_list=unsigned, now=NOW)
    assert _reason(report, "status").startswith(f"the status list {URL} cannot be trusted: no DataIntegrityProof")
    tampered = _list_doc(status_list)
    tampered["credentialSubject"]["encodedList"] = StatusList.create(URL).encoded_list()[:-2] + "AA"
    report = verify_credential(credential, status_list=tampered, now=NOW)
    assert _reason(report, "status").startswith(f"the status list {URL} cannot be trusted: ")
    not_a_list = {"not": "a credential"}
    report = verify_credential(credential, status_list=FetchedStatusList(URL, not_a_list), now=NOW)
    assert _reason(report, "status") == f"the status list {URL} cannot be trusted: no @context: not a JSON-LD Verifiable Credential"
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    report = verify_credential(credential, status_list=FetchedStatusList(URL, {"deep": deep}), now=NOW)
    assert "nested deeper than the limit" in _reason(report, "status")


def test_status_entry_without_a_list_url_and_empty_status() -> None:
    credential = _credential(StatusList.create(URL))
    entry = {k: v for k, v in credential["credentialStatus"].items() if k != "statusListCredential"}
    report = verify_credential(dict(credential, credentialStatus=entry), status_list=_list_doc(StatusList.create(URL)))
    assert _reason(report, "status") == "credentialStatus names no statusListCredential"
    empty = verify_credential(dict(credential, credentialStatus=[]), now=NOW)
    assert _reason(empty, "status") == "credentialStatus in the JSON is not in the signed data"
    assert _outcome(empty, "status") == "failed"


def test_status_list_documents_in_every_shape() -> None:
    status_list = StatusList.create(URL)
    credential = _credential(status_list)
    listed = _list_doc(status_list, valid_from=VALID_FROM)
    for given in (listed, [listed], (listed,), FetchedStatusList(URL, listed), [FetchedStatusList(URL, listed)]):
        assert _outcome(verify_credential(credential, status_list=given, now=NOW), "status") == "passed"


# ----------------------------------------------------------------------------------- read_status


def _list_json(bits: bytes | None = None, **overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": URL,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "credentialSubject": {
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode_bitstring(bits if bits is not None else bytes(MIN_BITS // 8)),
        },
    }
    document.update(overrides)
    return document


def _entry(**overrides: Any) -> dict[str, Any]:
    entry = {
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "7",
        "statusListCredential": URL,
    }
    entry.update(overrides)
    return entry


def _subject(**overrides: Any) -> dict[str, Any]:
    return dict(_list_json()["credentialSubject"], **overrides)


@pytest.mark.parametrize(
    ("list_credential", "entry", "reason"),
    [
        (_list_json(), _entry(type="StatusList2021Entry"),
         "credentialStatus type 'StatusList2021Entry' is not BitstringStatusListEntry"),
        (_list_json(), _entry(statusListIndex="seven"), "statusListIndex 'seven' is not an integer"),
        (_list_json(), _entry(statusListIndex="1.5"), "statusListIndex '1.5' is not an integer"),
        (_list_json(), _entry(statusListIndex=None), "statusListIndex None is not an integer"),
        (_list_json(type=["VerifiableCredential"]), _entry(), "the status list is not a BitstringStatusListCredential"),
        (_list_json(type="BitstringStatusList"), _entry(), "the status list is not a BitstringStatusListCredential"),
        (_list_json(id=URL + "-2"), _entry(), f"the status list is '{URL}-2', not '{URL}'"),
        (_list_json(credentialSubject="x"), _entry(), "the status list credential has no BitstringStatusList subject"),
        (_list_json(credentialSubject=_subject(type="Other")), _entry(),
         "the status list credential has no BitstringStatusList subject"),
        (_list_json(), _entry(statusPurpose="suspension"), "list purpose 'revocation' differs from 'suspension'"),
        (_list_json(credentialSubject=_subject(encodedList="xyz")), _entry(), "encodedList is not multibase base64url"),
        (_list_json(credentialSubject=_subject(encodedList=encode_base64url(b"not gzip at all"))), _entry(),
         "encodedList is not GZIP data"),
        (_list_json(bits=bytes(MIN_BITS // 8 - 1)), _entry(),
         f"the status list has {MIN_BITS - 8} bits, fewer than {MIN_BITS}"),
        (_list_json(), _entry(statusListIndex=str(MIN_BITS)), f"statusListIndex {MIN_BITS} is outside the list"),
        (_list_json(), _entry(statusListIndex="-1"), "statusListIndex -1 is outside the list"),
    ],
)
def test_read_status_invalid_branches(list_credential: dict[str, Any], entry: dict[str, Any], reason: str) -> None:
    result = read_status(list_credential, entry)
    assert result.state == "invalid"
    assert result.reason.startswith(reason), result.reason
    assert result.index is None and result.purpose is None


def test_read_status_gzip_cap() -> None:
    bomb = encode_base64url(gzip.compress(bytes(16 * 1024 * 1024 + 1)))
    result = read_status(_list_json(credentialSubject=_subject(encodedList=bomb)), _entry())
    assert (result.state, result.reason) == ("invalid", "encodedList expands beyond the allowed size")
    exact = encode_base64url(gzip.compress(bytes(16 * 1024 * 1024)))
    assert read_status(_list_json(credentialSubject=_subject(encodedList=exact)), _entry()).state == "ok"


def test_read_status_edges_and_fetched_from() -> None:
    last = MIN_BITS - 1
    bits = bytearray(MIN_BITS // 8)
    bits[-1] = 0x01  # the last bit
    bits[0] = 0x80  # the first bit
    for index in (0, last):
        result = read_status(_list_json(bits=bytes(bits)), _entry(statusListIndex=str(index)))
        assert (result.state, result.index, result.purpose) == ("set", index, "revocation")
    clear = read_status(_list_json(bits=bytes(bits)), _entry(statusListIndex="1"))
    assert (clear.state, clear.index, clear.reason) == ("ok", 1, f"revocation bit 1 of {URL} is not set")
    assert clear.purpose == "revocation"
    assert read_status(_list_json(bits=bytes(bits)), _entry(statusListIndex=0)).state == "set"  # JSON integer
    moved = _list_json(id="https://elsewhere.example/list")
    assert read_status(moved, _entry(), fetched_from=URL).state == "ok"
    assert read_status(moved, _entry(), fetched_from="https://other.example/").state == "invalid"
    subject_list = _list_json(credentialSubject=_subject(type=["BitstringStatusList"]))
    assert read_status(subject_list, _entry()).state == "ok"
    suspended = read_status(
        _list_json(bits=bytes(bits), credentialSubject=_subject(statusPurpose="suspension",
                                                                 encodedList=encode_bitstring(bytes(bits)))),
        _entry(statusPurpose="suspension", statusListIndex="0"),
    )
    assert suspended.reason == "suspension bit 0 is set: the credential is suspended"
    message = read_status(
        _list_json(bits=bytes(bits), credentialSubject=_subject(statusPurpose="message",
                                                                 encodedList=encode_bitstring(bytes(bits)))),
        _entry(statusPurpose="message", statusListIndex="0"),
    )
    assert message.reason == "message bit 0 is set: the credential is flagged (message)"


# ------------------------------------------------------------------------------------ StatusList


def test_status_list_shape_errors() -> None:
    with pytest.raises(StatusListError, match="multiple of 8 bits and at least 131072"):
        StatusList(URL, "revocation", MIN_BITS - 8, bytearray(MIN_BITS // 8 - 1), bytearray(MIN_BITS // 8 - 1))
    with pytest.raises(StatusListError, match="multiple of 8"):
        StatusList(URL, "revocation", MIN_BITS + 1, bytearray(MIN_BITS // 8), bytearray(MIN_BITS // 8))
    with pytest.raises(StatusListError, match=r"^bitstring length does not match the list size$"):
        StatusList(URL, "revocation", MIN_BITS, bytearray(MIN_BITS // 8 - 1), bytearray(MIN_BITS // 8))
    with pytest.raises(StatusListError, match="bitstring length does not match"):
        StatusList(URL, "revocation", MIN_BITS, bytearray(MIN_BITS // 8), bytearray(1))
    assert StatusList(URL, "revocation", MIN_BITS, bytearray(MIN_BITS // 8), bytearray(MIN_BITS // 8)).free == MIN_BITS


def test_status_list_indices_and_bits() -> None:
    status = StatusList.create(URL)
    with pytest.raises(StatusListError, match=r"index 131072 is outside the list \(0\.\.131071\)"):
        status.get(MIN_BITS)
    with pytest.raises(StatusListError, match="index -1 is outside"):
        status.is_allocated(-1)
    assert status.get(MIN_BITS - 1) is False and status.get(0) is False
    with pytest.raises(StatusListError, match=f"index 5 of {URL} was not allocated"):
        status.entry(5)
    with pytest.raises(StatusListError, match=f"index 5 of {URL} belongs to no credential"):
        status.revoke(5)
    index = status.allocate()
    assert status.is_allocated(index) and status.free == MIN_BITS - 1
    entry = status.entry(index)
    assert (entry.id, entry.statusListIndex, entry.statusListCredential, entry.statusPurpose) == (
        f"{URL}#{index}", str(index), URL, "revocation",
    )
    status.revoke(index)
    assert status.get(index) is True
    with pytest.raises(StatusListError, match=r"^revocation cannot be undone$"):
        status.unsuspend(index)
    with pytest.raises(StatusListError, match=f"{URL} is a revocation list; suspend on a suspension list"):
        status.suspend(index)


def test_suspension_sets_and_clears() -> None:
    status = StatusList.create(URL, "suspension")
    index = status.allocate()
    with pytest.raises(StatusListError, match=f"{URL} is a suspension list; revoke on a revocation list"):
        status.revoke(index)
    status.suspend(index)
    assert status.get(index)
    status.unsuspend(index)
    assert not status.get(index)
    neighbour_bits = [status.get(i) for i in range(max(0, index - 8), min(MIN_BITS, index + 8))]
    assert not any(neighbour_bits)


def test_full_list_refuses_and_dense_allocation_finds_each_free_index() -> None:
    status = StatusList.create(URL)
    for byte in range(len(status._allocated)):
        status._allocated[byte] = 0xFF
    status._allocated[3] = 0b1011_1111  # index 25 free
    status._allocated_count = MIN_BITS - 1
    assert status.allocate() == 25
    with pytest.raises(StatusListError, match=f"status list {URL} is full; start a new list"):
        status.allocate()


def test_state_and_credential() -> None:
    status = StatusList.create(URL, validity=timedelta(hours=2))
    index = status.allocate()
    status.revoke(index)
    state = status.to_state()
    assert isinstance(state, StatusListState) and state.size == MIN_BITS and state.purpose == "revocation"
    again = StatusList.from_state(state)
    assert again.url == URL and again.purpose == "revocation" and again.size == MIN_BITS
    assert again.get(index) and again.is_allocated(index) and again.free == MIN_BITS - 1
    document = status.to_credential(ISSUER, valid_from=VALID_FROM)
    assert document["validFrom"] == VF and document["validUntil"] == "2024-05-01T14:00:00Z"
    assert document["id"] == URL and document["issuer"] == ISSUER and document["@context"] == [VC_V2]
    assert document["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert document["credentialSubject"] == {
        "id": f"{URL}#list", "type": "BitstringStatusList", "statusPurpose": "revocation",
        "encodedList": status.encoded_list(),
    }
    explicit = status.to_credential(ISSUER, valid_from=VALID_FROM, valid_until=VALID_FROM + timedelta(days=1))
    assert explicit["validUntil"] == "2024-05-02T12:00:00Z"
    assert "validUntil" not in StatusList.create(URL).to_credential(ISSUER)
    signed = status.issue_credential(ISSUER, SIGNER, valid_from=VALID_FROM)
    assert signed["proof"][0]["verificationMethod"] == VM and signed["validUntil"] == "2024-05-01T14:00:00Z"
    assert decode_bitstring(signed["credentialSubject"]["encodedList"])[index // 8] == 0x80 >> (index % 8)


# --------------------------------------------------------------------------- checks, one by one


def test_report_shape() -> None:
    report = verify_credential(_credential(), now=NOW, trusted_issuers={ISSUER})
    data = report.to_json()
    assert list(data) == ["valid", "credential_id", "issuer", "issuer_trusted", "checks", "failed"]
    assert data["valid"] is True and data["failed"] == [] and data["issuer"] == ISSUER
    assert data["issuer_trusted"] is True and report.verified is True and report.usable is True
    assert data["credential_id"] == "urn:uuid:9b2d6a3e-4f0e-4c55-9c1a-0d3c8a1f2b11"
    assert [c["name"] for c in data["checks"]] == list(CHECK_ORDER)
    with pytest.raises(KeyError):
        report.check("nonsense")  # type: ignore[arg-type]
    broken = verify_credential(dict(_credential(), name="changed"), now=NOW)
    assert broken.errors == [f"proof: {_reason(broken, 'proof')}"] and not broken.verified
    assert broken.issuer_trusted is None


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "a credential is a JSON object, not list"),
        (5, "a credential is a JSON object, not int"),
        ({"type": ["VerifiableCredential"]}, "no @context: not a JSON-LD Verifiable Credential"),
        ({"@context": [VC_V2], "type": "Thing"}, "type does not include VerifiableCredential"),
        ({"@context": [VC_V2], "type": ["Thing", 3]}, "type does not include VerifiableCredential"),
    ],
)
def test_json_check(document: Any, reason: str) -> None:
    report = verify_credential(document)
    assert _reason(report, "json") == reason and not report.usable and not report.valid
    assert all(c.outcome == "skipped" and c.reason == "the input is not a credential" for c in report.checks[1:])


def test_unreadable_input() -> None:
    assert _reason(verify_credential(b"\xff\xfe"), "json").startswith("not UTF-8 text")
    assert _reason(verify_credential("{"), "json").startswith("not JSON")
    assert not verify_credential("[1, 2]").usable
    with pytest.raises(Exception, match="duplicate key 'a'"):
        load_document('{"a": 1, "a": 2}')
    assert load_document({"a": 1}) == {"a": 1}
    assert _reason(verify_credential({"a": "\ud800"}), "json") == "$.a contains a lone surrogate: not Unicode text"
    report = verify_credential(_credential(), now=NOW)
    assert _reason(report, "json") == "a Verifiable Credential of type VerifiableCredential, OpenBadgeCredential"


def test_schema_check() -> None:
    credential = _credential()
    assert _reason(verify_credential(credential, now=NOW), "schema") == (
        "valid against the Open Badges 3.0 AchievementCredential JSON Schema"
    )
    single = dict(credential, proof=credential["proof"][0])
    report = verify_credential(single, now=NOW)
    assert _outcome(report, "schema") == "passed" and report.valid
    other = dict(credential, type=["VerifiableCredential"])
    assert _reason(verify_credential(other, now=NOW), "schema").startswith(
        "no Open Badges 3.0 schema for type ['VerifiableCredential']: this verifier checks"
    )
    subjectless = {k: v for k, v in credential.items() if k != "credentialSubject"}
    assert _reason(verify_credential(subjectless, now=NOW), "schema").startswith(
        "Open Badges 3.0 AchievementCredential JSON Schema: $: "
    )


@pytest.mark.parametrize(
    ("contexts", "reason"),
    [
        ([VC_V1, OB_V3], f"uses the VC 1.1 context {VC_V1}; this verifier supports VC 2.0 / Open Badges 3.0"),
        ([OB_V3, VC_V2], f"the first @context must be {VC_V2}, got '{OB_V3}'"),
        ([VC_V2, "https://example.org/ctx"], "unknown context 'https://example.org/ctx': only bundled"),
        ([VC_V2, OB_V3, {"x": "https://example.org/x"}], "an @context entry is not a URL (inline contexts are refused)"),
        ([VC_V2], f"an Open Badges credential must list {OB_V3} second"),
        ([VC_V2, VC_V2], f"an Open Badges credential must list {OB_V3} second"),
    ],
)
def test_contexts_check(contexts: list[Any], reason: str) -> None:
    report = verify_credential(dict(_credential(), **{"@context": contexts}), now=NOW)
    assert _outcome(report, "contexts") == "failed" and _reason(report, "contexts").startswith(reason)
    assert _outcome(report, "terms") == "skipped" and _reason(report, "terms") == "contexts are not usable"
    assert _outcome(report, "proof") == "skipped"
    assert _reason(report, "proof") == "cannot canonicalize the credential safely (see contexts/terms)"


def test_contexts_and_terms_pass_reasons() -> None:
    report = verify_credential(_credential(), now=NOW)
    assert _reason(report, "contexts") == "2 bundled, hash-pinned context(s), VC 2.0 first"
    assert _reason(report, "terms") == "compacted form; every property and type is defined by the contexts"
    nested = dict(_credential(), **{"@nest": {}})
    assert _reason(verify_credential(nested, now=NOW), "terms").startswith("not in compacted form: $.@nest: ")


def test_issuer_key_branches() -> None:
    credential = _credential()
    unsupported = dict(credential, proof=[dict(credential["proof"][0], cryptosuite="ecdsa-rdfc-2019")])
    report = verify_credential(unsupported, now=NOW)
    assert _reason(report, "issuer_key") == "no DataIntegrityProof with cryptosuite eddsa-rdfc-2022"
    assert _reason(report, "proof") == "no DataIntegrityProof with cryptosuite eddsa-rdfc-2022"
    no_vm = dict(credential, proof=[{k: v for k, v in credential["proof"][0].items() if k != "verificationMethod"}])
    report = verify_credential(no_vm, now=NOW)
    assert _reason(report, "issuer_key") == "a proof has no verificationMethod"
    assert _reason(report, "proof") == "the verification key could not be resolved (see issuer_key)"
    no_proof = {k: v for k, v in credential.items() if k != "proof"}
    report = verify_credential(no_proof, now=NOW)
    assert _reason(report, "proof") == "the credential has no proof"
    other_issuer = sign_credential(sample_credential(issuer=Profile(id="did:web:x.example", name="X")), SIGNER)
    report = verify_credential(other_issuer, now=NOW)
    assert _reason(report, "issuer_key") == f"verification method {VM} is controlled by {ISSUER}, not the issuer did:web:x.example"
    assert _outcome(report, "proof") == "passed"  # the signature itself is fine


def test_proof_pass_reason_and_ignored_proofs() -> None:
    credential = _credential()
    report = verify_credential(credential, now=NOW)
    assert _reason(report, "proof") == f"valid eddsa-rdfc-2022 signature by {VM}"
    assert _reason(report, "issuer_key") == f"{VM} belongs to the issuer {ISSUER} (did:key)"
    extra = dict(credential, proof=[*credential["proof"], {"type": "Ed25519Signature2020", "proofValue": "z"}])
    report = verify_credential(extra, now=NOW)
    assert _reason(report, "proof") == f"valid eddsa-rdfc-2022 signature by {VM} (1 proof(s) of other types ignored)"


def test_trust_list() -> None:
    credential = _credential()
    trusted = verify_credential(credential, now=NOW, trusted_issuers=[ISSUER])
    assert trusted.valid and trusted.issuer_trusted is True
    untrusted = verify_credential(credential, now=NOW, trusted_issuers=["did:web:other.example", "did:web:b.example"])
    assert untrusted.issuer_trusted is False and not untrusted.valid
    assert _reason(untrusted, "issuer_key") == f"the issuer {ISSUER} is not in the trust list (2 trusted issuer(s))"
    assert verify_credential(credential, now=NOW).issuer_trusted is None
    assert verify_credential(credential, now=NOW, trusted_issuers=[]).issuer_trusted is False


def test_issuer_did_document_may_list_another_key() -> None:
    issuer = did_web("school.example")
    document = did_web_document(issuer, [("key-1", Ed25519PrivateKey.generate().public_key())])
    document["assertionMethod"] = [*document["assertionMethod"], VM]
    credential = sign_credential(sample_credential(issuer=Profile(id=issuer, name="School")), SIGNER)
    report = verify_credential(credential, did_documents=[document], now=NOW)
    assert report.valid, report.errors
    assert _reason(report, "issuer_key") == f"{VM} is listed by the issuer {issuer}'s DID document (did:key)"
    document["assertionMethod"] = [{"id": VM}]
    assert verify_credential(credential, did_documents=[document], now=NOW).valid
    document["assertionMethod"] = ["#key-1"]
    assert not verify_credential(credential, did_documents=[document], now=NOW).valid
    assert not verify_credential(credential, now=NOW).valid  # no DID document: nothing lists the key


def test_retired_keys() -> None:
    credential = _credential()
    created = datetime.fromisoformat(credential["proof"][0]["created"].replace("Z", "+00:00"))

    def resolver(retired_at: datetime | None) -> Any:
        def resolve(vm: str) -> ResolvedKey:
            return ResolvedKey(vm, ISSUER, KEY.public_key(), "keystore", state="retired", retired_at=retired_at)

        return resolve

    later = created + timedelta(days=1)
    report = verify_credential(credential, key_resolver=resolver(later), now=NOW)
    assert report.valid
    assert _reason(report, "issuer_key") == f"{VM} belongs to the issuer {ISSUER} (keystore) (retired {later:%Y-%m-%d}, after this proof)"
    assert verify_credential(credential, key_resolver=resolver(created), now=NOW).valid  # same moment: still fine
    report = verify_credential(credential, key_resolver=resolver(created - timedelta(seconds=1)), now=NOW)
    assert _reason(report, "issuer_key").startswith(f"key {VM} was retired at ")
    assert not verify_credential(credential, key_resolver=resolver(None), now=NOW).valid
    undated = copy.deepcopy(credential)
    del undated["proof"][0]["created"]
    assert _reason(verify_credential(undated, key_resolver=resolver(later), now=NOW), "issuer_key").startswith("key ")


def test_key_resolver_answers() -> None:
    issuer = "https://school.example/issuer"
    vm = f"{issuer}#key-1"
    signer = Ed25519Signer(KEY, vm)
    credential = sign_credential(sample_credential(issuer=Profile(id=issuer, name="School")), signer)
    assert verify_credential(credential, key_resolver=lambda _: KEY.public_key(), now=NOW).valid

    def broken(_: str) -> Any:
        raise LookupError("boom")

    report = verify_credential(credential, key_resolver=broken, now=NOW)
    assert _reason(report, "issuer_key") == (
        f"verification method '{vm}' is not a DID, so only a key resolver can vouch for it "
        "(keys are never fetched): the key resolver does not know it (boom)"
    )
    report = verify_credential(credential, now=NOW)
    assert _reason(report, "issuer_key").endswith("no key resolver was supplied")
    plain = copy.deepcopy(credential)
    plain["proof"][0]["verificationMethod"] = "key-1"
    assert _reason(verify_credential(plain, now=NOW), "issuer_key") == "verification method 'key-1' is not a URL or DID"
    other = Ed25519PrivateKey.generate().public_key()
    mine = _credential()
    report = verify_credential(mine, key_resolver=lambda _: other, now=NOW)
    assert _reason(report, "issuer_key") == f"the key resolver and the DID document disagree about {VM!r}"
    agreeing = verify_credential(mine, key_resolver=lambda vm: ResolvedKey(vm, ISSUER, KEY.public_key(), "mine"), now=NOW)
    assert agreeing.valid and "(mine)" in _reason(agreeing, "issuer_key")
    web = sign_credential(sample_credential(issuer=Profile(id="did:web:x.example", name="X")),
                          Ed25519Signer(KEY, "did:web:x.example#k"))
    assert verify_credential(web, key_resolver=lambda _: KEY.public_key(), now=NOW).valid
    assert "no DID document for did:web:x.example" in _reason(verify_credential(web, now=NOW), "issuer_key")


def test_unbound_issuers() -> None:
    for issuer in ("urn:uuid:6f2e33e5-7a29-4155-840a-59483ba10164", "mailto:someone@example.org"):
        credential = sign_credential(sample_credential(issuer=Profile(id=issuer, name="Nobody")), SIGNER)
        report = verify_credential(credential, now=NOW)
        assert _reason(report, "issuer_key") == (
            f"issuer id {issuer} is not a DID or URL, so nothing binds it to the signing key {VM}: "
            "anyone could have signed it"
        )
    for issuer in ("http://school.example/i", "https://school.example/i"):
        credential = sign_credential(sample_credential(issuer=Profile(id=issuer, name="S")), Ed25519Signer(KEY, f"{issuer}#k"))
        assert verify_credential(credential, key_resolver=lambda _: KEY.public_key(), now=NOW).valid


@pytest.mark.parametrize(
    ("evidence", "outcome", "reason"),
    [
        (None, "skipped", "the credential carries no evidence"),
        ([], "failed", "evidence is present but empty"),
        (["x"], "failed", "evidence[0] is not an object"),
        ([{"type": ["Evidence"], "narrative": "n"}, {"type": ["Other"]}], "failed",
         "evidence[1] has type ['Other'], not Evidence"),
        ([{"type": ["Evidence"], "id": "relative"}], "failed", "evidence[0].id 'relative' is not an IRI"),
        ([{"type": ["Evidence"], "id": 3}], "failed", "evidence[0].id 3 is not an IRI"),
        ([{"type": ["Evidence"], "name": "n"}], "failed", "evidence[0] has neither an id nor a narrative"),
        ([{"type": ["Evidence"], "narrative": "n"}], "passed", "1 evidence item(s), each with an IRI or a narrative"),
        ({"type": ["Evidence"], "id": "https://x.example/e"}, "passed",
         "1 evidence item(s), each with an IRI or a narrative"),
    ],
)
def test_evidence_check(evidence: Any, outcome: str, reason: str) -> None:
    credential = {k: v for k, v in _credential().items() if k != "evidence"}
    if evidence is not None:
        credential["evidence"] = evidence
    report = verify_credential(credential, now=NOW)
    assert (_outcome(report, "evidence"), _reason(report, "evidence")) == (outcome, reason)


def test_evidence_can_be_required() -> None:
    credential = {k: v for k, v in _credential().items() if k != "evidence"}
    report = verify_credential(credential, now=NOW, require_evidence=True)
    assert _outcome(report, "evidence") == "failed" and not report.valid
    assert verify_credential(_credential(), now=NOW, require_evidence=True).valid


def test_bits_are_read_and_written_most_significant_first() -> None:
    bits = bytearray(MIN_BITS // 8)
    bits[0] = 0x01  # index 7 only
    listed = _list_json(bits=bytes(bits))
    assert read_status(listed, _entry(statusListIndex="0")).state == "ok"
    assert read_status(listed, _entry(statusListIndex="7")).state == "set"
    status = StatusList.create(URL, "suspension")
    status._allocated[0] = 0xFF
    status._allocated_count = 8
    status.suspend(0)
    assert [status.get(i) for i in range(8)] == [True] + [False] * 7
    status.suspend(7)
    status.suspend(3)
    status.unsuspend(0)
    assert [status.get(i) for i in range(8)] == [False, False, False, True, False, False, False, True]
    assert status.encoded_list() == encode_bitstring(bytes([0b0001_0001]) + bytes(MIN_BITS // 8 - 1))


def test_encoding_has_no_timestamp() -> None:
    from credentials.multibase import decode_base64url

    raw = decode_base64url(encode_bitstring(bytes(MIN_BITS // 8)))
    assert raw[:3] == b"\x1f\x8b\x08" and raw[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME 0: reproducible


def test_nth_free_counts_free_indices_in_order() -> None:
    status = StatusList.create(URL)
    for byte in range(len(status._allocated)):
        status._allocated[byte] = 0xFF
    free = [1, 6, 8, 15, 16, 17, 1000, MIN_BITS - 1]
    for index in free:
        status._allocated[index // 8] &= ~(0x80 >> (index % 8)) & 0xFF
    status._allocated_count = MIN_BITS - len(free)
    assert [status._nth_free(n) for n in range(len(free))] == free
    with pytest.raises(StatusListError, match=r"^no free index$"):
        status._nth_free(len(free))


def test_allocation_switches_to_a_scan_at_half_full(monkeypatch: pytest.MonkeyPatch) -> None:
    status = StatusList.create(URL)
    half = MIN_BITS // 2
    for byte in range(half // 8):
        status._allocated[byte] = 0xFF
    scans: list[int] = []
    original = status._nth_free
    monkeypatch.setattr(status, "_nth_free", lambda target: scans.append(target) or original(target))
    status._allocated_count = half - 1  # below half: random probing
    status.allocate()
    assert scans == []
    status._allocated_count = half  # half full: a scan of the free indices
    index = status.allocate()
    assert len(scans) == 1 and index >= half


def test_read_status_type_and_list_fields() -> None:
    odd = _list_json(type="XBitstringStatusListCredentialX")
    assert read_status(odd, _entry()).reason == "the status list is not a BitstringStatusListCredential"
    subject = {k: v for k, v in _subject().items() if k != "encodedList"}
    result = read_status(_list_json(credentialSubject=subject), _entry())
    assert result.reason == "encodedList is not multibase base64url: expected base64url multibase ('u' prefix), got ''"


def test_load_document_names_the_limit() -> None:
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(Exception, match=r"^\$\.a(\[0\])+: nested deeper than the limit of 32 levels$"):
        load_document({"a": deep})


def test_unusable_reports_skip_everything_else() -> None:
    report = verify_credential(b"\xff")
    assert [c.outcome for c in report.checks] == ["failed"] + ["skipped"] * (len(CHECK_ORDER) - 1)
    assert {c.reason for c in report.checks[1:]} == {"the input is not a credential"}
    assert report.credential_id is None and report.issuer is None and report.issuer_trusted is None


def test_a_status_list_with_two_subjects_is_refused() -> None:
    status_list = StatusList.create(URL)
    credential = _credential(status_list)
    document = status_list.to_credential(ISSUER, valid_from=VALID_FROM)
    second = dict(document["credentialSubject"], id=f"{URL}#other")
    document["credentialSubject"] = [document["credentialSubject"], second]
    report = verify_credential(credential, status_list=sign_credential(document, SIGNER), now=NOW)
    assert (_outcome(report, "status"), _reason(report, "status")) == (
        "failed",
        f"the status list {URL} cannot be trusted: the status list credential has 2 subjects, not one",
    )
