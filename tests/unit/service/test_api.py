"""The API in-process on SQLite: uploads (tarball and multipart), spec errors, immutability,
submission policy from the spec, scopes and tenant isolation. Redis is not running here: the API
must still accept submissions (the reconciler enqueues them later)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from grader.config import Settings
from grader.core.policy import Scope
from grader.http import create_app
from grader.store import catalog, tenancy
from grader.store.db import engine_for, session_factory, session_scope, upgrade
from grader.store.models import Assignment, AssignmentVersion

LEDGER = Path(__file__).resolve().parents[3] / "assignments" / "py-ledger"
PROBLEM = "application/problem+json"


def folder_files(root: Path, spec_edit: dict[str, Any] | None = None) -> dict[str, bytes]:
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "solutions" not in p.parts and "__pycache__" not in p.parts
    }
    if spec_edit is not None:
        spec = yaml.safe_load(files["assignment.yaml"])
        for key, value in spec_edit.items():
            if isinstance(value, dict) and isinstance(spec.get(key), dict):
                spec[key].update(value)
            else:
                spec[key] = value
        files["assignment.yaml"] = yaml.safe_dump(spec).encode()
    return files


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Api:
    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def tenant(self, slug: str, *scopes: Scope) -> str:
        factory = session_factory(engine_for(self.settings.resolved_database_url()))
        with session_scope(factory) as session:
            found = tenancy.tenant_by_slug(session, slug) or tenancy.create_tenant(session, slug, slug)
            return tenancy.create_api_key(session, found.id, list(scopes) or [Scope.ADMIN])[1]

    def call(self, method: str, path: str, key: str | None, **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {key}"} if key else {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def upload(self, key: str, files: dict[str, bytes], path: str = "/api/v1/assignments") -> Any:
        return self.call("POST", path, key, content=tarball(files), headers={"Content-Type": "application/gzip"})

    def settle(self, slug: str, version: str, refusals: list[str]) -> None:
        """Stands in for the worker's check job (no worker runs here): records its outcome in the store."""
        factory = session_factory(engine_for(self.settings.resolved_database_url()))
        with session_scope(factory) as session:
            rows = session.scalars(
                select(AssignmentVersion)
                .join(Assignment)
                .where(Assignment.slug == slug, AssignmentVersion.version == version, AssignmentVersion.status == "checking")
            ).all()
            assert rows
            for row in rows:
                catalog.settle_check(row, {"rows": [], "problems": refusals}, refusals)

    def publish(self, key: str, files: dict[str, bytes]) -> Any:
        """Upload, then settle the check as passed: what the service does once the reference grades right."""
        answer = self.upload(key, files)
        if answer.status_code in (200, 202):
            body = answer.json()
            self.settle(body["assignment"], body["version"]["version"], [])
        return answer


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = Settings(
        home=tmp_path,
        redis_url="redis://127.0.0.1:1/0",  # nothing listens: enqueueing fails and must not matter
        allowed_hosts=["git.example"],
        public_url="https://grader.example",
    )
    upgrade(settings.resolved_database_url())
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings)


def submission(repo: str = "https://git.example/ann/ledger.git", learner: str = "ann@example.org") -> dict[str, str]:
    return {"assignment": "py-ledger", "learner": learner, "repo_url": repo}


def test_multipart_upload_of_the_folder(api: Api) -> None:
    key = api.tenant("acme")
    parts = [("files", (name, data, "application/octet-stream")) for name, data in folder_files(LEDGER).items()]
    answer = api.call("POST", "/api/v1/assignments", key, files=parts)
    assert answer.status_code == 202, answer.text
    assert answer.json()["version"]["test_count"] > 0
    assert answer.json()["version"]["status"] == "checking"
    assert answer.headers["location"] == "/api/v1/assignments/py-ledger/versions/1.0.0"


def test_spec_errors_name_file_and_field(api: Api) -> None:
    key = api.tenant("acme")
    broken = folder_files(LEDGER, {"version": "one", "submission": {"max_attempts": 0}})
    checked = api.upload(key, broken, "/api/v1/assignments/validate").json()
    assert checked["valid"] is False
    fields = {e["field"]: e for e in checked["errors"]}
    assert {"version", "submission.max_attempts"} <= set(fields)
    assert fields["version"]["file"] == "assignment.yaml"  # relative to the upload, not the server's disk
    refused = api.upload(key, broken)
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    assert {e["location"] for e in refused.json()["errors"]} >= {"version", "submission.max_attempts"}
    assert api.call("GET", "/api/v1/assignments", key).json() == []


