"""`grader keys ...` and `grader credential ...` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from credentials.keys import Keystore
from credentials.models import Profile
from credentials.proof import sign_credential
from credentials.status import StatusList
from grader.cli.credentials import credential_app, keys_app
from tests.data.credentials import INTEROP
from tests.unit.credentials.credsamples import sample_credential

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    keys = tmp_path / "keys"
    monkeypatch.setenv("GRADER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GRADER_KEYS_DIR", str(keys))
    monkeypatch.setenv("GRADER_KEY_PASSPHRASE", "s3cret passphrase")
    monkeypatch.setenv("COLUMNS", "200")
    return keys


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def _issue(keys: Path, **kwargs: Any) -> dict[str, Any]:
    store = Keystore.open(keys, "s3cret passphrase")
    return sign_credential(sample_credential(issuer=Profile(id=store.issuer_id()), **kwargs), store.signer())


def test_keys_lifecycle(env: Path) -> None:
    result = runner.invoke(keys_app, ["init", "--json"])
    assert result.exit_code == 0, result.output
    first = json.loads(result.output)["key"]
    assert first["state"] == "active" and json.loads(result.output)["issuer"].startswith("did:key:")

    assert runner.invoke(keys_app, ["init"]).exit_code == 2  # never overwrites a keystore

    rotated = runner.invoke(keys_app, ["rotate", "--json"])
    assert rotated.exit_code == 0, rotated.output
    second = json.loads(rotated.output)

    listing = json.loads(runner.invoke(keys_app, ["list", "--json"]).output)
    assert [(k["key_id"], k["state"]) for k in listing] == [(first["key_id"], "retired"), (second["key_id"], "active")]

    table = runner.invoke(keys_app, ["list"])
    assert table.exit_code == 0 and second["key_id"] in table.output and "retired" in table.output

    retired = runner.invoke(keys_app, ["retire", second["key_id"]])
    assert retired.exit_code == 0 and "retired" in retired.output
    assert runner.invoke(keys_app, ["retire", "key-unknown"]).exit_code == 2


def test_without_a_passphrase_a_local_one_is_generated_and_kept_private(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRADER_KEY_PASSPHRASE")
    result = runner.invoke(keys_app, ["init"])
    assert result.exit_code == 0, result.output
    assert "GRADER_KEY_PASSPHRASE" in result.output
    generated = tmp_path / "home" / "local-key-passphrase"
    assert generated.stat().st_mode & 0o777 == 0o600
    # The same passphrase unlocks the keys later: rotation works without the variable too.
    assert runner.invoke(keys_app, ["rotate"]).exit_code == 0
    # A wrong passphrase does not.
    monkeypatch.setenv("GRADER_KEY_PASSPHRASE", "not the one")
    assert runner.invoke(keys_app, ["rotate"]).exit_code == 2


def test_did_web_keystore_and_did_document(env: Path, tmp_path: Path) -> None:
    assert runner.invoke(keys_app, ["init", "--did-web", "grader.example.edu"]).exit_code == 0
    credential = _write(tmp_path / "c.json", _issue(env))
    did_json = tmp_path / "did.json"
    assert runner.invoke(keys_app, ["did-document", "--out", str(did_json)]).exit_code == 0
    assert json.loads(did_json.read_text())["id"] == "did:web:grader.example.edu"
    ok = runner.invoke(credential_app, ["verify", str(credential), "--did-document", str(did_json)])
    assert ok.exit_code == 0, ok.output
    # the keystore knows the key, but a verifier elsewhere needs did.json: simulate with an empty keys dir
    other = runner.invoke(
        credential_app, ["verify", str(credential), "--json"], env={"GRADER_KEYS_DIR": str(tmp_path / "none")}
    )
    assert other.exit_code == 1
    assert json.loads(other.output)["failed"] == ["issuer_key"]


def test_verify_names_each_check_and_exit_codes(env: Path, tmp_path: Path) -> None:
    runner.invoke(keys_app, ["init"])
    good = _write(tmp_path / "good.json", _issue(env))
    result = runner.invoke(credential_app, ["verify", str(good)])
    assert result.exit_code == 0, result.output
    for name in ("json", "schema", "contexts", "terms", "proof", "issuer_key", "validity", "status", "evidence"):
        assert name in result.output
    assert "VALID" in result.output

    tampered = json.loads(good.read_text())
    tampered["credentialSubject"]["achievement"]["name"] = "Forged"
    bad = _write(tmp_path / "bad.json", tampered)
    result = runner.invoke(credential_app, ["verify", str(bad)])
    assert result.exit_code == 1
    assert "INVALID: failed proof" in result.output
    report = json.loads(runner.invoke(credential_app, ["verify", str(bad), "--json"]).output)
    assert report["valid"] is False and report["failed"] == ["proof"]

    (tmp_path / "junk.json").write_text("{not json")
    assert runner.invoke(credential_app, ["verify", str(tmp_path / "junk.json")]).exit_code == 2
    not_vc = _write(tmp_path / "not-vc.json", {"hello": "world"})
    result = runner.invoke(credential_app, ["verify", str(not_vc)])
    assert result.exit_code == 2 and "UNUSABLE" in result.output
    assert runner.invoke(credential_app, ["verify", str(tmp_path / "missing.json")]).exit_code == 2


def test_verify_with_status_list(env: Path, tmp_path: Path) -> None:
    runner.invoke(keys_app, ["init"])
    store = Keystore.open(env, "s3cret passphrase")
    status = StatusList.create("https://grader.example.edu/status/7")
    entry = status.allocate_entry()
    credential = _write(tmp_path / "c.json", _issue(env, status=entry))
    status.revoke(int(entry.statusListIndex))
    published = _write(tmp_path / "list.json", status.issue_credential(store.issuer_id(), store.signer()))
    result = runner.invoke(credential_app, ["verify", str(credential), "--status-list", str(published), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["failed"] == ["status"]
    assert "revoked" in next(c["reason"] for c in report["checks"] if c["name"] == "status")


def test_verify_interop_file_with_a_given_key() -> None:
    vm = "https://example.com/issuers/876543#z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi"
    path = str(INTEROP / "simple.json")
    assert runner.invoke(credential_app, ["verify", path]).exit_code == 1
    key = f"{vm}=z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi"
    result = runner.invoke(credential_app, ["verify", path, "--key", key])
    assert result.exit_code == 0, result.output
    assert runner.invoke(credential_app, ["verify", path, "--key", "nonsense"]).exit_code == 2


def test_bake_unbake_and_verify_png(env: Path, tmp_path: Path) -> None:
    runner.invoke(keys_app, ["init"])
    credential = _issue(env)
    source = _write(tmp_path / "c.json", credential)
    png = tmp_path / "badge.png"
    result = runner.invoke(credential_app, ["bake", str(source), "--out", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes().startswith(b"\x89PNG")
    unbaked = runner.invoke(credential_app, ["unbake", str(png)])
    assert unbaked.exit_code == 0
    assert json.loads(unbaked.output) == credential
    assert runner.invoke(credential_app, ["verify", str(png)]).exit_code == 0
    assert runner.invoke(credential_app, ["unbake", str(source)]).exit_code == 2


def test_unbake_interop_badges() -> None:
    result = runner.invoke(credential_app, ["unbake", str(INTEROP / "simple-json.png")])
    assert result.exit_code == 0 and json.loads(result.output)["type"]
    jwt = runner.invoke(credential_app, ["unbake", str(INTEROP / "simple-jwt.png")])
    assert jwt.exit_code == 0 and jwt.output.strip().count(".") == 2


def test_main_cli_mounts_the_sub_apps() -> None:
    from grader.cli.main import app  # a broken import fails here, never removes the command quietly

    result = runner.invoke(app, ["credential", "--help"])
    assert result.exit_code == 0 and "verify" in result.output


def test_verify_with_a_trust_list(env: Path, tmp_path: Path) -> None:
    assert runner.invoke(keys_app, ["init"]).exit_code == 0
    credential = _issue(env)
    path = _write(tmp_path / "c.json", credential)
    issuer = credential["issuer"]["id"]
    trusted = runner.invoke(credential_app, ["verify", str(path), "--trust", issuer, "--trust", "did:web:x.example"])
    assert trusted.exit_code == 0, trusted.output
    assert "is in the trust list" in trusted.output
    report = json.loads(runner.invoke(credential_app, ["verify", str(path), "--trust", issuer, "--json"]).output)
    assert report["issuer_trusted"] is True and report["issuer"] == issuer
    other = runner.invoke(credential_app, ["verify", str(path), "--trust", "did:web:x.example"])
    assert other.exit_code == 1 and "is NOT in the trust list" in other.output and "issuer_key" in other.output
    plain = json.loads(runner.invoke(credential_app, ["verify", str(path), "--json"]).output)
    assert plain["issuer_trusted"] is None


def test_verify_with_a_list_fetched_from_its_url(env: Path, tmp_path: Path) -> None:
    assert runner.invoke(keys_app, ["init"]).exit_code == 0
    store = Keystore.open(env, "s3cret passphrase")
    status = StatusList.create("https://grader.example.edu/status/cli")
    credential = _issue(env, status=status.allocate_entry())
    status.revoke(int(credential["credentialStatus"]["statusListIndex"]))
    document = status.issue_credential(store.issuer_id(), store.signer())
    document_path = _write(tmp_path / "list.json", document)
    cpath = _write(tmp_path / "c.json", credential)
    url = credential["credentialStatus"]["statusListCredential"]
    by_id = runner.invoke(credential_app, ["verify", str(cpath), "--status-list", str(document_path)])
    assert by_id.exit_code == 1 and "revoked" in by_id.output
    by_url = runner.invoke(credential_app, ["verify", str(cpath), "--status-list", f"{url}={document_path}"])
    assert by_url.exit_code == 1 and "revoked" in by_url.output
    elsewhere = runner.invoke(
        credential_app, ["verify", str(cpath), "--status-list", f"https://other.example/l={document_path}", "--json"]
    )
    assert elsewhere.exit_code == 1  # the list still names itself by the entry's URL: it is used
    missing = runner.invoke(credential_app, ["verify", str(cpath), "--status-list", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "cannot read status list" in missing.output
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    refused = runner.invoke(credential_app, ["verify", str(cpath), "--status-list", str(deep)])
    assert refused.exit_code == 2 and "nested too deeply" in refused.output
