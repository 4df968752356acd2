"""The held-back forgery set, run through `grader credential verify` and `POST /api/v1/verify`.

Every case gets its verdict with the failed check named, never a traceback, and an exit code of 0, 1
or 2 (the API: a report, or a problem document for a body it does not read at all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from credentials import canon
from credentials.inputs import MAX_BYTES
from credentials.proof import unsecured_document
from credentials.status import StatusList
from grader.cli.main import app as cli_app
from grader.config import KEY_PASSPHRASE_ENV as PASSPHRASE_ENV
from grader.config import Settings
from grader.http import create_app
from grader.issuing import status_lists
from grader.issuing import tenant as issuing
from grader.store import tenancy
from grader.store.db import make_engine, session_factory, session_scope, upgrade
from grader.store.models import StatusList as StatusListRow
from tests.credentials.forgeries.cases import CLASSES, Forgery, Issuer, all_cases, local_issuer

ROOT = Path(__file__).resolve().parents[3]
LOCAL = local_issuer()
CASES = all_cases(LOCAL)
runner = CliRunner()


def _ids(cases: list[Forgery]) -> list[str]:
    return [case.name for case in cases]


def test_every_class_is_generated() -> None:
    assert {case.kind for case in CASES} == set(CLASSES)
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", [c for c in CASES if c.same_dataset_as is not None], ids=lambda c: c.name)
def test_hidden_field_forgeries_keep_the_issuers_signature(case: Forgery) -> None:
    # They are real forgeries: the signed dataset (so the issuer's proof) is unchanged.
    original = canon.canonicalize(unsecured_document(case.same_dataset_as or {}))
    assert canon.canonicalize(unsecured_document(case.document())) == original


# ------------------------------------------------------------------------------------------------ CLI


def _cli_verify(case: Forgery, tmp_path: Path) -> tuple[int, dict[str, Any] | None, str]:
    credential = tmp_path / "credential.json"
    credential.write_bytes(case.body)
    args = ["credential", "verify", str(credential), "--json"]
    for position, (url, document) in enumerate(case.lists):
        path = tmp_path / f"list-{position}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        args += ["--status-list", f"{url}={path}" if url else str(path)]
    result = runner.invoke(cli_app, args)
    # A crash would be an exception other than the SystemExit carrying the exit code.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    try:
        report = json.loads(result.stdout)
    except ValueError:
        report = None
    return result.exit_code, report, result.output


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_cli_verdict_and_failed_check(case: Forgery, tmp_path: Path) -> None:
    code, report, output = _cli_verify(case, tmp_path)
    assert code == case.exit_code, output[-2000:]
    assert report is not None, output[-2000:]
    if case.failed is None:
        assert report["valid"] and report["failed"] == []
    else:
        assert case.failed in report["failed"], report["failed"]


def test_cli_as_a_process_prints_no_traceback(tmp_path: Path) -> None:
    # The real entry point, for the inputs that crashed it before (depth, surrogates, duplicates).
    picked = [c for c in CASES if c.kind in ("depth", "surrogates", "duplicate keys", "limits")]
    env = {**os.environ, "GRADER_HOME": str(tmp_path / "home")}
    for case in picked:
        path = tmp_path / f"{case.name}.json"
        path.write_bytes(case.body)
        result = subprocess.run(
            [sys.executable, "-m", "grader", "credential", "verify", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env=env,
        )
        assert result.returncode == case.exit_code, (case.name, result.stderr[-2000:])
        assert "Traceback" not in result.stderr + result.stdout, case.name


# ------------------------------------------------------------------------------------------------ API


class Service:
    """The API in-process on SQLite, with one tenant whose did:web issuer signs the cases."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.factory = session_factory(make_engine(settings.resolved_database_url()))
        with session_scope(self.factory) as session:
            tenant = tenancy.create_tenant(session, "acme", "Acme Academy")
            issuing.init_tenant_keys(session, settings, tenant)
            keystore = issuing.open_keystore(settings, tenant)
            row = status_lists.current_row(session, tenant.id)
            self.row_id = row.id
            status_list = status_lists.load(row, settings.public_url)
            self.issuer = Issuer(keystore.issuer_id(), keystore.signer(), status_list, changed=self._store)

    def _store(self, status_list: StatusList) -> None:
        with session_scope(self.factory) as session:
            row = session.get(StatusListRow, self.row_id)
            assert row is not None
            status_lists.save(session, row, status_list)

    def verify(self, body: bytes) -> Any:
        return self.client.post("/api/v1/verify", content=body, headers={"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp("service")
    previous = os.environ.get(PASSPHRASE_ENV)
    os.environ[PASSPHRASE_ENV] = "forgery suite passphrase"
    settings = Settings(home=home, redis_url="redis://127.0.0.1:1/0", public_url="https://grader.example")
    upgrade(settings.resolved_database_url())
    try:
        with TestClient(create_app(settings)) as client:
            yield Service(client, settings)
    finally:
        if previous is None:
            os.environ.pop(PASSPHRASE_ENV, None)
        else:
            os.environ[PASSPHRASE_ENV] = previous


@pytest.fixture(scope="module")
def service_cases(service: Service) -> dict[str, Forgery]:
    return {case.name: case for case in all_cases(service.issuer)}


@pytest.mark.parametrize("name", _ids(CASES))
def test_api_verdict_and_failed_check(name: str, service: Service, service_cases: dict[str, Forgery]) -> None:
    case = service_cases[name]
    answer = service.verify(case.body)
    if len(case.body) > MAX_BYTES:
        assert answer.status_code == 413 and answer.headers["content-type"] == "application/problem+json"
        return
    assert answer.status_code == 200, answer.text[:2000]
    report = answer.json()
    failed = [c["name"] for c in report["checks"] if c["outcome"] == "failed"]
    assert report["verified"] is (case.verdict == "valid"), report["errors"]
    if case.failed is not None:
        assert case.failed in failed, report["errors"]
    # The API uses the list the service publishes (fetched from the URL the entry names), never one
    # the caller picked: a revoked credential shows as revoked whatever lists the case carries.
    if case.kind in ("revoked", "other lists", "stale lists"):
        assert report["revoked"] is True


def test_api_says_whether_the_issuer_is_trusted(service: Service, service_cases: dict[str, Forgery]) -> None:
    fresh = service.verify(service_cases["fresh-credential"].body).json()
    assert fresh["verified"] and fresh["issuer"] == service.issuer.id and fresh["issuer_trusted"] is True
    stranger = service.verify(CASES[0].body).json()  # the local did:key issuer is not a tenant
    assert stranger["issuer"] == LOCAL.id and stranger["issuer_trusted"] is False


def test_api_refuses_bodies_that_are_not_objects(service: Service) -> None:
    for body in (b"[]", b'"text"', b"[" * 10_000 + b"]" * 10_000, b""):
        answer = service.verify(body)
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"


def test_published_lists_expire_and_are_signed_anew(service: Service) -> None:
    url = status_lists.list_url(service.settings.public_url, service.row_id)
    path = "/" + url.split("/", 3)[3]
    first = service.client.get(path).json()
    valid_from = datetime.fromisoformat(first["validFrom"].replace("Z", "+00:00"))
    valid_until = datetime.fromisoformat(first["validUntil"].replace("Z", "+00:00"))
    assert valid_until - valid_from == status_lists.LIST_VALIDITY
    assert service.client.get(path).json() == first  # cached while fresh
    with session_scope(service.factory) as session:
        row = session.get(StatusListRow, service.row_id)
        assert row is not None and row.document is not None
        assert not status_lists.refresh_if_stale(row, now=valid_until - status_lists.REFRESH_MARGIN - timedelta(seconds=1))
        assert status_lists.refresh_if_stale(row, now=valid_until - status_lists.REFRESH_MARGIN)
        assert row.document is None
    second = service.client.get(path).json()  # signed anew (the same second gives the same bytes)
    assert second["validUntil"] >= first["validUntil"] and second["proof"][0]["proofValue"]
    with session_scope(service.factory) as session:
        row = session.get(StatusListRow, service.row_id)
        assert row is not None and row.document == second


def test_needs_refresh() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert status_lists.needs_refresh(None, now)
    assert status_lists.needs_refresh({"id": "x"}, now)
    assert status_lists.needs_refresh({"validUntil": "soon"}, now)
    assert status_lists.needs_refresh({"validUntil": "2026-01-01T07:00:00"}, now)  # no timezone
    assert status_lists.needs_refresh({"validUntil": "2026-01-01T06:00:00Z"}, now)
    assert not status_lists.needs_refresh({"validUntil": "2026-01-01T06:00:01Z"}, now)
