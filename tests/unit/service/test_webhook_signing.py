"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", checked as a receiver would."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader.core.webhook_signing import (
    SignatureInvalid,
    backoff_intervals,
    encode_body,
    signature_header,
    verify_signature,
)

SECRET = "whsec_test-secret-0123456789"
BODY = encode_body({"id": "evt_1", "type": "submission.graded", "data": {"score": 87.5}})


def test_header_is_the_documented_hmac() -> None:
    header = signature_header(SECRET, 1_700_000_000, BODY)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_receiver_accepts_a_fresh_genuine_delivery() -> None:
    header = signature_header(SECRET, 1_700_000_000, BODY)
    assert verify_signature(SECRET, header, BODY, now=1_700_000_100) == 1_700_000_000


def test_wrong_secret_tampered_body_and_stale_timestamp_are_refused() -> None:
    header = signature_header(SECRET, 1_700_000_000, BODY)
    with pytest.raises(SignatureInvalid, match="no v1 signature"):
        verify_signature("whsec_other", header, BODY, now=1_700_000_000)
    with pytest.raises(SignatureInvalid, match="no v1 signature"):
        verify_signature(SECRET, header, BODY.replace(b"87.5", b"97.5"), now=1_700_000_000)
    with pytest.raises(SignatureInvalid, match="tolerance"):
        verify_signature(SECRET, header, BODY, now=1_700_000_000 + 301)


def test_moving_the_timestamp_breaks_the_signature() -> None:
    forged = signature_header(SECRET, 1_700_000_000, BODY).replace("t=1700000000", "t=1700000500")
    with pytest.raises(SignatureInvalid):
        verify_signature(SECRET, forged, BODY, now=1_700_000_500)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=123", "t=abc,v1=def", "garbage"])
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(SignatureInvalid):
        verify_signature(SECRET, header, BODY, now=123)


def test_several_signatures_during_secret_rotation() -> None:
    old = signature_header("whsec_old", 1000, BODY)
    new = signature_header(SECRET, 1000, BODY).split(",")[1]
    assert verify_signature(SECRET, f"{old},{new}", BODY, now=1000) == 1000


@given(body=st.binary(max_size=512), secret=st.text(min_size=1, max_size=40), t=st.integers(0, 2**40))
def test_round_trip_for_any_body(body: bytes, secret: str, t: int) -> None:
    assert verify_signature(secret, signature_header(secret, t, body), body, now=t) == t


def test_backoff_is_exponential_and_capped() -> None:
    assert backoff_intervals(5, 2) == [2, 4, 8, 16, 32]
    assert backoff_intervals(4, 1000, cap_s=3000) == [1000, 2000, 3000, 3000]
    assert backoff_intervals(0, 5) == []
