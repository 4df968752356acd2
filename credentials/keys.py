"""A file-based keystore of Ed25519 issuer keys, encrypted at rest.

Layout of the keystore directory (mode 0700, files 0600)::

    keystore.json        metadata: controller DID, and per key: id, state, dates, public key
    <key id>.key.json    the private key: scrypt(passphrase) -> AES-256-GCM, key id as associated data

Lifecycle: ``init`` creates the first active key; ``rotate`` creates a new active key and retires
the previous ones; ``retire`` retires one key. A retired key never signs again, but it still
verifies proofs created before it was retired, so credentials issued before a rotation stay valid.

The verification method of a key is ``<controller>#<key id>`` when the keystore has a controller DID
(``did:web`` in production), otherwise the key's own ``did:key``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import BaseModel, ConfigDict

from credentials.did import (
    KeyState,
    ResolvedKey,
    did_key,
    did_key_verification_method,
    did_web_document,
    split_verification_method,
)
from credentials.errors import KeyError_, KeyNotFoundError, KeyRetiredError
from credentials.multibase import public_key_from_multibase, public_key_multibase

METADATA_FILE = "keystore.json"
_LOCK_FILE = ".lock"
# scrypt cost: ~50 ms per unlock on a laptop; unlocked keys are kept in memory by the Keystore.
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1


class KeyRecord(BaseModel):
    """Public metadata of one key (never the private key)."""

    model_config = ConfigDict(extra="forbid")

    key_id: str
    state: KeyState
    created_at: datetime
    retired_at: datetime | None = None
    public_key_multibase: str
    verification_method: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        return public_key_from_multibase(self.public_key_multibase)


class _Metadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    controller: str | None = None
    keys: list[KeyRecord] = []


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # hashlib's scrypt (OpenSSL's) derives the same key as cryptography's and lets other threads run
    # meanwhile: `grader grade` unlocks the keystore beside its fetch. Its memory bound must allow
    # scrypt's 128 * r * n * p bytes (32 MiB at our cost), with room to spare.
    maxmem = 2 * 128 * r * n * p + (1 << 20)
    return hashlib.scrypt(passphrase.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=32)


def encrypt_private_key(key: Ed25519PrivateKey, passphrase: str, key_id: str) -> dict[str, Any]:
    salt = secrets.token_bytes(16)
    nonce = secrets.token_bytes(12)
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    ciphertext = AESGCM(_derive(passphrase, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)).encrypt(
        nonce, raw, key_id.encode("utf-8")
    )
    return {
        "key_id": key_id,
        "kdf": {"name": "scrypt", "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P, "salt": _b64(salt)},
        "cipher": {"name": "AES-256-GCM", "nonce": _b64(nonce)},
        "ciphertext": _b64(ciphertext),
    }


def decrypt_private_key(blob: dict[str, Any], passphrase: str, key_id: str) -> Ed25519PrivateKey:
    try:
        kdf, cipher = blob["kdf"], blob["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "AES-256-GCM" or blob["key_id"] != key_id:
            raise KeyError_(f"key file of {key_id!r} is not in a supported format")
        secret = _derive(passphrase, _unb64(kdf["salt"]), int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
        raw = AESGCM(secret).decrypt(_unb64(cipher["nonce"]), _unb64(blob["ciphertext"]), key_id.encode("utf-8"))
    except InvalidTag:
        raise KeyError_(f"cannot decrypt key {key_id!r}: wrong passphrase or tampered key file") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyError_(f"key file of {key_id!r} is malformed: {exc}") from exc
    return Ed25519PrivateKey.from_private_bytes(raw)


def _write_private(path: Path, data: str) -> None:
    """Write atomically with mode 0600 (the temporary file never has wider permissions)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


class KeystoreSigner:
    """Signs with one keystore key; refuses if the key is retired (checked when signing)."""

    def __init__(self, keystore: Keystore, key_id: str) -> None:
        self._keystore = keystore
        self.key_id = key_id
        self.verification_method = keystore.get(key_id).verification_method

    def sign(self, data: bytes) -> bytes:
        record = self._keystore.get(self.key_id)
        if record.state != "active":
            raise KeyRetiredError(self.key_id)
        return self._keystore._private_key(self.key_id).sign(data)


