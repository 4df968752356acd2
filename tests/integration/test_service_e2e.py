"""End to end over HTTP against the real stack: uvicorn, rq workers, Redis, Docker, git over HTTP.

A provider makes a tenant and keys, uploads the py-ledger assignment, registers a webhook; a learner
submits a repository, follows progress live (SSE), reads feedback that hides the hidden tests; the
provider's receiver gets signed events. Tenants are isolated; an idempotency key makes one submission.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import count, pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from credentials.verify import verify_credential
from grader.core.spec import load_assignment
from grader.core.webhook_signing import SIGNATURE_HEADER, SignatureInvalid, verify_signature
from grader.demo.stack import assignment_tarball, wait_checked
from grader.store import catalog, submissions, tenancy
from grader.store.db import engine_for, session_factory, session_scope
from grader.store.models import Submission
from tests.conftest import LEDGER_DIR, LEDGER_SOLUTIONS
from tests.distinct import publish_own, spec_hash_without_similarity, tarball_without_similarity
from tests.integration.test_service_stack import GRADER, Receiver, Stack, postgres_service, redis_service, stack

pytestmark = pytest.mark.integration
__all__ = ["postgres_service", "redis_service", "stack"]  # fixtures used from the stack module

GRADE_TIMEOUT_S = 240
_learners = count()


def ledger_tarball() -> bytes:
    # Many learners here hand in one bundled solution, each expecting a credential: tests/distinct.py.
    return tarball_without_similarity(LEDGER_DIR)


def learner() -> str:
    return f"learner-{next(_learners)}@example.org"


def wait_finished(client: httpx.Client, submission_id: str, timeout: float = GRADE_TIMEOUT_S) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/v1/submissions/{submission_id}").json()
        if body["state"] in ("graded", "rejected", "error"):
            return body
        time.sleep(0.5)
    raise AssertionError(f"submission {submission_id} not finished in {timeout}s: {body}")


def follow(client: httpx.Client, submission_id: str) -> list[dict[str, Any]]:
    """Read the SSE stream to its end, as a browser's EventSource would."""
    events: list[dict[str, Any]] = []
    name = ""
    with client.stream("GET", f"/api/v1/submissions/{submission_id}/events", timeout=GRADE_TIMEOUT_S) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name == "state":
                events.append(json.loads(line.split(":", 1)[1]))
            elif line.startswith("data:") and name == "end":
                return events
    raise AssertionError(f"stream ended without an end event; got {events}")


@pytest.fixture(scope="module")
def provider(stack: Stack) -> dict[str, Any]:
    """Tenant 'acme' with keys for each role, the ledger assignment uploaded, a webhook registered."""
    # Build (or find cached) the images first, so that no grading below waits on a first-time build.
    built = subprocess.run(
        [*GRADER, "assignment", "build", str(LEDGER_DIR)], env=stack.env, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-2000:]
    admin = stack.new_tenant("acme")
    with stack.client(admin) as client:
        keys = {
            scope: client.post("/api/v1/api-keys", json={"scopes": [scope], "name": scope}).json()["key"]
            for scope in ("submit", "author")
        }
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with stack.client(admin) as client:
        hook = client.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "events": ["submission.graded", "credential.issued", "credential.revoked"]},
        )
        assert hook.status_code == 201, hook.text
    with stack.client(keys["author"]) as client:
        upload = client.post(
            "/api/v1/assignments", content=ledger_tarball(), headers={"Content-Type": "application/gzip"}
        )
        assert upload.status_code == 202, upload.text
        check = wait_checked(client, "py-ledger", "1.0.0")
        assert check["status"] == "published", check
    return {"admin": admin, **keys, "receiver": receiver, "hook": hook.json(), "upload": upload.json()}


def submit(stack: Stack, key: str, solution: str, who: str | None = None, **extra: str) -> httpx.Response:
    url = publish_own(stack.git, f"{solution}-{next(_learners)}", LEDGER_SOLUTIONS / solution)
    body = {"assignment": "py-ledger", "learner": who or learner(), "repo_url": url}
    with stack.client(key) as client:
        return client.post("/api/v1/submissions", json=body, headers=extra)