def test_versions_are_immutable(api: Api) -> None:
    key = api.tenant("acme")
    assert api.publish(key, folder_files(LEDGER)).status_code == 202
    changed = folder_files(LEDGER, {"title": "Another title"})
    conflict = api.upload(key, changed)
    assert conflict.status_code == 409 and "new version" in conflict.json()["detail"]
    bumped = api.publish(key, folder_files(LEDGER, {"title": "Another title", "version": "1.1.0"}))
    assert bumped.status_code == 202
    versions = api.call("GET", "/api/v1/assignments/py-ledger/versions", key).json()
    assert [v["version"] for v in versions] == ["1.0.0", "1.1.0"]
    assert api.call("GET", "/api/v1/assignments/py-ledger", key).json()["latest_version"] == "1.1.0"


def test_bad_uploads_are_problems(api: Api) -> None:
    key = api.tenant("acme")
    wrong_type = api.call("POST", "/api/v1/assignments", key, content=b"{}", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415 and wrong_type.headers["content-type"] == PROBLEM
    garbage = api.call(
        "POST", "/api/v1/assignments", key, content=b"not gzip", headers={"Content-Type": "application/gzip"}
    )
    assert garbage.status_code == 422 and "tar" in garbage.json()["detail"]
    escaping = api.upload(key, {"../../evil.py": b"x", "assignment.yaml": b"id: x"})
    assert escaping.status_code == 422 and "unsafe path" in escaping.json()["detail"]


def test_submission_policy_comes_from_the_spec(api: Api) -> None:
    key = api.tenant("acme")
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    spec = {"submission": {"max_attempts": 2, "cooldown_s": 0, "due": past, "late": "accept"}}
    assert api.publish(key, folder_files(LEDGER, spec)).status_code == 202
    first = api.call("POST", "/api/v1/submissions", key, json=submission())
    assert first.status_code == 201, first.text
    assert first.json()["late"] is True and first.json()["attempt"] == 1 and first.json()["state"] == "queued"
    assert api.call("POST", "/api/v1/submissions", key, json=submission()).json()["attempt"] == 2
    third = api.call("POST", "/api/v1/submissions", key, json=submission())
    assert third.status_code == 409 and third.json()["type"] == "/problems/attempts-exhausted"
    other_learner = api.call("POST", "/api/v1/submissions", key, json=submission(learner="bob@example.org"))
    assert other_learner.status_code == 201

    rejecting = {"version": "2.0.0", "submission": {"due": past, "late": "reject"}}
    assert api.publish(key, folder_files(LEDGER, rejecting)).status_code == 202
    late = api.call("POST", "/api/v1/submissions", key, json=submission(learner="cara@example.org"))
    assert late.status_code == 409 and late.json()["type"] == "/problems/past-due"


def test_cooldown_answers_429_with_retry_after(api: Api) -> None:
    key = api.tenant("acme")
    assert api.publish(key, folder_files(LEDGER, {"submission": {"cooldown_s": 600}})).status_code == 202
    assert api.call("POST", "/api/v1/submissions", key, json=submission()).status_code == 201
    again = api.call("POST", "/api/v1/submissions", key, json=submission())
    assert again.status_code == 429 and 590 <= int(again.headers["retry-after"]) <= 600


def test_repo_urls_outside_the_policy_are_refused_at_the_door(api: Api) -> None:
    key = api.tenant("acme")
    api.publish(key, folder_files(LEDGER))
    for url in ("file:///etc/passwd", "https://evil.example/x.git", "http://git.example/x.git", "--upload-pack=x"):
        answer = api.call("POST", "/api/v1/submissions", key, json=submission(repo=url))
        assert answer.status_code == 422, url
        assert answer.json()["type"] == "/problems/repo-url-refused"
        assert answer.json()["errors"][0]["location"] == "body.repo_url"


def test_scopes_are_enforced(api: Api) -> None:
    admin = api.tenant("acme")
    submit = api.tenant("acme", Scope.SUBMIT)
    author = api.tenant("acme", Scope.AUTHOR)
    assert api.upload(submit, folder_files(LEDGER)).status_code == 403
    assert api.publish(author, folder_files(LEDGER)).status_code == 202
    assert api.call("POST", "/api/v1/submissions", author, json=submission()).status_code == 403
    assert api.call("POST", "/api/v1/submissions", submit, json=submission()).status_code == 201
    assert api.call("GET", "/api/v1/webhooks", author).status_code == 403
    assert api.call("GET", "/api/v1/webhooks", admin).status_code == 200
    made = api.call("POST", "/api/v1/api-keys", admin, json={"scopes": ["submit"]}).json()
    assert api.call("GET", "/api/v1/assignments", made["key"]).status_code == 200
    assert api.call("DELETE", f"/api/v1/api-keys/{made['id']}", admin).status_code == 204
    revoked = api.call("GET", "/api/v1/assignments", made["key"])
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


def test_tenants_see_nothing_of_each_other(api: Api) -> None:
    acme = api.tenant("acme")
    globex = api.tenant("globex")
    api.publish(acme, folder_files(LEDGER))
    created = api.call("POST", "/api/v1/submissions", acme, json=submission(), headers={"Idempotency-Key": "k"})
    mine = created.json()["id"]
    for path in (f"/api/v1/submissions/{mine}", f"/api/v1/submissions/{mine}/history", "/api/v1/assignments/py-ledger"):
        assert api.call("GET", path, globex).status_code == 404
    assert api.call("GET", "/api/v1/submissions", globex).json()["items"] == []
    # the same idempotency key in another tenant is another tenant's business: not a replay of acme's
    api.publish(globex, folder_files(LEDGER))
    theirs = api.call("POST", "/api/v1/submissions", globex, json=submission(), headers={"Idempotency-Key": "k"})
    assert theirs.status_code == 201 and theirs.json()["id"] != mine


def test_only_a_version_that_passed_its_check_takes_submissions(api: Api) -> None:
    key = api.tenant("acme")
    uploaded = api.upload(key, folder_files(LEDGER))
    assert uploaded.status_code == 202 and uploaded.json()["version"]["status"] == "checking"
    early = api.call("POST", "/api/v1/submissions", key, json=submission())
    assert early.status_code == 409 and early.json()["type"] == "/problems/no-published-version"
    named = api.call("POST", "/api/v1/submissions", key, json={**submission(), "version": "1.0.0"})
    assert named.status_code == 409 and named.json()["type"] == "/problems/version-not-published"
    assert api.call("GET", "/api/v1/assignments/py-ledger", key).json()["latest_version"] is None
    api.settle("py-ledger", "1.0.0", ["solutions/failing: passed True, expected False"])
    check = api.call("GET", "/api/v1/assignments/py-ledger/versions/1.0.0/check", key).json()
    assert check["status"] == "refused" and "solutions/failing" in check["detail"]
    refused = api.call("POST", "/api/v1/submissions", key, json={**submission(), "version": "1.0.0"})
    assert refused.status_code == 409 and "refused" in refused.json()["detail"]
    assert "solutions/failing" not in refused.json()["detail"]  # the reasons are the author's to read


def test_a_refused_number_may_be_uploaded_again_and_is_checked_anew(api: Api) -> None:
    key = api.tenant("acme")
    files = folder_files(LEDGER)
    api.upload(key, files)
    api.settle("py-ledger", "1.0.0", ["the reference scores 9/10"])
    same = api.upload(key, files)
    assert same.status_code == 200 and same.json()["version"]["status"] == "refused"
    fixed = api.upload(key, {**files, "solutions/expected.yaml": b"reference: {passed: true}\n"})
    assert fixed.status_code == 202 and fixed.json()["version"]["status"] == "checking"
    assert api.call("GET", "/api/v1/assignments/py-ledger/versions/1.0.0/check", key).json()["detail"] == ""
    api.settle("py-ledger", "1.0.0", [])
    assert api.call("POST", "/api/v1/submissions", key, json=submission()).status_code == 201
    # Published now, so immutable: other files under the number are a conflict.
    changed = api.upload(key, folder_files(LEDGER, {"title": "Another title"}))
    assert changed.status_code == 409 and changed.json()["type"] == "/problems/version-exists"


def test_the_check_report_is_for_authors(api: Api) -> None:
    admin = api.tenant("acme")
    submit = api.tenant("acme", Scope.SUBMIT)
    api.publish(admin, folder_files(LEDGER))
    path = "/api/v1/assignments/py-ledger/versions/1.0.0/check"
    assert api.call("GET", path, submit).status_code == 403
    assert api.call("GET", path, admin).json()["status"] == "published"
    versions = api.call("GET", "/api/v1/assignments/py-ledger/versions", submit).json()
    assert [(v["version"], v["status"]) for v in versions] == [("1.0.0", "published")]