class Keystore:
    """Open with :meth:`open` or create with :meth:`init`; the passphrase unlocks private keys."""

    def __init__(self, directory: Path, passphrase: str | None) -> None:
        self.directory = Path(directory)
        self._passphrase = passphrase
        self._unlocked: dict[str, Ed25519PrivateKey] = {}
        if not (self.directory / METADATA_FILE).is_file():
            raise KeyError_(f"no keystore in {self.directory} (run 'grader keys init')")

    # -- creation and loading --

    @classmethod
    def init(cls, directory: Path | str, passphrase: str, *, controller: str | None = None) -> Keystore:
        """Create a keystore with one active key. ``controller``: the issuer's did:web, if any."""
        if not passphrase:
            raise KeyError_("an empty passphrase would leave the keys unprotected")
        if controller is not None and not controller.startswith("did:"):
            raise KeyError_(f"controller {controller!r} is not a DID")
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
        with _locked(path):
            if (path / METADATA_FILE).exists():
                raise KeyError_(f"a keystore already exists in {path}")
            metadata = _Metadata(controller=controller)
            _write_private(path / METADATA_FILE, metadata.model_dump_json(indent=2))
            store = cls(path, passphrase)
            store._add_key(metadata)
            store._save(metadata)
        return store

    @classmethod
    def open(cls, directory: Path | str, passphrase: str) -> Keystore:
        """The keystore in `directory`, unlocked by `passphrase` (the caller says where it comes from)."""
        return cls(Path(directory), passphrase)

    @classmethod
    def open_readonly(cls, directory: Path | str) -> Keystore:
        """Public metadata only (list keys, resolve them for verification); cannot sign or change keys."""
        return cls(Path(directory), None)

    def _require_passphrase(self) -> str:
        if self._passphrase is None:
            raise KeyError_("the keystore was opened read-only (no passphrase)")
        return self._passphrase

    def _metadata(self) -> _Metadata:
        return _Metadata.model_validate_json((self.directory / METADATA_FILE).read_text(encoding="utf-8"))

    def _save(self, metadata: _Metadata) -> None:
        _write_private(self.directory / METADATA_FILE, metadata.model_dump_json(indent=2))

    @property
    def controller(self) -> str | None:
        return self._metadata().controller

    # -- queries --

    def list(self) -> list[KeyRecord]:
        return list(self._metadata().keys)

    def get(self, key_id: str) -> KeyRecord:
        for record in self._metadata().keys:
            if record.key_id == key_id:
                return record
        raise KeyNotFoundError(f"no key {key_id!r} in {self.directory}")

    def active_key(self) -> KeyRecord:
        active = [k for k in self._metadata().keys if k.state == "active"]
        if not active:
            raise KeyError_("the keystore has no active key (rotate to create one)")
        return max(active, key=lambda k: k.created_at)

    def issuer_id(self) -> str:
        """The issuer DID: the controller, or (did:key mode) the did:key of the active key."""
        controller = self.controller
        return controller if controller else did_key(self.active_key().public_key)

    def signer(self, key_id: str | None = None) -> KeystoreSigner:
        record = self.get(key_id) if key_id else self.active_key()
        if record.state != "active":
            raise KeyRetiredError(record.key_id)
        return KeystoreSigner(self, record.key_id)

    def did_document(self) -> dict[str, Any]:
        """The did:web ``did.json`` listing every key (retired keys still verify older proofs)."""
        controller = self.controller
        if not controller or not controller.startswith("did:web:"):
            raise KeyError_("the keystore has no did:web controller")
        return did_web_document(controller, [(k.key_id, k.public_key) for k in self.list()])

    def resolve(self, verification_method: str) -> ResolvedKey:
        """A key resolver for the verifier: the key named by ``verification_method`` with its state."""
        for record in self._metadata().keys:
            if record.verification_method == verification_method:
                controller, _ = split_verification_method(verification_method)
                return ResolvedKey(
                    verification_method=verification_method,
                    controller=controller,
                    public_key=record.public_key,
                    source=f"keystore {self.directory}",
                    state=record.state,
                    retired_at=record.retired_at,
                )
        raise KeyNotFoundError(f"{verification_method!r} is not a key of this keystore")

    # -- changes --

    def rotate(self) -> KeyRecord:
        """Create a new active key and retire the previous active keys (they keep verifying)."""
        self._require_passphrase()
        # Prove the passphrase first: otherwise a wrong one would encrypt the new key under it and
        # leave the keystore with keys under two passphrases.
        for record in self.list()[-1:]:
            self._private_key(record.key_id)
        now = datetime.now(UTC)
        with _locked(self.directory):
            metadata = self._metadata()
            for record in metadata.keys:
                if record.state == "active":
                    record.state = "retired"
                    record.retired_at = now
                    self._unlocked.pop(record.key_id, None)
            new = self._add_key(metadata)
            self._save(metadata)
        return new

    def retire(self, key_id: str) -> KeyRecord:
        with _locked(self.directory):
            metadata = self._metadata()
            for record in metadata.keys:
                if record.key_id == key_id:
                    if record.state != "retired":
                        record.state = "retired"
                        record.retired_at = datetime.now(UTC)
                        self._save(metadata)
                    self._unlocked.pop(key_id, None)
                    return record
        raise KeyNotFoundError(f"no key {key_id!r} in {self.directory}")

    def _add_key(self, metadata: _Metadata) -> KeyRecord:
        """Generate a key, write its encrypted file and append it to ``metadata`` (caller locks/saves)."""
        private = Ed25519PrivateKey.generate()
        public = private.public_key()
        multibase = public_key_multibase(public)
        now = datetime.now(UTC)
        key_id = f"key-{now:%Y%m%dT%H%M%S}-{hashlib.sha256(multibase.encode()).hexdigest()[:8]}"
        vm = f"{metadata.controller}#{key_id}" if metadata.controller else did_key_verification_method(public)
        blob = encrypt_private_key(private, self._require_passphrase(), key_id)
        _write_private(self.directory / f"{key_id}.key.json", json.dumps(blob, indent=2))
        record = KeyRecord(
            key_id=key_id, state="active", created_at=now, public_key_multibase=multibase, verification_method=vm
        )
        metadata.keys.append(record)
        self._unlocked[key_id] = private
        return record

    def _private_key(self, key_id: str) -> Ed25519PrivateKey:
        key = self._unlocked.get(key_id)
        if key is None:
            path = self.directory / f"{key_id}.key.json"
            try:
                blob = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise KeyNotFoundError(f"private key file of {key_id!r} is missing") from None
            key = decrypt_private_key(blob, self._require_passphrase(), key_id)
            if public_key_multibase(key.public_key()) != self.get(key_id).public_key_multibase:
                raise KeyError_(f"private key file of {key_id!r} does not match its public key")
            self._unlocked[key_id] = key
        return key


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialize changes between processes sharing the keystore (e.g. several workers)."""
    fd = os.open(directory / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
