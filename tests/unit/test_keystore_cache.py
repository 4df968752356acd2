"""Keystores are opened once per process: the key is derived once however many credentials are
signed, a rotation or another passphrase never reuses what was unlocked, and unlocking ahead is
joined before the first signature."""

from __future__ import annotations

from pathlib import Path

import pytest

from credentials import keys
from credentials.errors import KeyError_
from credentials.keys import Keystore
from grader.issuing import keystores


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    keystores.forget_all()


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = keys.decrypt_private_key

    def counting(blob: dict[str, object], passphrase: str, key_id: str) -> object:
        calls.append(key_id)
        return real(blob, passphrase, key_id)  # type: ignore[arg-type]

    monkeypatch.setattr(keys, "decrypt_private_key", counting)
    return calls


def test_the_key_is_derived_once_for_many_signatures(tmp_path: Path, derivations: list[str]) -> None:
    Keystore.init(tmp_path / "k", "passphrase one")
    for _ in range(5):
        keystores.open_cached(tmp_path / "k", "passphrase one").signer().sign(b"credential")
    assert len(derivations) == 1


def test_a_rotation_opens_the_keystore_anew(tmp_path: Path) -> None:
    Keystore.init(tmp_path / "k", "passphrase one")
    first = keystores.open_cached(tmp_path / "k", "passphrase one")
    Keystore.open(tmp_path / "k", "passphrase one").rotate()  # another process rotates
    second = keystores.open_cached(tmp_path / "k", "passphrase one")
    assert second is not first
    assert second.signer().key_id == second.active_key().key_id != first.list()[0].key_id


def test_another_passphrase_never_gets_the_unlocked_keys(tmp_path: Path) -> None:
    Keystore.init(tmp_path / "k", "passphrase one")
    keystores.open_cached(tmp_path / "k", "passphrase one").signer().sign(b"x")
    wrong = keystores.open_cached(tmp_path / "k", "not the passphrase")
    with pytest.raises(KeyError_, match="wrong passphrase"):
        wrong.signer().sign(b"x")


def test_no_keystore_is_refused_as_before(tmp_path: Path) -> None:
    with pytest.raises(KeyError_, match="no keystore"):
        keystores.open_cached(tmp_path / "missing", "passphrase one")


def test_unlocking_ahead_derives_the_key_before_the_signature(tmp_path: Path, derivations: list[str]) -> None:
    store = Keystore.init(tmp_path / "k", "passphrase one")
    reopened = keystores.open_cached(tmp_path / "k", "passphrase one")
    assert reopened is not store
    keystores.UnlockAhead(reopened).wait()
    assert len(derivations) == 1
    reopened.signer().sign(b"credential")
    assert len(derivations) == 1


def test_unlocking_ahead_with_a_wrong_passphrase_leaves_the_error_to_the_signature(tmp_path: Path) -> None:
    Keystore.init(tmp_path / "k", "passphrase one")
    wrong = keystores.open_cached(tmp_path / "k", "not the passphrase")
    keystores.UnlockAhead(wrong).wait()
    with pytest.raises(KeyError_, match="wrong passphrase"):
        wrong.signer().sign(b"x")
