"""`grader lti`: add, list, deployments, disable/enable, invite and urls, on a SQLite store in a temporary
home; bad input exits 2 naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli.lti import lti_app
from grader.config import Settings, get_settings
from grader.store import tenancy
from grader.store.db import engine_for, session_factory, session_scope, upgrade

ADD = [
    "add", "--tenant", "acme", "--issuer", "https://canvas.example", "--client-id", "c-1",
    "--auth-login-url", "https://canvas.example/auth", "--token-url", "https://canvas.example/token",
    "--jwks-url", "https://canvas.example/jwks", "--deployment", "d-1",
]  # fmt: skip


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GRADER_HOME", str(tmp_path))
    monkeypatch.setenv("GRADER_PUBLIC_URL", "https://grader.example")
    # canvas.example does not resolve: the operator's allowlist lets a registration name it.
    monkeypatch.setenv("GRADER_OUTBOUND_ALLOW", '["canvas.example"]')
    get_settings.cache_clear()
    settings = Settings(home=tmp_path)
    upgrade(settings.resolved_database_url())
    with session_scope(session_factory(engine_for(settings.resolved_database_url()))) as session:
        tenancy.create_tenant(session, "acme", "Acme")
    yield tmp_path
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(lti_app, list(args))
    return result.exit_code, result.output


def test_add_list_deployments_disable_and_urls(home: Path) -> None:
    code, out = run(*ADD, "--json")
    assert code == 0, out
    made = json.loads(out)
    assert made["deployments"] == ["d-1"] and made["active"] is True
    assert run(*ADD)[0] == 1  # the same (issuer, client_id) again
    assert run("deployment", "--tenant", "acme", made["id"], "d-2")[0] == 0
    assert run("disable", "--tenant", "acme", made["id"])[0] == 0
    code, out = run("list", "--tenant", "acme", "--json")
    (listed,) = json.loads(out)
    assert listed["deployments"] == ["d-1", "d-2"] and listed["active"] is False
    code, out = run("urls", "--tenant", "acme")
    assert "https://grader.example/lti/login" in out and "config.json?tenant=acme" in out
    code, out = run("invite", "--tenant", "acme")
    assert code == 0 and out.startswith("https://grader.example/lti/register?invite=")


def test_bad_input_is_named(home: Path) -> None:
    code, out = run(*[a if a != "https://canvas.example/jwks" else "canvas.example/jwks" for a in ADD])
    assert code == 2 and "jwks_url" in out
    code, out = run("list", "--tenant", "nobody")
    assert code == 1 and "no tenant 'nobody'" in out


def test_a_platform_whose_token_url_is_a_private_address_is_refused(home: Path) -> None:
    private = [a if "canvas.example/token" not in a else "http://10.0.0.7/token" for a in ADD]
    code, out = run(*private)
    assert code == 2
    assert "token_url" in out and "private" in out
    code, out = run("list", "--json")
    assert "10.0.0.7" not in out
