"""Our base58 decoder gives the base58 package's answers and errors on any input."""

from __future__ import annotations

import base58
import pytest
from hypothesis import given
from hypothesis import strategies as st

from credentials.multibase import MultibaseError, b58decode, decode_base58btc, encode_base58btc

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# Base58 digits, their look-alikes that are not digits, whitespace and non-ASCII text.
NEAR_BASE58 = st.text(alphabet=st.sampled_from([*ALPHABET, "0", "O", "I", "l", " ", "\t", "\n", "\u00a0", "é", "+"]))


def _outcome(decode: object, text: str) -> tuple[str, object]:
    assert callable(decode)
    try:
        return "ok", decode(text)
    except ValueError as exc:
        return type(exc).__name__, str(exc)


@given(st.binary(max_size=80))
def test_round_trip_matches_base58(data: bytes) -> None:
    text = base58.b58encode(data).decode("ascii")
    assert b58decode(text) == base58.b58decode(text) == data
    assert decode_base58btc(encode_base58btc(data)) == data


@given(NEAR_BASE58 | st.text(max_size=20))
def test_any_text_gets_the_same_answer_or_error(text: str) -> None:
    assert _outcome(b58decode, text) == _outcome(base58.b58decode, text)


@pytest.mark.parametrize("text", ["", "1", "111", "11z", "z ", "abc\n", " abc", "a0c", "abcI", "é"])
def test_edge_cases(text: str) -> None:
    assert _outcome(b58decode, text) == _outcome(base58.b58decode, text)


def test_invalid_proof_value_is_a_multibase_error() -> None:
    with pytest.raises(MultibaseError, match="invalid base58btc: Invalid character '0'"):
        decode_base58btc("z10")
