"""`grader ownership`: claim tokens, fingerprints and a learner's keys in the store, from the command line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.config import Settings, claim_secret, get_settings
from grader.core.ownership import claim_token
from grader.store import tenancy
from grader.store.db import engine_for, session_factory, session_scope, upgrade

DATA = Path(__file__).resolve().parents[2] / "data" / "authenticity"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("GRADER_HOME", str(tmp_path))
    get_settings.cache_clear()
    settings = get_settings()
    upgrade(settings.resolved_database_url())
    with session_scope(session_factory(engine_for(settings.resolved_database_url()))) as session:
        tenancy.create_tenant(session, "acme", "Acme")
    yield settings
    get_settings.cache_clear()


def test_the_claim_token_is_the_services(home: Settings) -> None:
    result = CliRunner().invoke(app, ["ownership", "claim-token", "-t", "acme", "-l", "ann", "-a", "py-ledger"])
    assert result.exit_code == 0
    assert result.output.strip() == claim_token(claim_secret(home), "acme", "py-ledger", "ann")


def test_fingerprints_and_keys_in_the_store(home: Settings) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["ownership", "fingerprint", str(DATA / "learner-ssh.pub")])
    assert shown.exit_code == 0 and shown.output.strip() == "ssh SHA256:18Nfh0DSEAoRA06kTlh4y0YVtXxHFqGfBAQaoovqHg4"
    added = runner.invoke(app, ["ownership", "key", "add", str(DATA / "learner-openpgp.asc"), "-t", "acme", "-l", "ann"])
    assert added.exit_code == 0 and "registered openpgp DDFF6E8E66F995438F46AC9BFAFFDB5CAD292999" in added.output
    listed = runner.invoke(app, ["ownership", "key", "list", "-t", "acme", "-l", "ann"])
    key_id = listed.output.split()[0]
    assert "DDFF6E8E66F995438F46AC9BFAFFDB5CAD292999" in listed.output
    assert runner.invoke(app, ["ownership", "key", "remove", key_id, "-t", "acme", "-l", "bob"]).exit_code == 2
    assert runner.invoke(app, ["ownership", "key", "remove", key_id, "-t", "acme", "-l", "ann"]).exit_code == 0
    assert runner.invoke(app, ["ownership", "key", "list", "-t", "acme", "-l", "ann"]).output == ""
    unknown = runner.invoke(app, ["ownership", "key", "list", "-t", "nope", "-l", "ann"])
    assert unknown.exit_code == 2 and "no tenant 'nope'" in unknown.output


def test_a_file_that_is_no_key_is_refused(home: Settings, tmp_path: Path) -> None:
    bogus = tmp_path / "key.pub"
    bogus.write_text("ssh-dss AAAA me\n")
    result = CliRunner().invoke(app, ["ownership", "fingerprint", str(bogus)])
    assert result.exit_code == 2 and "not a supported SSH key type" in result.output
