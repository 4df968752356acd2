"""Authenticity in the service, in-process on SQLite: learners' claim tokens and keys (API and the
learner's page), and the author's review queue with its side-by-side view and decisions. Grading runs
the worker's job with fake ports (tests/unit/fakes.py) whose fetcher writes a real solution's files,
so the similarity check has code to compare. Redis is not running here."""

from __future__ import annotations

import dataclasses
import html
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from grader.config import Settings, claim_secret
from grader.core.ownership import OwnershipRequirement, claim_token
from grader.core.policy import Scope
from grader.core.similarity import SimilarityPolicy
from grader.core.spec import load_assignment
from grader.fetch.repository import Snapshot
from grader.grading.ports import GradingPorts
from grader.http import create_app
from grader.jobs import grading
from grader.jobs.context import Context
from grader.jobs.queue import connect, make_queue
from grader.jobs.similarity import compare
from grader.store import authenticity, submissions
from grader.store.db import make_engine, session_factory, upgrade
from grader.store.models import Submission
from tests.conftest import LEDGER_DIR, LEDGER_SOLUTIONS
from tests.unit.fakes import COMMIT, FakeSandbox, RecordedMetrics, fake_image
from tests.unit.test_web_author import Authoring
from tests.unit.test_web_learner import make_settings

DATA = Path(__file__).resolve().parents[2] / "data" / "authenticity"


class SolutionFetcher:
    """A snapshot of the reference solution's files, always at one commit (so two learners collide)."""

    def __call__(
        self, url: str, ref: str | None, dest: Path, settings: Settings, ownership: OwnershipRequirement | None = None
    ) -> Snapshot:
        shutil.copytree(LEDGER_SOLUTIONS / "reference", dest, ignore=shutil.ignore_patterns("__pycache__"))
        return Snapshot(url=url, commit=COMMIT, ref=ref, path=dest, files=7, bytes=1, tree="a" * 40)


class Service(Authoring):
    def api(self, method: str, path: str, key: str, **kwargs: Any) -> Any:
        return self.client.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kwargs)

    def context(self) -> Context:
        redis = connect(self.settings.redis_url)
        ports = GradingPorts(fetch=SolutionFetcher(), build=fake_image, run=FakeSandbox())
        return Context(
            settings=self.settings,
            factory=session_factory(make_engine(self.settings.resolved_database_url())),
            redis=redis,
            queue=make_queue(self.settings, redis),
            metrics=RecordedMetrics(),
            ports=ports,
        )

    def submit_and_grade(self, key: str, learner: str) -> str:
        answer = self.api(
            "POST", "/api/v1/submissions", key, json={"assignment": "py-ledger", "learner": learner, "repo_url": "https://git.example/x/y.git"}
        )
        assert answer.status_code == 201, answer.text
        submission_id: str = answer.json()["id"]
        assert grading.run_grading(self.context(), submission_id) == "graded"
        return submission_id


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    settings = make_settings(tmp_path)
    upgrade(settings.resolved_database_url())
    with TestClient(create_app(settings)) as client:
        yield Service(client, settings)


