"""The review queue through the API, with real Redis and real repositories on the loopback git server:
the same commit from two learners is flagged on the later one, whose passing grade gets no credential
until an instructor approves it (then exactly one, however often the approval is sent), and none after
a rejection, whose reason the learner reads.

Grading runs the worker's own job (grader.jobs.grading.run_grading) with the real fetch stage and a
sandbox that reports every test passed, since what is under test is what happens after judging
(the sandbox is tested on Docker elsewhere); the approval's issue stage runs from the real queue.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from grader.config import Settings, get_settings
from grader.core.policy import Scope
from grader.core.spec import load_assignment
from grader.demo.gitserver import LoopbackGitServer
from grader.fetch.repository import fetch_snapshot
from grader.grading.ports import GradingPorts
from grader.http import create_app
from grader.issuing import tenant as issuing
from grader.jobs import context, grading
from grader.jobs import queue as jobs
from grader.jobs.context import Context
from grader.jobs.reconciler import reconcile
from grader.jobs.services import build_services
from grader.store import catalog, tenancy
from grader.store.archive import pack_folder, sha256
from grader.store.db import session_scope, upgrade
from grader.store.models import CredentialRecord, utcnow
from tests.conftest import LEDGER_DIR, LEDGER_SOLUTIONS, copy_with_spec, solution_files
from tests.integration.test_ownership import Learner, learners
from tests.integration.test_service_stack import Services, redis_service
from tests.unit.fakes import FakeSandbox, fake_image

pytestmark = pytest.mark.integration
__all__ = ["learners", "redis_service"]


class Stack:
    def __init__(self, settings: Settings, client: TestClient, key: str, ctx: Context) -> None:
        self.settings = settings
        self.client = client
        self.key = key
        self.ctx = ctx

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, path, headers={"Authorization": f"Bearer {self.key}"}, **kwargs)

    def submit_and_grade(self, learner: str, url: str) -> str:
        answer = self.call("POST", "/api/v1/submissions", json={"assignment": "py-ledger", "learner": learner, "repo_url": url})
        assert answer.status_code == 201, answer.text
        submission_id: str = answer.json()["id"]
        assert grading.run_grading(self.ctx, submission_id) == "graded"
        return submission_id

    def submission(self, submission_id: str) -> dict[str, Any]:
        answer = self.call("GET", f"/api/v1/submissions/{submission_id}")
        assert answer.status_code == 200
        found: dict[str, Any] = answer.json()
        return found

    def credentials_of(self, submission_id: str) -> int:
        with session_scope(self.ctx.factory) as session:
            return int(
                session.scalar(select(func.count(CredentialRecord.id)).where(CredentialRecord.submission_id == submission_id))
                or 0
            )

    def work_the_queue(self) -> None:
        connection = jobs.connect(self.settings.redis_url)
        queue = jobs.make_queue(self.settings, connection)
        SimpleWorker([queue], connection=connection, serializer=JSONSerializer, job_class=jobs.AllowlistJob).work(
            burst=True
        )


@pytest.fixture
def stack(
    redis_service: Services, git_server: LoopbackGitServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    values = {
        "GRADER_HOME": str(tmp_path / "home"),
        "GRADER_REDIS_URL": redis_service.redis_url,
        "GRADER_QUEUE_NAME": f"review-test-{uuid.uuid4().hex[:8]}",
        "GRADER_ALLOWED_HOSTS": json.dumps([git_server.host]),
        "GRADER_ALLOWED_SCHEMES": '["http", "https"]',
        "GRADER_KEY_PASSPHRASE": "review queue test passphrase",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    context.context.cache_clear()
    settings = get_settings()
    upgrade(settings.resolved_database_url())
    services = build_services(settings)
    archive = pack_folder(LEDGER_DIR)
    with session_scope(services.factory) as session:
        tenant = tenancy.create_tenant(session, f"r-{uuid.uuid4().hex[:8]}", "Review test")
        issuing.init_tenant_keys(session, settings, tenant)
        published = catalog.publish_version(session, tenant.id, load_assignment(LEDGER_DIR), "", archive, sha256(archive))
        catalog.settle_check(published.version, None, [])
        key = tenancy.create_api_key(session, tenant.id, [Scope.ADMIN])[1]
    ports = GradingPorts(fetch=fetch_snapshot, build=fake_image, run=FakeSandbox())
    with TestClient(create_app(settings)) as client:
        yield Stack(settings, client, key, Context.of(services, ports))
    get_settings.cache_clear()
    context.context.cache_clear()


def test_the_same_commit_from_a_second_learner_waits_for_review_then_gets_exactly_one_credential(
    stack: Stack, git_server: LoopbackGitServer
) -> None:
    url = git_server.publish(f"shared-{uuid.uuid4().hex[:6]}", LEDGER_SOLUTIONS / "reference")
    first = stack.submit_and_grade("ann@example.org", url)
    assert stack.submission(first)["credential_id"] is not None  # nothing flagged: nothing waits
    assert stack.call("GET", "/api/v1/reviews").json()["items"] == []

    second = stack.submit_and_grade("bob@example.org", url)
    graded = stack.submission(second)
    assert graded["passed"] is True and graded["state"] == "graded"
    assert graded["credential_id"] is None and stack.credentials_of(second) == 0

    queue = stack.call("GET", "/api/v1/reviews").json()["items"]
    assert [r["submission_id"] for r in queue] == [second]
    review = queue[0]
    kinds = {f["kind"] for f in review["flags"]}
    assert {"duplicate-commit", "similarity"} <= kinds
    duplicate = next(f for f in review["flags"] if f["kind"] == "duplicate-commit")
    assert duplicate["other_submission_id"] == first  # the earlier one is shown to the instructor

    detail = stack.call("GET", f"/api/v1/reviews/{review['id']}").json()
    match = detail["matches"][0]
    assert match["match"]["flagged"] and match["match"]["score"] == 1.0
    assert match["other"]["submission_id"] == first and match["other"]["learner"] == "ann@example.org"
    assert any(r["left_path"] == "ledger/book.py" for r in match["match"]["regions"])
    assert {f["path"] for f in detail["this"]["files"]} >= {"ledger/book.py", "ledger/accounts.py"}

    learner_view = stack.call("GET", f"/api/v1/submissions/{second}/review").json()
    assert learner_view["state"] == "pending" and first not in json.dumps(learner_view)

    decided = stack.call("POST", f"/api/v1/reviews/{review['id']}/decision", json={"approve": True})
    assert decided.status_code == 200 and decided.json()["issuing"] is True
    assert stack.credentials_of(second) == 0  # issued by the worker, not in the request
    stack.work_the_queue()
    assert stack.credentials_of(second) == 1
    credential_id = stack.submission(second)["credential_id"]
    assert credential_id is not None

    again = stack.call("POST", f"/api/v1/reviews/{review['id']}/decision", json={"approve": True})
    assert again.status_code == 200
    stack.work_the_queue()
    assert stack.credentials_of(second) == 1 and stack.submission(second)["credential_id"] == credential_id
    refused = stack.call("POST", f"/api/v1/reviews/{review['id']}/decision", json={"approve": False, "reason": "no"})
    assert refused.status_code == 409 and refused.json()["type"] == "/problems/review-decided"

    document = stack.call("GET", f"/api/v1/credentials/{credential_id}").json()["document"]
    narrative = " ".join(e.get("narrative", "") for e in document["evidence"])
    assert "Similarity: compared with 1 earlier submissions" in narrative
    assert "ann@example.org" not in json.dumps(document) and first not in json.dumps(document)


def test_the_same_files_under_another_commit_are_flagged_and_a_rejection_issues_nothing(
    stack: Stack, git_server: LoopbackGitServer
) -> None:
    url = git_server.publish(f"shared-{uuid.uuid4().hex[:6]}", LEDGER_SOLUTIONS / "reference")
    # The same files committed again in a repository of the copier's own: another commit, the same tree.
    copy = git_server.publish(f"copy-{uuid.uuid4().hex[:6]}", LEDGER_SOLUTIONS / "reference")
    original = stack.submit_and_grade("ann@example.org", url)
    copied = stack.submit_and_grade("cat@example.org", copy)
    assert stack.submission(copied)["commit"] != stack.submission(original)["commit"]
    review = stack.call("GET", "/api/v1/reviews").json()["items"][0]
    assert review["submission_id"] == copied
    assert [f["other_submission_id"] for f in review["flags"] if f["kind"] == "duplicate-tree"] == [original]

    no_reason = stack.call("POST", f"/api/v1/reviews/{review['id']}/decision", json={"approve": False, "reason": " "})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["location"] == "body.reason"

    reason = "This is the same commit as another learner's; submit your own work."
    decided = stack.call("POST", f"/api/v1/reviews/{review['id']}/decision", json={"approve": False, "reason": reason})
    assert decided.status_code == 200 and decided.json()["issuing"] is False
    stack.work_the_queue()
    assert stack.credentials_of(copied) == 0 and stack.submission(copied)["credential_id"] is None
    learner_view = stack.call("GET", f"/api/v1/submissions/{copied}/review").json()
    assert learner_view["state"] == "rejected" and reason in learner_view["message"]
    assert stack.call("GET", "/api/v1/reviews").json()["items"] == []  # the queue shows pending ones
    rejected = stack.call("GET", "/api/v1/reviews", params={"state": "rejected"}).json()["items"]
    assert [r["id"] for r in rejected] == [review["id"]]
    approve_now = stack.call("POST", f"/api/v1/reviews/{review['id']}/decision", json={"approve": True})
    assert approve_now.status_code == 409
    assert stack.credentials_of(copied) == 0


def _tenant_with_ownership(stack: Stack, tmp_path: Path, method: str) -> tuple[str, str]:
    """A tenant whose py-ledger asks for `method`; returns (its slug, an admin key)."""
    spec_dir = tmp_path / f"ledger-{method}"
    loaded = copy_with_spec(LEDGER_DIR, spec_dir, lambda spec: spec.setdefault("submission", {}).update(ownership=method))
    archive = pack_folder(spec_dir)
    with session_scope(stack.ctx.factory) as session:
        tenant = tenancy.create_tenant(session, f"o-{uuid.uuid4().hex[:8]}", "Ownership test")
        issuing.init_tenant_keys(session, stack.settings, tenant)
        published = catalog.publish_version(session, tenant.id, loaded, "", archive, sha256(archive))
        catalog.settle_check(published.version, None, [])
        return tenant.slug, tenancy.create_api_key(session, tenant.id, [Scope.ADMIN])[1]


def test_the_worker_checks_the_claim_token_the_api_gave(
    stack: Stack, git_server: LoopbackGitServer, tmp_path: Path, learners: dict[str, Learner]
) -> None:
    _, stack.key = _tenant_with_ownership(stack, tmp_path, "claim")
    token = stack.call("GET", "/api/v1/ownership/claim-token", params={"assignment": "py-ledger", "learner": "ann"}).json()
    assert token["method"] == "claim"
    files = {**solution_files(LEDGER_DIR, "reference"), token["claim_file"]: token["token"] + "\n"}
    url = learners["ann"].repository(git_server, files)
    mine = stack.submit_and_grade("ann", url)
    graded = stack.submission(mine)
    assert graded["passed"] and graded["credential_id"] is not None
    document = stack.call("GET", f"/api/v1/credentials/{graded['credential_id']}").json()["document"]
    assert "holds the learner's claim token" in json.dumps(document)

    answer = stack.call("POST", "/api/v1/submissions", json={"assignment": "py-ledger", "learner": "bob", "repo_url": url})
    theirs = answer.json()["id"]
    assert grading.run_grading(stack.ctx, theirs) == "rejected"
    refused = stack.submission(theirs)
    assert "belongs to another learner" in refused["error"] and refused["score"] is None


def test_the_worker_checks_the_signature_against_the_keys_registered_through_the_api(
    stack: Stack, git_server: LoopbackGitServer, tmp_path: Path, learners: dict[str, Learner]
) -> None:
    _, stack.key = _tenant_with_ownership(stack, tmp_path, "signed")
    ann = learners["ann"]
    registered = stack.call("POST", "/api/v1/ownership/keys", json={"learner": "ann", "public_key": ann.ssh.public_key})
    assert registered.status_code == 201
    url = ann.repository(git_server, solution_files(LEDGER_DIR, "reference"), sign="ssh")
    mine = stack.submission(stack.submit_and_grade("ann", url))
    assert mine["credential_id"] is not None
    document = stack.call("GET", f"/api/v1/credentials/{mine['credential_id']}").json()["document"]
    assert f"registered SSH key {ann.ssh.fingerprint}" in json.dumps(document)

    bob = learners["bob"]
    assert stack.call("POST", "/api/v1/ownership/keys", json={"learner": "bob", "public_key": bob.ssh.public_key}).status_code == 201
    answer = stack.call("POST", "/api/v1/submissions", json={"assignment": "py-ledger", "learner": "bob", "repo_url": url})
    assert grading.run_grading(stack.ctx, answer.json()["id"]) == "rejected"
    assert "not by a key you registered" in stack.submission(answer.json()["id"])["error"]


def test_an_approval_whose_job_was_lost_is_issued_by_the_reconciler(
    stack: Stack, git_server: LoopbackGitServer
) -> None:
    url = git_server.publish(f"shared-{uuid.uuid4().hex[:6]}", LEDGER_SOLUTIONS / "reference")
    stack.submit_and_grade("ann@example.org", url)
    second = stack.submit_and_grade("bob@example.org", url)
    review = stack.call("GET", "/api/v1/reviews").json()["items"][0]
    assert stack.call("POST", f"/api/v1/reviews/{review['id']}/decision", json={"approve": True}).status_code == 200
    connection = jobs.connect(stack.settings.redis_url)
    queue = jobs.make_queue(stack.settings, connection)
    queue.empty()  # Redis lost the issue job (restarted empty); the approval is in the store
    connection.delete(f"rq:job:{jobs.review_job_id(review['id'])}")
    stack.work_the_queue()
    assert stack.credentials_of(second) == 0

    later = utcnow() + timedelta(seconds=stack.settings.stuck_after_s + 1)
    assert review["id"] in reconcile(stack.ctx.factory, queue, stack.settings, now=later)
    stack.work_the_queue()
    assert stack.credentials_of(second) == 1
    assert review["id"] not in reconcile(stack.ctx.factory, queue, stack.settings, now=later)  # issued: done
