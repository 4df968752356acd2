"""Keystores opened once per process: the private keys are derived from the passphrase (scrypt, about
a tenth of a second each) on first use and kept by the Keystore object, so a worker that signs many
credentials pays the derivation once per key, not once per credential.

A cached keystore is dropped as soon as its metadata file changes (a rotation, a new keystore in the
same place), and it is keyed by the passphrase's digest too: a different passphrase never gets keys
another one unlocked. Nothing is written anywhere; the keys live only in this process's memory, as
they do while one signature is made.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from credentials.errors import CredentialError
from credentials.keys import METADATA_FILE, Keystore

_lock = threading.Lock()
_opened: dict[tuple[str, str], tuple[tuple[int, int, int, int], Keystore]] = {}


def _stamp(metadata: Path) -> tuple[int, int, int, int] | None:
    try:
        info = metadata.stat()
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size


def open_cached(directory: Path, passphrase: str) -> Keystore:
    """The keystore in `directory` unlocked by `passphrase`: the same object on every call of this
    process while its metadata is unchanged. Raises credentials.errors.KeyError_ as Keystore.open does
    (no keystore there)."""
    path = Path(os.path.realpath(directory))
    stamp = _stamp(path / METADATA_FILE)
    if stamp is None:
        return Keystore.open(path, passphrase)  # raises: no keystore there
    key = (str(path), hashlib.sha256(passphrase.encode("utf-8")).hexdigest())
    with _lock:
        found = _opened.get(key)
        if found is not None and found[0] == stamp:
            return found[1]
        keystore = Keystore.open(path, passphrase)
        _opened[key] = (stamp, keystore)
        return keystore


def forget_all() -> None:
    """Drop every cached keystore (and with them the unlocked keys) of this process."""
    with _lock:
        _opened.clear()


class UnlockAhead:
    """Derives the active key in a background thread while the caller does other work (fetching,
    starting containers), so the first signature does not wait for scrypt; `wait` joins it. A failure
    (a wrong passphrase, no key) is left for the real signature to raise where it is handled."""

    def __init__(self, keystore: Keystore) -> None:
        self._thread = threading.Thread(target=self._unlock, args=(keystore,), name="keystore-unlock", daemon=True)
        self._thread.start()

    @staticmethod
    def _unlock(keystore: Keystore) -> None:
        # Signing derives the private key and keeps it in the keystore; the signature is thrown away.
        try:
            keystore.signer().sign(b"unlock ahead")
        except CredentialError:
            return

    def wait(self) -> None:
        self._thread.join()
