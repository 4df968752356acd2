"""The learner's pages in-process on SQLite (no Redis, no workers): sign-in by a one-time mailed link
(single use, expiry, CSRF), submitting under the API's admission rules, tenant and learner isolation,
the progress page's stream and status, and feedback under the visibility rules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from grader.config import Settings
from grader.core.judge import AUTHOR_ONLY
from grader.core.policy import Scope
from grader.http import create_app
from grader.store import catalog, submissions, tenancy
from grader.store.db import engine_for, session_factory, session_scope, upgrade
from grader.store.models import (
    AssignmentVersion,
    GradeRecord,
    SignInLink,
    Submission,
    SubmissionState,
    utcnow,
)
from tests.unit.service.test_api import LEDGER, folder_files, tarball

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Site:
    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.factory = session_factory(engine_for(settings.resolved_database_url()))

    def tenant(self, slug: str) -> str:
        with session_scope(self.factory) as session:
            found = tenancy.tenant_by_slug(session, slug) or tenancy.create_tenant(session, slug, slug.title())
            return tenancy.create_api_key(session, found.id, [Scope.ADMIN])[1]

    def publish_ledger(self, key: str, spec_edit: dict[str, Any] | None = None) -> None:
        answer = self.client.post(
            "/api/v1/assignments",
            content=tarball(folder_files(LEDGER, spec_edit)),
            headers={"Content-Type": "application/gzip", "Authorization": f"Bearer {key}"},
        )
        assert answer.status_code in (200, 202), answer.text
        with session_scope(self.factory) as session:
            for row in session.scalars(select(AssignmentVersion).where(AssignmentVersion.status == "checking")):
                catalog.settle_check(row, {"rows": [], "problems": []}, [])

    def csrf(self, path: str, client: TestClient | None = None) -> str:
        page = (client or self.client).get(path)
        assert page.status_code == 200, page.text
        found = CSRF.search(page.text)
        assert found, page.text
        return found.group(1)

    def mails(self) -> list[Path]:
        outbox = self.settings.resolved_outbox_dir
        return sorted(outbox.glob("*.eml")) if outbox.is_dir() else []

    def ask_link(self, tenant: str, email: str, client: TestClient | None = None) -> str:
        client = client or self.client
        before = set(self.mails())
        token = self.csrf(f"/t/{tenant}/sign-in", client)
        sent = client.post(f"/t/{tenant}/sign-in", data={"email": email, "csrf_token": token}, follow_redirects=False)
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"] == f"/t/{tenant}/sign-in/sent"
        (mail,) = set(self.mails()) - before
        message = message_from_bytes(mail.read_bytes())
        assert message["To"].lower() == email.lower()
        body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
        link = re.search(r"https?://\S+/t/\S+/sign-in/\S+", body)
        assert link, body
        return "/" + link.group(0).split("/", 3)[3]

    def use_link(self, path: str, client: TestClient | None = None) -> Any:
        client = client or self.client
        page = client.get(path)
        assert page.status_code == 200
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token
        tenant = path.split("/")[2]
        return client.post(
            f"/t/{tenant}/sign-in/confirm",
            data={"token": token.group(1), "csrf_token": CSRF.search(page.text).group(1)},  # type: ignore[union-attr]
            follow_redirects=False,
        )

    def sign_in(self, tenant: str, email: str, client: TestClient | None = None) -> None:
        answer = self.use_link(self.ask_link(tenant, email, client), client)
        assert answer.status_code == 303 and answer.headers["location"] == "/learn", answer.text

    def submit(self, repo: str, client: TestClient | None = None, slug: str = "py-ledger") -> Any:
        client = client or self.client
        token = self.csrf(f"/learn/assignments/{slug}", client)
        return client.post(
            f"/learn/assignments/{slug}/submit",
            data={"repo_url": repo, "csrf_token": token, "form_key": f"k-{repo}"},
            follow_redirects=False,
        )


def make_settings(home: Path) -> Settings:
    return Settings(
        home=home,
        redis_url="redis://127.0.0.1:1/0",  # nothing listens: enqueueing fails and must not matter
        allowed_hosts=["git.example"],
        public_url="http://testserver",
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    settings = make_settings(tmp_path)
    upgrade(settings.resolved_database_url())
    with TestClient(create_app(settings)) as client:
        yield Site(client, settings)


def other_client(site: Site) -> TestClient:
    return TestClient(site.client.app)


def test_sign_in_by_mailed_link_and_the_link_works_once(site: Site) -> None:
    site.tenant("acme")
    link = site.ask_link("acme", "Ann@Example.ORG")
    mail = message_from_bytes(site.mails()[0].read_bytes())
    assert "works once" in str(mail.get_payload())
    assert site.client.get("/learn", follow_redirects=False).status_code == 303  # not yet signed in
    first = site.use_link(link)
    assert first.status_code == 303 and first.headers["location"] == "/learn"
    page = site.client.get("/learn")
    assert page.status_code == 200 and "Ann@example.org" in page.text
    # The same link again, even from another browser, signs nobody in.
    other = other_client(site)
    again = site.use_link(link, other)
    assert again.status_code == 400 and "already used" in again.text
    assert other.get("/learn", follow_redirects=False).status_code == 303


def test_the_token_is_not_stored_and_a_mail_scanner_uses_nothing(site: Site) -> None:
    site.tenant("acme")
    link = site.ask_link("acme", "ann@example.org")
    token = link.rsplit("/", 1)[1]
    with session_scope(site.factory) as session:
        row = session.scalars(select(SignInLink)).one()
        assert row.token_hash != token and token not in row.token_hash
    for _ in range(3):  # fetching the link (as a scanner would) does not sign in or use it up
        assert site.client.get(link).status_code == 200
    assert site.use_link(link).status_code == 303


def test_an_expired_link_signs_nobody_in(site: Site) -> None:
    site.tenant("acme")
    link = site.ask_link("acme", "ann@example.org")
    with session_scope(site.factory) as session:
        session.execute(update(SignInLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    answer = site.use_link(link)
    assert answer.status_code == 400 and "expired" in answer.text
    assert site.client.get("/learn", follow_redirects=False).status_code == 303


def test_a_link_of_one_tenant_signs_in_nowhere_else(site: Site) -> None:
    site.tenant("acme")
    site.tenant("globex")
    link = site.ask_link("acme", "ann@example.org")
    answer = site.use_link(link.replace("/t/acme/", "/t/globex/"))
    assert answer.status_code == 400
    assert site.use_link(link).status_code == 303  # still unused for its own tenant


def test_forms_without_the_csrf_token_are_refused(site: Site) -> None:
    site.tenant("acme")
    refused = site.client.post("/t/acme/sign-in", data={"email": "ann@example.org"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert site.mails() == []
    wrong = site.client.post("/t/acme/sign-in", data={"email": "ann@example.org", "csrf_token": "forged"})
    assert wrong.status_code == 403
    link = site.ask_link("acme", "ann@example.org")
    token = link.rsplit("/", 1)[1]
    assert site.client.post("/t/acme/sign-in/confirm", data={"token": token}).status_code == 403
    site.sign_in("acme", "ann@example.org")
    submit = site.client.post("/learn/assignments/py-ledger/submit", data={"repo_url": "https://git.example/a/b"})
    assert submit.status_code == 403
    # Signing out is a form too.
    assert site.client.post("/sign-out", data={}).status_code == 403


def test_bad_email_and_too_many_links_are_told_in_the_form(site: Site) -> None:
    site.tenant("acme")
    token = site.csrf("/t/acme/sign-in")
    bad = site.client.post("/t/acme/sign-in", data={"email": "not an address", "csrf_token": token})
    assert bad.status_code == 422 and "Enter an email address" in bad.text and 'aria-invalid="true"' in bad.text
    for _ in range(5):
        site.ask_link("acme", "ann@example.org")
    token = site.csrf("/t/acme/sign-in")
    many = site.client.post("/t/acme/sign-in", data={"email": "ann@example.org", "csrf_token": token})
    assert many.status_code == 429 and "Several sign-in links" in many.text


def test_submit_follows_the_api_rules_and_lists_attempts(site: Site) -> None:
    key = site.tenant("acme")
    site.publish_ledger(key, {"submission": {"max_attempts": 2, "cooldown_s": 0}})
    site.sign_in("acme", "ann@example.org")
    dashboard = site.client.get("/learn")
    assert "/learn/assignments/py-ledger" in dashboard.text
    # The URL policy of the API: a host not allowed is refused, named in the form.
    refused = site.submit("https://evil.example/ann/ledger.git")
    assert refused.status_code == 422 and "evil.example" in refused.text and 'role="alert"' in refused.text
    made = site.submit("https://git.example/ann/ledger.git")
    assert made.status_code == 303 and made.headers["location"].startswith("/learn/submissions/")
    again = site.submit("https://git.example/ann/ledger.git")  # the same form key: the same submission
    assert again.headers["location"] == made.headers["location"]
    token = site.csrf("/learn/assignments/py-ledger")
    second = site.client.post(
        "/learn/assignments/py-ledger/submit",
        data={"repo_url": "https://git.example/ann/ledger.git", "csrf_token": token, "form_key": "another"},
        follow_redirects=False,
    )
    assert second.status_code == 303
    third = site.client.post(
        "/learn/assignments/py-ledger/submit",
        data={"repo_url": "https://git.example/ann/ledger.git", "csrf_token": token, "form_key": "third"},
    )
    assert third.status_code == 409 and "attempt" in third.text.lower() and 'role="alert"' in third.text
    page = site.client.get("/learn/assignments/py-ledger")
    assert "Attempt 1" in page.text and "Attempt 2" in page.text and "2 of 2 used" in page.text
    with session_scope(site.factory) as session:
        rows = session.scalars(select(Submission)).all()
        assert {r.learner for r in rows} == {"ann@example.org"} and len(rows) == 2


def test_only_published_versions_are_offered(site: Site) -> None:
    key = site.tenant("acme")
    answer = site.client.post(
        "/api/v1/assignments",
        content=tarball(folder_files(LEDGER)),
        headers={"Content-Type": "application/gzip", "Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 202  # checking, never settled
    site.sign_in("acme", "ann@example.org")
    assert "/learn/assignments/py-ledger" not in site.client.get("/learn").text
    assert site.client.get("/learn/assignments/py-ledger").status_code == 404


def _grade(site: Site, submission_id: str, passed: bool = True) -> None:
    with session_scope(site.factory) as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        version = session.get(AssignmentVersion, submission.assignment_version_id)
        assert version is not None
        tests = [
            {"id": "test_core.py::test_post", "suite": "visible", "criterion": "core", "outcome": "passed"},
            {"id": "test_core_hidden.py::test_secret_thing", "suite": "hidden", "criterion": "core",
             "outcome": "failed", "message": "HIDDEN-MESSAGE"},
        ]
        criteria = [
            {"id": c["id"], "title": c["title"], "points": c["points"] if passed else 0, "max_points": c["points"],
             "percent": 100 if passed else 0, "level": "Exemplary", "required": c["id"] == "core",
             "meets_pass_level": passed, "tests_passed": 1, "tests_total": 2}
            for c in version.spec["rubric"]["criteria"]
        ]
        total = sum(c["max_points"] for c in criteria)
        grade = {
            "assignment_id": "py-ledger", "assignment_version": version.version, "spec_hash": version.spec_hash,
            "mode": "unit", "commit": "a" * 40, "score": total if passed else 0, "max_score": total,
            "percent": 100 if passed else 0, "passed": passed, "criteria": criteria, "tests": tests,
            "flags": [{"code": "canary", "detail": f"a canary was read{AUTHOR_ONLY}CANARY-XYZ"}] if not passed else [],
        }
        session.add(
            GradeRecord(
                tenant_id=submission.tenant_id, submission_id=submission.id, assignment_version_id=version.id, run=1,
                score=grade["score"], max_score=total, percent=grade["percent"], passed=passed, tampered=False,
                grade=grade, evidence={}, timings={}, learner_output="",
            )
        )
        submissions.record_event(session, submission, SubmissionState.GRADED, "", "graded", "")


def test_progress_status_stream_and_feedback(site: Site) -> None:
    key = site.tenant("acme")
    site.publish_ledger(key)
    site.sign_in("acme", "ann@example.org")
    location = site.submit("https://git.example/ann/ledger.git").headers["location"]
    submission_id = location.rsplit("/", 1)[1]
    page = site.client.get(location)
    assert page.status_code == 200 and "<progress" in page.text and "learner-progress.js" in page.text
    assert "<script>" not in page.text and "style=" not in page.text
    assert "Content-Security-Policy" in page.headers and "script-src 'self'" in page.headers["content-security-policy"]
    status = site.client.get(f"{location}/status.json").json()
    assert status["state"] == "queued" and status["finished"] is False
    assert site.client.get(f"{location}/feedback", follow_redirects=False).status_code == 303
    _grade(site, submission_id, passed=False)
    with site.client.stream("GET", f"{location}/events") as stream:
        text = "".join(stream.iter_text())
    assert "event: state" in text and '"graded"' in text and "event: end" in text
    status = site.client.get(f"{location}/status.json").json()
    assert status["finished"] and status["passed"] is False and status["feedback_url"] == f"{location}/feedback"
    feedback = site.client.get(f"{location}/feedback")
    assert feedback.status_code == 200 and "Not passed" in feedback.text
    assert "test_core.py::test_post" in feedback.text
    # Hidden tests stay a summary (the spec says so): neither their names nor their messages nor canaries.
    assert "test_secret_thing" not in feedback.text and "HIDDEN-MESSAGE" not in feedback.text
    assert "a canary was read" in feedback.text and "CANARY-XYZ" not in feedback.text
    assert "Levels:" in feedback.text and "Proficient from 75%" in feedback.text


def test_learners_see_only_their_own_submissions_in_their_tenant(site: Site) -> None:
    key = site.tenant("acme")
    other_key = site.tenant("globex")
    site.publish_ledger(key)
    site.publish_ledger(other_key)
    site.sign_in("acme", "ann@example.org")
    ann_page = site.submit("https://git.example/ann/ledger.git").headers["location"]
    bob = other_client(site)
    site.sign_in("acme", "bob@example.org", bob)
    for suffix in ("", "/status.json", "/feedback", "/events"):
        assert bob.get(ann_page + suffix).status_code == 404, suffix
    assert ann_page not in bob.get("/learn").text
    # Ann at another tenant, same email: none of her acme work is there.
    ann_globex = other_client(site)
    site.sign_in("globex", "ann@example.org", ann_globex)
    assert ann_globex.get(ann_page).status_code == 404
    assert ann_page not in ann_globex.get("/learn").text
    # A learner session is no API key and no author session.
    assert site.client.get("/api/v1/submissions").status_code == 401


def test_no_page_carries_an_api_key_and_signing_out_ends_the_session(site: Site) -> None:
    key = site.tenant("acme")
    site.publish_ledger(key)
    site.sign_in("acme", "ann@example.org")
    for path in ("/learn", "/learn/assignments/py-ledger"):
        assert "gk_" not in site.client.get(path).text
    token = site.csrf("/learn")
    out = site.client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert site.client.get("/learn", follow_redirects=False).headers["location"] == "/learn/sign-in"


def test_sign_in_pages_for_unknown_tenants_are_404(site: Site) -> None:
    assert site.client.get("/t/nowhere/sign-in").status_code == 404
    site.tenant("acme")
    assert "/t/acme/sign-in" in site.client.get("/learn/sign-in").text