def test_the_claim_token_is_the_same_in_the_api_and_on_the_learners_page(service: Service) -> None:
    key = service.tenant("acme")
    service.publish_ledger(key, {"submission": {"ownership": "claim"}})
    answer = service.api("GET", "/api/v1/ownership/claim-token", key, params={"assignment": "py-ledger", "learner": "ann@example.org"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["method"] == "claim" and body["claim_file"] == ".grader-claim"
    assert body["token"] == claim_token(claim_secret(service.settings), "acme", "py-ledger", "ann@example.org")
    service.sign_in("acme", "ann@example.org")
    page = service.client.get("/learn/assignments/py-ledger")
    assert body["token"] in page.text and ".grader-claim" in page.text
    missing = service.api("GET", "/api/v1/ownership/claim-token", key, params={"assignment": "nope", "learner": "ann"})
    assert missing.status_code == 404


def test_keys_are_registered_listed_and_removed_through_the_api(service: Service) -> None:
    key = service.tenant("acme")
    ssh = (DATA / "learner-ssh.pub").read_text()
    first = service.api("POST", "/api/v1/ownership/keys", key, json={"learner": "ann", "public_key": ssh, "label": "laptop"})
    assert first.status_code == 201 and first.json()["fingerprint"].startswith("SHA256:18Nfh0")
    again = service.api("POST", "/api/v1/ownership/keys", key, json={"learner": "ann", "public_key": ssh})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    pgp = service.api(
        "POST", "/api/v1/ownership/keys", key, json={"learner": "ann", "public_key": (DATA / "learner-openpgp.asc").read_text()}
    )
    assert pgp.status_code == 201 and pgp.json()["kind"] == "openpgp"
    bad = service.api("POST", "/api/v1/ownership/keys", key, json={"learner": "ann", "public_key": "ssh-dss AAAA x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == "body.public_key"
    listed = service.api("GET", "/api/v1/ownership/keys", key, params={"learner": "ann"}).json()
    assert [k["kind"] for k in listed] == ["ssh", "openpgp"]
    assert service.api("GET", "/api/v1/ownership/keys", key, params={"learner": "bob"}).json() == []
    other = service.tenant("other")
    assert service.api("DELETE", f"/api/v1/ownership/keys/{first.json()['id']}", other, params={"learner": "ann"}).status_code == 404
    assert service.api("DELETE", f"/api/v1/ownership/keys/{first.json()['id']}", key, params={"learner": "ann"}).status_code == 204
    assert len(service.api("GET", "/api/v1/ownership/keys", key, params={"learner": "ann"}).json()) == 1


def test_a_learner_registers_a_key_on_the_assignment_page(service: Service) -> None:
    key = service.tenant("acme")
    service.publish_ledger(key, {"submission": {"ownership": "signed"}})
    service.sign_in("acme", "ann@example.org")
    token = service.csrf("/learn/assignments/py-ledger")
    bad = service.client.post("/learn/keys", data={"public_key": "nonsense", "back": "py-ledger", "csrf_token": token})
    assert "That key was not registered" in bad.text
    token = service.csrf("/learn/assignments/py-ledger")
    added = service.client.post(
        "/learn/keys", data={"public_key": (DATA / "learner-ssh.pub").read_text(), "back": "py-ledger", "csrf_token": token}
    )
    assert added.status_code == 200 and "SHA256:18Nfh0DSEAoRA06kTlh4y0YVtXxHFqGfBAQaoovqHg4" in added.text
    listed = service.api("GET", "/api/v1/ownership/keys", key, params={"learner": "ann@example.org"}).json()
    assert [k["fingerprint"] for k in listed] == ["SHA256:18Nfh0DSEAoRA06kTlh4y0YVtXxHFqGfBAQaoovqHg4"]


def test_the_author_reviews_a_duplicate_side_by_side_and_the_learner_reads_the_rejection(service: Service) -> None:
    key = service.tenant("acme")
    service.publish_ledger(key)
    first = service.submit_and_grade(key, "ann@example.org")
    second = service.submit_and_grade(key, "bob@example.org")
    with service.context().factory() as session:
        row = session.get(Submission, second)
        assert row is not None and row.state == "graded"
        assert submissions.credential_of_submission(session, row) is None

    author = service.key("acme", Scope.AUTHOR)
    assert service.author_sign_in(author).status_code == 303
    queue = service.client.get("/author/reviews")
    assert queue.status_code == 200 and "bob@example.org" in queue.text and "duplicate-commit" in queue.text
    review_id = service.api("GET", "/api/v1/reviews", key).json()["items"][0]["id"]
    page = service.client.get(f"/author/reviews/{review_id}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "100% in common with ann@example.org's submission" in text
    assert text.count('class="side-by-side"') >= 1 and "<mark>" in page.text
    assert "ledger/book.py" in text and first[:12] in text

    token = service.csrf(f"/author/reviews/{review_id}")
    unexplained = service.client.post(
        f"/author/reviews/{review_id}/decision", data={"decision": "reject", "reason": "", "csrf_token": token}
    )
    assert unexplained.status_code == 422 and "needs a reason" in unexplained.text
    token = service.csrf(f"/author/reviews/{review_id}")
    rejected = service.client.post(
        f"/author/reviews/{review_id}/decision",
        data={"decision": "reject", "reason": "Same commit as another learner.", "csrf_token": token},
    )
    assert rejected.status_code == 200 and 'id="review-state">rejected' in rejected.text

    learner = TestClient(service.client.app)
    service.sign_in("acme", "bob@example.org", learner)
    progress = learner.get(f"/learn/submissions/{second}")
    assert "Same commit as another learner." in progress.text
    assert first not in progress.text and "ann@example.org" not in progress.text


def test_an_approval_without_a_queue_says_so_and_can_be_sent_again(service: Service) -> None:
    key = service.tenant("acme")
    service.publish_ledger(key)
    service.submit_and_grade(key, "ann@example.org")
    service.submit_and_grade(key, "bob@example.org")
    review_id = service.api("GET", "/api/v1/reviews", key).json()["items"][0]["id"]
    answer = service.api("POST", f"/api/v1/reviews/{review_id}/decision", key, json={"approve": True})
    assert answer.status_code == 200
    assert answer.json()["issuing"] is False and "send the approval again" in answer.json()["detail"]
    assert answer.json()["review"]["state"] == "approved"
    submit_only = service.key("acme", Scope.SUBMIT)
    assert service.api("GET", "/api/v1/reviews", submit_only).status_code == 403


def test_a_failing_duplicate_waits_for_nothing_and_a_disabled_check_does_not_run(service: Service) -> None:
    key = service.tenant("acme")
    service.publish_ledger(key, {"submission": {"similarity": {"enabled": False}}})
    first = service.submit_and_grade(key, "ann@example.org")
    ctx = service.context()
    failing = GradingPorts(fetch=SolutionFetcher(), build=fake_image, run=FakeSandbox(failing=_all_tests()))
    answer = service.api(
        "POST", "/api/v1/submissions", key, json={"assignment": "py-ledger", "learner": "bob", "repo_url": "https://git.example/b.git"}
    )
    second = answer.json()["id"]
    assert grading.run_grading(dataclasses.replace(ctx, ports=failing), second) == "graded"
    assert service.api("GET", f"/api/v1/submissions/{second}", key).json()["passed"] is False
    assert service.api("GET", "/api/v1/reviews", key).json()["items"] == []  # nothing to hold: no credential anyway
    third = service.submit_and_grade(key, "cat@example.org")
    (review,) = service.api("GET", "/api/v1/reviews", key).json()["items"]
    assert review["submission_id"] == third
    assert {f["kind"] for f in review["flags"]} == {"duplicate-commit"}  # no similarity flag: the check is off
    detail = service.api("GET", f"/api/v1/reviews/{review['id']}", key).json()
    assert detail["similarity"] is None and detail["matches"] == []
    assert {f["other_submission_id"] for f in review["flags"]} == {first, second}


def _all_tests() -> set[str]:

    loaded = load_assignment(LEDGER_DIR)
    return {t for ids in (loaded.manifest or loaded.test_ids).values() for t in ids}


def test_the_check_stops_at_its_time_bound_and_says_so(service: Service) -> None:
    key = service.tenant("acme")
    service.publish_ledger(key)
    service.submit_and_grade(key, "ann@example.org")
    second = service.submit_and_grade(key, "bob@example.org")
    with service.context().factory() as session:
        row = session.get(Submission, second)
        assert row is not None
        work = authenticity.work_of(session, row.tenant_id, second)
        assert work is not None
        bounded = compare(session, work, SimilarityPolicy(), timeout_s=1e-9, max_candidates=100)
        assert (bounded.compared, bounded.candidates, bounded.complete) == (0, 1, False)
        assert bounded.matches == []
        full = compare(session, work, SimilarityPolicy(), timeout_s=60, max_candidates=100)
        assert (full.compared, full.complete) == (1, True) and full.matches[0].regions
        capped = compare(session, work, SimilarityPolicy(), timeout_s=60, max_candidates=0)
        assert capped.compared == 0 and not capped.complete
