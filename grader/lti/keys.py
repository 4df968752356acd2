"""The tool's own RS256 keys: generated on first use, kept in `lti_tool_keys` with the private half
encrypted under GRADER_KEY_PASSPHRASE (scrypt -> AES-256-GCM, the kid as associated data, the scheme of the
issuer keystores), published at /lti/jwks, and used to sign Deep Linking responses and the
client-credentials assertions of the LTI Advantage services.

Every replica reads the same rows, so any of them can sign; a decrypted key is kept in memory by kid.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from typing import Any, NamedTuple

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from jwt.algorithms import RSAAlgorithm
from sqlalchemy.orm import Session

from grader.config import Settings, key_passphrase
from grader.store import lti as store
from grader.store.models import LtiToolKey, utcnow

ALG = "RS256"
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
_unlocked: dict[str, rsa.RSAPrivateKey] = {}
_lock = threading.Lock()


class ToolKeyError(Exception):
    """A stored key cannot be unlocked (wrong GRADER_KEY_PASSPHRASE, a damaged row)."""


class SigningKey(NamedTuple):
    """A tuple `(kid, private_key)` too, as the services' token code unpacks it."""

    kid: str
    private_key: rsa.RSAPrivateKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def encrypt(private_key: rsa.RSAPrivateKey, passphrase: str, kid: str) -> dict[str, Any]:
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, nonce = os.urandom(16), os.urandom(12)
    ciphertext = AESGCM(_derive(passphrase, salt, **_SCRYPT)).encrypt(nonce, der, kid.encode("utf-8"))
    return {
        "kdf": {"name": "scrypt", **_SCRYPT, "salt": _b64(salt)},
        "cipher": {"name": "AES-256-GCM", "nonce": _b64(nonce)},
        "ciphertext": _b64(ciphertext),
    }


def decrypt(blob: dict[str, Any], passphrase: str, kid: str) -> rsa.RSAPrivateKey:
    """Raises ToolKeyError when the passphrase is wrong or the blob damaged."""
    try:
        kdf, cipher = blob["kdf"], blob["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "AES-256-GCM":
            raise ValueError("unknown scheme")
        secret = _derive(passphrase, base64.urlsafe_b64decode(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"])
        der = AESGCM(secret).decrypt(
            base64.urlsafe_b64decode(cipher["nonce"]), base64.urlsafe_b64decode(blob["ciphertext"]), kid.encode()
        )
        key = serialization.load_der_private_key(der, password=None)
    except Exception as exc:  # InvalidTag, KeyError, ValueError: all mean "cannot unlock"
        raise ToolKeyError(f"the LTI tool key {kid!r} cannot be unlocked (is GRADER_KEY_PASSPHRASE right?)") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ToolKeyError(f"the LTI tool key {kid!r} is not an RSA key")
    return key


def public_jwk(private_key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    return {**jwk, "kid": kid, "alg": ALG, "use": "sig"}


def create_key(session: Session, settings: Settings, tenant_id: str | None = None) -> LtiToolKey:
    """A new active key; the ones before it are retired (still published, so tokens they signed verify)."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = _b64(os.urandom(12)).rstrip("=")
    for old in store.tool_keys(session, tenant_id):
        if old.status == "active":
            old.status, old.retired_at = "retired", utcnow()
    row = LtiToolKey(
        tenant_id=tenant_id,
        kid=kid,
        alg=ALG,
        public_jwk=public_jwk(private_key, kid),
        private_key=encrypt(private_key, key_passphrase(settings), kid),
    )
    session.add(row)
    session.flush()
    with _lock:
        _unlocked[kid] = private_key
    return row


def ensure_key(session: Session, settings: Settings) -> None:
    """Create the service-wide key if there is none yet (the caller commits), so the key every later
    signature uses is published before anything is signed with it."""
    if not any(k.status == "active" for k in store.tool_keys(session, None)):
        create_key(session, settings, None)


def signing_key(session: Session, settings: Settings, tenant_id: str | None = None) -> SigningKey:
    """The active key (the tenant's if it has one, else the service-wide one, created on first use).
    Raises ToolKeyError when it cannot be unlocked."""
    rows = [k for k in store.tool_keys(session, tenant_id) if k.status == "active"]
    if not rows and tenant_id is not None:
        rows = [k for k in store.tool_keys(session, None) if k.status == "active"]
    row = rows[-1] if rows else create_key(session, settings, None)
    with _lock:
        found = _unlocked.get(row.kid)
    if found is None:
        found = decrypt(row.private_key, key_passphrase(settings), row.kid)
        with _lock:
            _unlocked[row.kid] = found
    return SigningKey(kid=row.kid, private_key=found)


def jwks(session: Session) -> dict[str, Any]:
    """Every published key (active and retired), as a JWK Set."""
    return {"keys": [dict(k.public_jwk) for k in store.all_tool_keys(session)]}


def sign(key: SigningKey, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key.private_key, algorithm=ALG, headers={"kid": key.kid, "typ": "JWT"})
