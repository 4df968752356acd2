"""The author's pages in-process on SQLite (no Redis, no workers): exchanging an API key for a session
(submit-scoped and revoked keys refused, revocation ends a session), uploads through the API's path with
errors inline, the check table, class results, regrade and revoke forms (CSRF), tenant isolation and the
gradebook CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.requests import Request

from grader.core.policy import Scope
from grader.http import create_app
from grader.http.api.assignments import capped_form
from grader.http.problems import ProblemError
from grader.store import catalog, submissions, tenancy
from grader.store.archive import MAX_ARCHIVE_BYTES
from grader.store.db import session_scope, upgrade
from grader.store.models import (
    ApiKey,
    AssignmentVersion,
    CredentialRecord,
    GradeRecord,
    Submission,
    SubmissionState,
    Tenant,
    utcnow,
)
from tests.conftest import run_in_fresh_thread
from tests.unit.service.test_api import LEDGER, folder_files, tarball
from tests.unit.test_web_learner import CSRF, Site, make_settings


class Authoring(Site):
    def key(self, slug: str, *scopes: Scope) -> str:
        with session_scope(self.factory) as session:
            found = tenancy.tenant_by_slug(session, slug) or tenancy.create_tenant(session, slug, slug.title())
            return tenancy.create_api_key(session, found.id, list(scopes))[1]

    def author_sign_in(self, key: str, client: TestClient | None = None) -> Any:
        client = client or self.client
        token = self.csrf("/author/sign-in", client)
        return client.post("/author/sign-in", data={"api_key": key, "csrf_token": token}, follow_redirects=False)

    def upload_page(self, files: dict[str, bytes], client: TestClient | None = None) -> Any:
        client = client or self.client
        token = self.csrf("/author", client)
        return client.post(
            "/author/upload",
            data={"csrf_token": token},
            files={"archive": ("ledger.tar.gz", tarball(files), "application/gzip")},
            follow_redirects=False,
        )

    def settle_all(self, refusals: list[str] | None = None, rows: list[dict[str, Any]] | None = None) -> None:
        with session_scope(self.factory) as session:
            for row in session.scalars(select(AssignmentVersion).where(AssignmentVersion.status == "checking")):
                catalog.settle_check(row, {"rows": rows or [], "problems": refusals or []}, refusals or [])


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Authoring]:
    settings = make_settings(tmp_path)
    upgrade(settings.resolved_database_url())
    with TestClient(create_app(settings)) as client:
        yield Authoring(client, settings)


def test_a_key_is_exchanged_once_and_never_kept_in_page_or_cookie(site: Authoring) -> None:
    key = site.key("acme", Scope.AUTHOR)
    answer = site.author_sign_in(key)
    assert answer.status_code == 303 and answer.headers["location"] == "/author"
    secret = key.split("_", 2)[2]
    for cookie in site.client.cookies.jar:
        assert secret not in (cookie.value or "") and key not in (cookie.value or "")
    page = site.client.get("/author")
    assert page.status_code == 200 and "Assignments" in page.text
    assert key not in page.text and "gk_" not in page.text.replace("<code>gk_</code>", "")


@pytest.mark.parametrize("scope", [Scope.SUBMIT])
def test_submit_scoped_keys_are_refused(site: Authoring, scope: Scope) -> None:
    answer = site.author_sign_in(site.key("acme", scope))
    assert answer.status_code == 403 and "author or admin scope" in answer.text
    assert site.client.get("/author", follow_redirects=False).status_code == 303


def test_unknown_and_revoked_keys_are_refused_and_revoking_ends_a_session(site: Authoring) -> None:
    assert site.author_sign_in("gk_nope_nothing").status_code == 401
    key = site.key("acme", Scope.ADMIN)
    assert site.author_sign_in(key).status_code == 303
    assert site.client.get("/author").status_code == 200
    with session_scope(site.factory) as session:
        for row in session.scalars(select(ApiKey)):
            row.revoked_at = utcnow()
    ended = site.client.get("/author", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"] == "/author/sign-in"
    notice = site.client.get("/author/sign-in")
    assert "revoked" in notice.text
    assert site.client.get("/author", follow_redirects=False).status_code == 303  # the session is gone
    again = site.author_sign_in(key)
    assert again.status_code == 401 and "unknown or revoked" in again.text


def test_forms_without_csrf_are_refused(site: Authoring) -> None:
    key = site.key("acme", Scope.ADMIN)
    assert site.client.post("/author/sign-in", data={"api_key": key}).status_code == 403
    site.author_sign_in(key)
    upload = site.client.post(
        "/author/upload", files={"archive": ("x.tar.gz", tarball(folder_files(LEDGER)), "application/gzip")}
    )
    assert upload.status_code == 403
    assert site.client.post("/author/assignments/py-ledger/regrade", data={}).status_code == 403
    assert site.client.post("/author/credentials/x/revoke", data={"csrf_token": "forged"}).status_code == 403
    with session_scope(site.factory) as session:
        assert session.scalars(select(AssignmentVersion)).all() == []


def test_a_broken_spec_shows_its_errors_inline_and_a_good_one_its_check(site: Authoring) -> None:
    site.author_sign_in(site.key("acme", Scope.AUTHOR))
    broken = site.upload_page(folder_files(LEDGER, {"version": "one", "submission": {"max_attempts": 0}}))
    assert broken.status_code == 422
    assert 'role="alert"' in broken.text and "<code>version</code>" in broken.text
    assert "<code>submission.max_attempts</code>" in broken.text and "<code>assignment.yaml</code>" in broken.text
    not_tar = site.client.post(
        "/author/upload",
        data={"csrf_token": site.csrf("/author")},
        files={"archive": ("ledger.tar.gz", b"not a tarball", "application/gzip")},
    )
    assert not_tar.status_code == 422 and "not a readable tar archive" in not_tar.text.lower()
    good = site.upload_page(folder_files(LEDGER))
    assert good.status_code == 303 and good.headers["location"] == "/author/assignments/py-ledger/versions/1.0.0"
    page = site.client.get(good.headers["location"])
    assert "status-checking" in page.text and "author-check.js" in page.text and "being checked" in page.text
    assert site.client.get(good.headers["location"] + "/status.json").json() == {"status": "checking"}
    site.settle_all(rows=[{"solution": "reference", "expected": "100% pass", "got": "100% pass", "problems": []}])
    page = site.client.get(good.headers["location"])
    assert "status-published" in page.text and 'id="check-table"' in page.text and "reference" in page.text
    assert "author-check.js" not in page.text
    home = site.client.get("/author")
    assert "/author/assignments/py-ledger/versions/1.0.0" in home.text and "status-published" in home.text


def test_other_content_under_a_number_in_use_is_refused_inline(site: Authoring) -> None:
    site.author_sign_in(site.key("acme", Scope.AUTHOR))
    assert site.upload_page(folder_files(LEDGER)).status_code == 303
    changed = folder_files(LEDGER, {"title": "Another title"})
    answer = site.upload_page(changed)
    assert answer.status_code == 409 and "already uploaded with other content" in answer.text


def _learner_grade(site: Authoring, tenant: str, learner: str, percent: float, passed: bool, **extra: Any) -> str:
    with session_scope(site.factory) as session:
        tenant_row = session.scalar(select(Tenant).where(Tenant.slug == tenant))
        assert tenant_row is not None
        version = session.scalar(select(AssignmentVersion).where(AssignmentVersion.tenant_id == tenant_row.id))
        assert version is not None
        now = utcnow()
        attempt = (
            len(session.scalars(select(Submission).where(Submission.learner == learner, Submission.tenant_id == tenant_row.id)).all())
            + 1
        )
        sub = Submission(
            tenant_id=tenant_row.id, assignment_id=version.assignment_id, assignment_version_id=version.id,
            learner=learner, repo_url="https://git.example/x.git", attempt=attempt, request_hash="h",
            created_at=now, updated_at=now,
        )
        session.add(sub)
        session.flush()
        if extra.get("state") == "error":
            sub.error = "the Docker engine kept failing"
            submissions.record_event(session, sub, SubmissionState.ERROR, "", "error", "")
            return sub.id
        criteria = [
            {"id": "core", "title": "Accounts", "points": 1, "max_points": 1, "percent": percent, "level": "x",
             "required": True, "meets_pass_level": passed, "tests_passed": 1, "tests_total": 1},
            {"id": "reports", "title": "Reports", "points": 1, "max_points": 1, "percent": 100, "level": "x",
             "required": False, "meets_pass_level": True, "tests_passed": 1, "tests_total": 1},
        ]
        grade = session.merge(
            GradeRecord(
                tenant_id=tenant_row.id, submission_id=sub.id, assignment_version_id=version.id, run=1,
                score=percent, max_score=100, percent=percent, passed=passed, tampered=extra.get("tampered", False),
                grade={"criteria": criteria, "flags": extra.get("flags", [])}, evidence={}, timings={},
            )
        )
        session.flush()
        if passed:
            session.add(
                CredentialRecord(
                    tenant_id=tenant_row.id, submission_id=sub.id, grade_id=grade.id,
                    credential_id=f"urn:uuid:{sub.id}", document={"id": f"urn:uuid:{sub.id}"},
                )
            )
        submissions.record_event(session, sub, SubmissionState.GRADED, "", "graded", "")
        return sub.id


def _published(site: Authoring, slug: str) -> str:
    key = site.key(slug, Scope.ADMIN)
    answer = site.client.post(
        "/api/v1/assignments",
        content=tarball(folder_files(LEDGER)),
        headers={"Content-Type": "application/gzip", "Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 202
    site.settle_all()
    return key


def test_class_results_chart_rates_attention_and_gradebook(site: Authoring) -> None:
    key = _published(site, "acme")
    _learner_grade(site, "acme", "ann@example.org", 40, False)
    ann_best = _learner_grade(site, "acme", "ann@example.org", 95, True)
    _learner_grade(site, "acme", "ann@example.org", 70, False)
    _learner_grade(site, "acme", "=cmd@example.org", 55, False, tampered=True,
                   flags=[{"code": "result-forgery", "detail": "forged results"}])
    _learner_grade(site, "acme", "cy@example.org", 0, False, state="error")
    site.author_sign_in(key)
    page = site.client.get("/author/assignments/py-ledger")
    assert page.status_code == 200
    assert "<svg" in page.text and 'role="img"' in page.text and "90 to 100%: 1" in page.text
    assert "50 to 59%: 1" in page.text and "<desc" in page.text
    assert "Accounts" in page.text and "0% (0 of 2)" in page.text  # latest grades: ann 70 not met, =cmd not met
    assert "Reports" in page.text and "100% (2 of 2)" in page.text
    assert "tampered" in page.text and "result-forgery" in page.text and "the Docker engine kept failing" in page.text
    assert page.text.count('name="submission_id"') == 2  # a regrade button per submission needing attention
    gradebook = site.client.get("/author/assignments/py-ledger/gradebook.csv")
    assert gradebook.status_code == 200 and gradebook.headers["content-type"].startswith("text/csv")
    assert "attachment" in gradebook.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(gradebook.text)))
    assert [r["learner"] for r in rows] == ["'=cmd@example.org", "ann@example.org", "cy@example.org"]
    ann = rows[1]
    assert ann["attempts"] == "3" and ann["best_percent"] == "95" and ann["latest_percent"] == "70"
    assert ann["passed"] == "yes" and ann["credential_id"] and ann["credential_revoked"] == "no"
    with session_scope(site.factory) as session:
        credential = session.scalar(select(CredentialRecord).where(CredentialRecord.submission_id == ann_best))
        assert credential is not None and ann["credential_id"] == credential.id
    cy = rows[2]
    assert cy["attempts"] == "0" and cy["best_percent"] == "" and cy["passed"] == "no"


def test_regrade_and_revoke_forms(site: Authoring) -> None:
    key = _published(site, "acme")
    passed = _learner_grade(site, "acme", "ann@example.org", 95, True)
    site.author_sign_in(key)
    page = site.client.get("/author/assignments/py-ledger")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    regrade = site.client.post(
        "/author/assignments/py-ledger/regrade", data={"csrf_token": token, "submission_id": passed}, follow_redirects=False
    )
    assert regrade.status_code == 303 and regrade.headers["location"] == "/author/assignments/py-ledger"
    assert "Regrading 1 submission against version 1.0.0" in site.client.get("/author/assignments/py-ledger").text
    with session_scope(site.factory) as session:
        row = session.get(Submission, passed)
        assert row is not None and row.run == 2 and row.state == "queued"
        credential = session.scalar(select(CredentialRecord).where(CredentialRecord.submission_id == passed))
        assert credential is not None
        credential_id = credential.id
    busy = site.client.post("/author/assignments/py-ledger/regrade", data={"csrf_token": token})
    assert busy.status_code == 200 and "Nothing was regraded" in busy.text and "still being graded" in busy.text
    revoke = site.client.post(
        f"/author/credentials/{credential_id}/revoke",
        data={"csrf_token": token, "reason": "plagiarism", "back": "/author/assignments/py-ledger"},
        follow_redirects=False,
    )
    assert revoke.status_code == 303 and revoke.headers["location"] == "/author/assignments/py-ledger"
    with session_scope(site.factory) as session:
        credential = session.get(CredentialRecord, credential_id)
        assert credential is not None and credential.revoked_at is not None
        assert credential.revocation_reason == "plagiarism"
    assert "revoked" in site.client.get("/author/assignments/py-ledger").text


def test_revoking_needs_an_admin_key(site: Authoring) -> None:
    _published(site, "acme")
    passed = _learner_grade(site, "acme", "ann@example.org", 95, True)
    site.author_sign_in(site.key("acme", Scope.AUTHOR))
    page = site.client.get("/author/assignments/py-ledger")
    assert "Revoke" not in page.text
    with session_scope(site.factory) as session:
        credential = session.scalar(select(CredentialRecord).where(CredentialRecord.submission_id == passed))
        assert credential is not None
        credential_id = credential.id
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    answer = site.client.post(f"/author/credentials/{credential_id}/revoke", data={"csrf_token": token})
    assert answer.status_code == 200 and "needs an admin key" in answer.text
    with session_scope(site.factory) as session:
        credential = session.get(CredentialRecord, credential_id)
        assert credential is not None and credential.revoked_at is None


def test_an_author_sees_nothing_of_another_tenant(site: Authoring) -> None:
    _published(site, "acme")
    ann = _learner_grade(site, "acme", "ann@example.org", 95, True)
    with session_scope(site.factory) as session:
        credential = session.scalar(select(CredentialRecord).where(CredentialRecord.submission_id == ann))
        assert credential is not None
        credential_id = credential.id
    site.author_sign_in(site.key("globex", Scope.ADMIN))
    home = site.client.get("/author")
    assert "/author/assignments/py-ledger" not in home.text
    for path in (
        "/author/assignments/py-ledger",
        "/author/assignments/py-ledger/versions/1.0.0",
        "/author/assignments/py-ledger/versions/1.0.0/status.json",
        "/author/assignments/py-ledger/gradebook.csv",
    ):
        assert site.client.get(path).status_code == 404, path
    token = CSRF.search(home.text).group(1)  # type: ignore[union-attr]
    assert site.client.post("/author/assignments/py-ledger/regrade", data={"csrf_token": token}).status_code == 404
    revoke = site.client.post(f"/author/credentials/{credential_id}/revoke", data={"csrf_token": token})
    assert revoke.status_code == 404
    regrade_other = site.client.post(
        "/author/assignments/py-ledger/regrade", data={"csrf_token": token, "submission_id": ann}
    )
    assert regrade_other.status_code == 404
    with session_scope(site.factory) as session:
        row = session.get(CredentialRecord, credential_id)
        assert row is not None and row.revoked_at is None


def test_a_learner_session_opens_no_author_page(site: Authoring) -> None:
    site.key("acme", Scope.ADMIN)
    site.sign_in("acme", "ann@example.org")
    assert site.client.get("/author", follow_redirects=False).headers["location"] == "/author/sign-in"
    assert site.client.get("/author/assignments/py-ledger/gradebook.csv", follow_redirects=False).status_code == 303



def oversized_multipart(token: str, chunks: list[int]) -> Iterator[bytes]:
    """A multipart body larger than the upload cap, counting in `chunks` how many of its chunks were read."""
    yield (
        f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        '--b\r\nContent-Disposition: form-data; name="archive"; filename="big.tar.gz"\r\n'
        "Content-Type: application/gzip\r\n\r\n"
    ).encode()
    for _ in range(MAX_ARCHIVE_BYTES // CHUNK + 40):
        chunks.append(1)
        yield b"\0" * CHUNK
    yield b"\r\n--b--\r\n"


CHUNK = 1024 * 1024


def test_an_oversized_upload_on_the_page_is_refused_and_nothing_stored(site: Authoring) -> None:
    site.author_sign_in(site.key("acme", Scope.AUTHOR))
    body = oversized_multipart(site.csrf("/author"), [])
    answer = site.client.post("/author/upload", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert answer.status_code == 413
    with session_scope(site.factory) as session:
        assert session.scalars(select(AssignmentVersion)).all() == []


def test_the_form_is_refused_while_it_is_read_not_after_it_was_spooled() -> None:
    read: list[int] = []
    body = oversized_multipart("t", read)

    async def receive() -> dict[str, Any]:
        chunk = next(body, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", b"multipart/form-data; boundary=b")]}
    with pytest.raises(ProblemError) as refused:
        run_in_fresh_thread(capped_form, Request(scope, receive))
    assert refused.value.status == 413
    assert len(read) <= MAX_ARCHIVE_BYTES // CHUNK + 2  # stopped at the cap, 40 MiB were never read