def test_upload_is_versioned_and_immutable(stack: Stack, provider: dict[str, Any]) -> None:
    assert provider["upload"]["version"]["spec_hash"] == spec_hash_without_similarity(LEDGER_DIR)  # what workers grade against
    with stack.client(provider["author"]) as client:
        again = client.post(
            "/api/v1/assignments", content=ledger_tarball(), headers={"Content-Type": "application/gzip"}
        )
        assert again.status_code == 200 and again.json()["created"] is False
        versions = client.get("/api/v1/assignments/py-ledger/versions").json()
    assert [v["version"] for v in versions] == ["1.0.0"]


def test_an_upload_that_fails_its_check_is_refused_not_published(
    stack: Stack, provider: dict[str, Any], tmp_path: Path
) -> None:
    """The worker runs `grader assignment check` on every upload: a version whose solutions do not grade
    as solutions/expected.yaml says is refused with the table and takes no submission."""
    copy = tmp_path / "py-ledger"
    shutil.copytree(LEDGER_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    spec_file = copy / "assignment.yaml"
    spec_file.write_text(spec_file.read_text().replace("version: 1.0.0", "version: 1.0.1"))
    (copy / "solutions" / "expected.yaml").write_text("reference: {score: 90.0, passed: true}\n")
    with stack.client(provider["author"]) as client:
        upload = client.post(
            "/api/v1/assignments", content=assignment_tarball(copy), headers={"Content-Type": "application/gzip"}
        )
        assert upload.status_code == 202 and upload.json()["version"]["status"] == "checking", upload.text
        check = wait_checked(client, "py-ledger", "1.0.1")
        versions = {v["version"]: v["status"] for v in client.get("/api/v1/assignments/py-ledger/versions").json()}
        latest = client.get("/api/v1/assignments/py-ledger").json()["latest_version"]
    assert check["status"] == "refused", check
    assert [(row["solution"], row["problems"]) for row in check["rows"]] == [("reference", ["score 100, expected 90"])]
    assert "solutions/reference: score 100, expected 90" in check["detail"]
    assert versions["1.0.1"] == "refused" and latest == "1.0.0"
    with stack.client(provider["submit"]) as client:
        url = stack.git.publish(f"reference-{next(_learners)}", LEDGER_SOLUTIONS / "reference")
        body = {"assignment": "py-ledger", "learner": learner(), "repo_url": url, "version": "1.0.1"}
        refused = client.post("/api/v1/submissions", json=body)
    assert refused.status_code == 409 and refused.json()["type"] == "/problems/version-not-published"


def test_learner_submits_follows_progress_and_reads_feedback(stack: Stack, provider: dict[str, Any]) -> None:
    created = submit(stack, provider["submit"], "reference", **{"Idempotency-Key": "e2e-reference"})
    assert created.status_code == 201, created.text
    submission_id = created.json()["id"]
    with stack.client(provider["submit"]) as client:
        events = follow(client, submission_id)
        states = [e["state"] for e in events]
        assert states[0] == "queued" and states[-1] == "graded", states
        for state in ("fetching", "building", "running", "judging", "notifying"):
            assert state in states, states
        done = client.get(f"/api/v1/submissions/{submission_id}").json()
        assert done["passed"] is True and done["percent"] == 100.0 and done["commit"]
        feedback = client.get(f"/api/v1/submissions/{submission_id}/feedback").json()
        markdown = client.get(f"/api/v1/submissions/{submission_id}/feedback", params={"format": "markdown"}).text
        # A submit key is a learner's view: the full grade (hidden test names) needs the author scope.
        assert client.get(f"/api/v1/submissions/{submission_id}/grade").status_code == 403
    with stack.client(provider["author"]) as client:
        full = client.get(f"/api/v1/submissions/{submission_id}/grade").json()
    hidden_ids = load_assignment(LEDGER_DIR).test_ids["hidden"]
    hidden_results = [t["id"] for t in full["grade"]["tests"] if t["suite"] == "hidden"]
    assert {r.split("[")[0] for r in hidden_results} == set(hidden_ids)  # the author sees them all
    suites = {s["suite"]: s for s in feedback["suites"]}
    assert suites["hidden"]["visibility"] == "summary" and suites["hidden"]["tests"] == []
    assert suites["hidden"]["passed"] == suites["hidden"]["total"] == len(hidden_results)
    assert suites["visible"]["tests"], "visible tests are shown in full"
    for test_id in hidden_ids:  # the learner sees counts only
        name = test_id.split("::")[-1]
        assert name not in json.dumps(feedback) and name not in markdown

    # The provider's endpoint got a signed submission.graded event that a receiver can verify.
    receiver: Receiver = provider["receiver"]
    (hit,) = receiver.wait_for(lambda r: r["event"] == "submission.graded" and submission_id in r["body"].decode())
    verify_signature(
        provider["hook"]["secret"], hit["headers"][SIGNATURE_HEADER.lower()], hit["body"], int(time.time())
    )
    with pytest.raises(SignatureInvalid):
        verify_signature(
            "whsec_wrong-secret-000000", hit["headers"][SIGNATURE_HEADER.lower()], hit["body"], int(time.time())
        )
    payload = json.loads(hit["body"])
    assert payload["data"]["passed"] is True and payload["data"]["percent"] == 100.0

    _check_credential(stack, provider, submission_id, done)


def _check_credential(stack: Stack, provider: dict[str, Any], submission_id: str, done: dict[str, Any]) -> None:
    """The passing grade yields one credential of the tenant's did:web issuer that verifies; its
    public document, status list and did.json are served without a key."""
    assert done["credential_id"], done
    with stack.client(provider["submit"]) as client:
        credential = client.get(f"/api/v1/credentials/{done['credential_id']}").json()
        verified = client.get(f"/api/v1/credentials/{done['credential_id']}/verify").json()
    assert verified["verified"] is True, verified
    assert {c["name"]: c["outcome"] for c in verified["checks"]}["status"] == "passed"
    document = credential["document"]
    assert document["issuer"]["id"].endswith(":tenants:acme")
    assert done["commit"] in json.dumps(document["evidence"])
    public = httpx.get(credential["public_url"], timeout=10).json()
    assert public == document
    status_list = httpx.get(document["credentialStatus"]["statusListCredential"], timeout=10).json()
    assert status_list["proof"][0]["cryptosuite"] == "eddsa-rdfc-2022"
    did = httpx.get(f"{stack.api}/tenants/acme/did.json", timeout=10).json()
    assert did["id"] == document["issuer"]["id"]
    # An employer verifies offline with the credentials package and what the service publishes.
    report = verify_credential(public, status_list=status_list, did_documents=[did], require_evidence=True)
    assert report.verified, report.errors
    receiver: Receiver = provider["receiver"]
    receiver.wait_for(lambda r: r["event"] == "credential.issued" and credential["id"] in r["body"].decode())


def test_revocation_reaches_verifiers_and_the_provider(stack: Stack, provider: dict[str, Any]) -> None:
    created = submit(stack, provider["submit"], "reference")
    with stack.client(provider["submit"]) as client:
        done = wait_finished(client, created.json()["id"])
        credential_id = done["credential_id"]
        assert credential_id and client.get(f"/api/v1/credentials/{credential_id}/verify").json()["verified"]
        assert client.post(f"/api/v1/credentials/{credential_id}/revoke", json={}).status_code == 403
    with stack.client(provider["admin"]) as client:
        revoked = client.post(f"/api/v1/credentials/{credential_id}/revoke", json={"reason": "academic misconduct"})
        assert revoked.status_code == 200 and revoked.json()["revoked"] is True
        document = revoked.json()["document"]
        verdict = client.get(f"/api/v1/credentials/{credential_id}/verify").json()
    assert verdict["verified"] is False and verdict["revoked"] is True
    assert any(e.startswith("status:") for e in verdict["errors"])
    # anyone can check it: the public verify endpoint and an offline verifier both see the revocation
    public = httpx.post(f"{stack.api}/api/v1/verify", json=document, timeout=10).json()
    assert public["verified"] is False and public["revoked"] is True
    status_list = httpx.get(document["credentialStatus"]["statusListCredential"], timeout=10).json()
    did = httpx.get(f"{stack.api}/tenants/acme/did.json", timeout=10).json()
    offline = verify_credential(document, status_list=status_list, did_documents=[did])
    assert offline.check("status").outcome == "failed" and offline.check("proof").outcome == "passed"
    receiver: Receiver = provider["receiver"]
    (event,) = receiver.wait_for(lambda r: r["event"] == "credential.revoked" and credential_id in r["body"].decode())
    assert json.loads(event["body"])["data"]["reason"] == "academic misconduct"


def test_failing_code_is_graded_once_and_never_retried(stack: Stack, provider: dict[str, Any]) -> None:
    created = submit(stack, provider["submit"], "failing")
    assert created.status_code == 201, created.text
    with stack.client(provider["submit"]) as client:
        done = wait_finished(client, created.json()["id"])
        history = client.get(f"/api/v1/submissions/{done['id']}/history").json()
    assert done["state"] == "graded" and done["passed"] is False and done["credential_id"] is None
    assert not any(e["state"] == "retrying" for e in history)
    assert _tries(stack, done["id"]) == 1


def test_unreachable_repository_is_rejected_without_retry(stack: Stack, provider: dict[str, Any]) -> None:
    body = {"assignment": "py-ledger", "learner": learner(), "repo_url": f"http://{stack.git.host}/no-such-repo.git"}
    with stack.client(provider["submit"]) as client:
        created = client.post("/api/v1/submissions", json=body)
        assert created.status_code == 201, created.text
        done = wait_finished(client, created.json()["id"], timeout=60)
    assert done["state"] == "rejected" and done["score"] is None
    assert _tries(stack, done["id"]) == 1


def _tries(stack: Stack, submission_id: str) -> int:
    factory = session_factory(engine_for(f"sqlite:///{stack.home / 'grader.db'}"))
    with session_scope(factory) as session:
        row = session.get(Submission, submission_id)
        assert row is not None
        return row.tries


def test_same_idempotency_key_twice_makes_one_submission(stack: Stack, provider: dict[str, Any]) -> None:
    url = publish_own(stack.git, f"idem-{next(_learners)}", LEDGER_SOLUTIONS / "partial")
    who = learner()
    body = {"assignment": "py-ledger", "learner": who, "repo_url": url}
    headers = {"Idempotency-Key": f"idem-{who}"}

    def post(_: int) -> httpx.Response:
        with stack.client(provider["submit"]) as client:
            return client.post("/api/v1/submissions", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=4) as pool:  # concurrent first tries race for the key
        answers = list(pool.map(post, range(4)))
    answers.append(post(0))  # and a later plain retry
    assert {a.status_code for a in answers} <= {200, 201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.status_code == 201 for a in answers) == 1
    with stack.client(provider["submit"]) as client:
        mine = client.get("/api/v1/submissions", params={"learner": who}).json()["items"]
        changed = client.post("/api/v1/submissions", json={**body, "ref": "main"}, headers=headers)
    assert len(mine) == 1
    assert changed.status_code == 422 and changed.headers["content-type"] == "application/problem+json"


def test_a_key_of_one_tenant_reads_nothing_of_another(stack: Stack, provider: dict[str, Any]) -> None:
    created = submit(stack, provider["submit"], "partial")
    mine = created.json()["id"]
    other = stack.new_tenant("globex")
    with stack.client(other) as client:
        assert client.get("/api/v1/submissions").json()["items"] == []
        assert client.get("/api/v1/assignments").json() == []
        assert client.get("/api/v1/credentials").json() == []
        assert client.get("/api/v1/webhooks").json() == []
        for path in (
            f"/api/v1/submissions/{mine}",
            f"/api/v1/submissions/{mine}/feedback",
            f"/api/v1/submissions/{mine}/grade",
            f"/api/v1/submissions/{mine}/history",
            f"/api/v1/submissions/{mine}/events",
            "/api/v1/assignments/py-ledger",
            "/api/v1/assignments/py-ledger/versions",
            f"/api/v1/webhooks/{provider['hook']['id']}/deliveries",
        ):
            answer = client.get(path)
            assert answer.status_code == 404, (path, answer.status_code)
            assert answer.headers["content-type"] == "application/problem+json"
        theirs = client.post(
            "/api/v1/submissions",
            json={"assignment": "py-ledger", "learner": learner(), "repo_url": created.json()["repo_url"]},
        )
        assert theirs.status_code == 404
        assert client.post("/api/v1/assignments/py-ledger/regrade", json={}).status_code == 404
    with stack.client(provider["submit"]) as client:
        wait_finished(client, mine)


def test_webhook_retries_with_backoff_logs_and_redelivers(stack: Stack, provider: dict[str, Any]) -> None:
    receiver: Receiver = provider["receiver"]
    created = submit(stack, provider["submit"], "partial")
    submission_id = created.json()["id"]
    with receiver.lock:  # set before grading ends: the receiver is down for this event's first two tries
        receiver.script[("submission.graded", submission_id)] = [500, 503]
    with stack.client(provider["submit"]) as client:
        wait_finished(client, submission_id)
    hits = receiver.wait_for(
        lambda r: r["event"] == "submission.graded" and submission_id in r["body"].decode() and r["answered"] == 200
    )
    tries = [r for r in receiver.received if r["event"] == "submission.graded" and submission_id in r["body"].decode()]
    assert [t["answered"] for t in tries] == [500, 503, 200]
    gaps = [b["at"] - a["at"] for a, b in pairwise(tries)]
    # Backoff 2 s then 4 s; rq schedules to the whole second, so each wait may be up to 1 s shorter.
    assert gaps[0] >= 1.0 and gaps[1] >= 3.0, gaps
    delivery_id = hits[0]["headers"]["grader-delivery"]
    with stack.client(provider["admin"]) as client:
        log = client.get(f"/api/v1/webhook-deliveries/{delivery_id}").json()
        assert log["status"] == "delivered" and log["attempts"] == 3 and log["last_status_code"] == 200
        again = client.post(f"/api/v1/webhook-deliveries/{delivery_id}/redeliver")
        assert again.status_code == 202
    receiver.wait_for(lambda r: r["headers"]["grader-delivery"] == delivery_id and r["at"] > hits[0]["at"] + 0.01)


def test_reconciler_enqueues_an_accepted_submission_whose_job_was_lost(stack: Stack, provider: dict[str, Any]) -> None:
    """The API committed but never enqueued (Redis blipped): the workers' reconciler picks it up."""
    url = publish_own(stack.git, f"lost-{next(_learners)}", LEDGER_SOLUTIONS / "partial")
    factory = session_factory(engine_for(f"sqlite:///{stack.home / 'grader.db'}"))
    with session_scope(factory) as session:
        tenant = tenancy.tenant_by_slug(session, "acme")
        assert tenant is not None
        assignment = catalog.assignment_by_slug(session, tenant.id, "py-ledger")
        assert assignment is not None
        version = catalog.pick_version(session, assignment, None)
        assert version is not None
        row = Submission(
            tenant_id=tenant.id,
            assignment_id=assignment.id,
            assignment_version_id=version.id,
            learner=learner(),
            repo_url=url,
            attempt=1,
            request_hash="lost",
        )
        inserted = submissions.insert_submission(session, row)
        assert inserted is not None
        lost_id = inserted.id
    with stack.client(provider["submit"]) as client:
        done = wait_finished(client, lost_id)
        history = client.get(f"/api/v1/submissions/{lost_id}/history").json()
    assert done["state"] == "graded"
    assert any(e["status"] == "requeued" for e in history)


def test_regrade_adds_a_run_and_keeps_the_first_grade(stack: Stack, provider: dict[str, Any]) -> None:
    created = submit(stack, provider["submit"], "partial")
    submission_id = created.json()["id"]
    with stack.client(provider["submit"]) as client:
        first = wait_finished(client, submission_id)
    with stack.client(provider["author"]) as client:
        answer = client.post("/api/v1/assignments/py-ledger/regrade", json={"submission_ids": [submission_id]})
        assert answer.status_code == 202, answer.text
        assert answer.json()["submission_ids"] == [submission_id]
        second = wait_finished(client, submission_id)
    assert second["run"] == first["run"] + 1 and second["state"] == "graded"
    assert second["percent"] == first["percent"]  # same code, same spec: the same grade, recorded anew
    # The pass was credentialed once; the regrade of the same submission yields no second credential.
    assert first["credential_id"] and second["credential_id"] == first["credential_id"]
    with stack.client(provider["submit"]) as client:
        mine = [c for c in client.get("/api/v1/credentials").json() if c["submission_id"] == submission_id]
    assert len(mine) == 1
    with stack.client(provider["submit"]) as client:
        forbidden = client.post("/api/v1/assignments/py-ledger/regrade", json={})
    assert forbidden.status_code == 403


def test_metrics_count_stages_and_outcomes(stack: Stack, provider: dict[str, Any]) -> None:
    created = submit(stack, provider["submit"], "failing")
    with stack.client(provider["submit"]) as client:
        wait_finished(client, created.json()["id"])
        text = client.get("/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['grader_stage_duration_seconds_count{stage="run"}'] >= 1
    assert samples['grader_stage_duration_seconds_count{stage="fetch"}'] >= 1
    assert samples['grader_submission_outcomes_total{outcome="failed"}'] >= 1
    assert 'grader_queue_jobs{state="queued"}' in samples
