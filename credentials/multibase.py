"""Multibase and multicodec helpers (base58btc ``z``, base64url ``u``; Ed25519 Multikey)."""

from __future__ import annotations

import base64

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

# Multicodec prefixes (unsigned varint encoded): ed25519-pub 0xed, ed25519-priv 0x1300.
ED25519_PUB_PREFIX = b"\xed\x01"
ED25519_PRIV_PREFIX = b"\x80\x26"


class MultibaseError(ValueError):
    """A value is not the multibase/multicodec encoding expected."""


def encode_base58btc(data: bytes) -> str:
    return "z" + base58.b58encode(data).decode("ascii")


def decode_base58btc(value: str) -> bytes:
    if not value.startswith("z"):
        raise MultibaseError(f"expected base58btc multibase ('z' prefix), got {value[:8]!r}")
    try:
        return b58decode(value[1:])
    except ValueError as exc:
        raise MultibaseError(f"invalid base58btc: {exc}") from exc


_BITCOIN_ALPHABET = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_NOT_A_DIGIT = 0xFF
# byte -> its base58 digit value, or _NOT_A_DIGIT
_DIGITS = bytes(_BITCOIN_ALPHABET.index(c) if c in _BITCOIN_ALPHABET else _NOT_A_DIGIT for c in range(256))


def b58decode(text: str) -> bytes:
    """``base58.b58decode(text)`` with the same answers and errors (trailing whitespace ignored,
    leading "1"s are zero bytes, ``ValueError`` for anything else), but without the package's
    per-byte big-integer division: every proof verification decodes one."""
    raw = text.rstrip().encode("ascii")  # UnicodeEncodeError is a ValueError, as in base58
    body = raw.lstrip(b"1")
    digits = body.translate(_DIGITS)
    bad = digits.find(_NOT_A_DIGIT)
    if bad >= 0:
        raise ValueError(f"Invalid character {chr(body[bad])!r}")
    number = 0
    for digit in digits:
        number = number * 58 + digit
    return b"\0" * (len(raw) - len(body)) + number.to_bytes((number.bit_length() + 7) // 8, "big")


def encode_base64url(data: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_base64url(value: str) -> bytes:
    if not value.startswith("u"):
        raise MultibaseError(f"expected base64url multibase ('u' prefix), got {value[:8]!r}")
    body = value[1:]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError as exc:
        raise MultibaseError(f"invalid base64url: {exc}") from exc


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_multibase(key: Ed25519PublicKey) -> str:
    """The Multikey ``publicKeyMultibase`` of an Ed25519 key (``z6Mk...``)."""
    return encode_base58btc(ED25519_PUB_PREFIX + public_key_bytes(key))


def public_key_from_multibase(value: str) -> Ed25519PublicKey:
    raw = decode_base58btc(value)
    if len(raw) != 34 or not raw.startswith(ED25519_PUB_PREFIX):
        raise MultibaseError(f"{value!r} is not an Ed25519 Multikey public key")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def secret_key_multibase(key: Ed25519PrivateKey) -> str:
    """The Multikey ``secretKeyMultibase`` of an Ed25519 key (used to hand a key to other tools)."""
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return encode_base58btc(ED25519_PRIV_PREFIX + raw)
