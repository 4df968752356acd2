"""Nothing hidden reaches the learner, under any visibility setting.

A failing, flagged run of the ledger assignment (hidden tests failing with assertion text and
parameters, a hidden test that never reports, a canary that does not fail, harness signals that name
hidden tests) is rendered every way a learner can see it: the learner view, Markdown, HTML, the
`--feedback-dir` learner folder, and the API's feedback endpoint (JSON, Markdown and HTML). None may
hold a hidden test id, file name, parameter, assertion text, canary name or hidden-time output,
unless the spec's visibility for hidden tests allows that much (`names` shows names, `full` messages);
canary names and flag specifics are never shown to learners at all. The author's folder keeps it all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from grader.config import Settings
from grader.core.evidence import Evidence
from grader.core.feedback import learner_view, render_html, render_markdown
from grader.core.grade import Grade
from grader.core.judge import Canary, RunFacts, judge
from grader.core.policy import Scope
from grader.core.result import GradingResult
from grader.core.run_report import ContainerRun, parse_harness_stream
from grader.core.spec import FeedbackPolicy, LoadedAssignment, Visibility, load_assignment
from grader.grading.outputs import write_feedback
from grader.http import create_app
from grader.store import catalog, tenancy
from grader.store.db import engine_for, session_factory, session_scope, upgrade
from grader.store.models import AssignmentVersion, GradeRecord, Submission
from tests.conftest import LEDGER_DIR
from tests.unit.service.test_api import folder_files, tarball

TOKEN = "leak-test-token"
CANARY = Canary(suite="hidden", file="test_core_hidden.py", name="test_zz_planted_q7", left=1, right=2, total=4)
MISSING_CANARY = Canary(
    suite="hidden", file="test_reports_hidden.py", name="test_zz_planted_k3", left=1, right=2, total=4
)
ASSERTION = "assert Decimal('0.07') == Decimal('0.0700001')  # oracle"
PARAMETER = "sekrit-param-991"
HIDDEN_OUTPUT = "printed while a hidden test ran"
VISIBLE_OUTPUT = "printed while a visible test ran"
VISIBILITIES = list(Visibility)


@pytest.fixture(scope="module")
def ledger() -> LoadedAssignment:
    # Synthetic runs report the statically found ids; the manifest's parameter sets: tests/unit/test_manifest.py.
    return load_assignment(LEDGER_DIR).model_copy(update={"manifest": None})


def _line(event: dict[str, Any]) -> bytes:
    return f"@@grader:{TOKEN}:".encode() + json.dumps(event).encode() + b"\n"


def failing_grade(ledger: LoadedAssignment) -> Grade:
    """Visible tests mostly pass; hidden ones fail with secrets, one never reports, canaries misbehave."""
    events: list[dict[str, Any]] = [{"event": "start", "harness": 2}]
    hidden = ledger.test_ids["hidden"]
    for test_id in ledger.test_ids["visible"]:
        events.append({"event": "result", "suite": "visible", "id": test_id, "outcome": "passed"})
    for index, test_id in enumerate(hidden[1:]):
        result_id = f"{test_id}[{PARAMETER}]" if index == 0 else test_id
        events.append(
            {"event": "result", "suite": "hidden", "id": result_id, "outcome": "failed", "message": ASSERTION}
        )
    events.append({"event": "result", "suite": "hidden", "id": CANARY.id, "outcome": "skipped"})
    events.append({"event": "tamper", "code": "pytest-patched", "detail": f"before reporting {hidden[2]}"})
    events.append({"event": "notice", "code": "exit-at-import", "detail": "sys.exit(0) while test_core_hidden.py"})
    events.append({"event": "finish", "exit_status": 1})
    end = {"event": "end", "timed_out": False, "child_finished": True, "child_exit": 1}
    stream = b"".join(_line(e) for e in [*events, end])
    container = ContainerRun(
        name="run",
        runtime="runsc",
        exit_code=0,
        timed_out=False,
        oom_killed=False,
        output=stream,
        output_bytes=len(stream),
        output_truncated=False,
        duration=1.0,
    )
    facts = RunFacts(
        report=parse_harness_stream(stream, TOKEN),
        container=container,
        canaries=[CANARY, MISSING_CANARY],
        commit="c" * 40,
    )
    return judge(ledger, facts)


def hidden_secrets(ledger: LoadedAssignment) -> list[str]:
    """Strings only the hidden suite knows: its file names, test ids and names, parameters, messages."""
    visible = " ".join(ledger.test_ids["visible"])
    secrets = [PARAMETER, ASSERTION, "Decimal('0.0700001')", HIDDEN_OUTPUT]
    for test_id in ledger.test_ids["hidden"]:
        file, _, name = test_id.partition("::")
        secrets += [test_id, file]
        if name not in visible:
            secrets.append(name)
    return sorted(set(secrets))


def never_shown() -> list[str]:
    """Canary names and flag specifics: author only whatever the spec says."""
    return [CANARY.name, MISSING_CANARY.name, "author only", "before reporting", "hidden:"]


def allowed(policy: FeedbackPolicy, ledger: LoadedAssignment) -> list[str]:
    """What of the hidden suite this policy lets a learner see."""
    if policy.hidden_tests is Visibility.FULL:
        return hidden_secrets(ledger)
    if policy.hidden_tests is Visibility.NAMES:
        return [s for s in hidden_secrets(ledger) if s not in (ASSERTION, "Decimal('0.0700001')", HIDDEN_OUTPUT)]
    return []


def assert_clean(text: str, ledger: LoadedAssignment, policy: FeedbackPolicy, where: str) -> None:
    forbidden = [s for s in hidden_secrets(ledger) if s not in allowed(policy, ledger)] + never_shown()
    found = [s for s in forbidden if s in text]
    assert not found, f"{where} under {policy}: {found}"


def spec_for(ledger: LoadedAssignment, policy: FeedbackPolicy) -> LoadedAssignment:
    spec = ledger.spec.model_copy(update={"feedback": policy})
    return ledger.model_copy(update={"spec": spec})


def result_of(grade: Grade, output: str) -> GradingResult:
    evidence = Evidence(
        repository="https://git.example/ann/ledger.git",
        commit=grade.commit,
        ref=None,
        assignment_id=grade.assignment_id,
        assignment_version=grade.assignment_version,
        spec_hash=grade.spec_hash,
        image="grader-assignment:x",
        image_id="sha256:x",
        runtime="runsc",
        mode=grade.mode,
    )
    return GradingResult(grade=grade, evidence=evidence, timings={}, learner_output=output)


POLICIES = [FeedbackPolicy(visible_tests=v, hidden_tests=h) for v in VISIBILITIES for h in VISIBILITIES]


def test_the_run_really_carries_secrets_in_the_grade(ledger: LoadedAssignment) -> None:
    """The scan below means something only if the author's grade holds every kind of secret."""
    grade = failing_grade(ledger)
    dumped = grade.model_dump_json()
    for secret in (PARAMETER, CANARY.name, MISSING_CANARY.name, ledger.test_ids["hidden"][0]):
        assert secret in dumped, secret
    assert {"missing-results", "canary-passed", "canary-missing", "pytest-patched", "exit-at-import"} <= {
        f.code for f in grade.flags
    }


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"visible-{p.visible_tests}-hidden-{p.hidden_tests}")
def test_learner_renderings_hold_nothing_hidden(ledger: LoadedAssignment, policy: FeedbackPolicy) -> None:
    grade = failing_grade(ledger)
    loaded = spec_for(ledger, policy)
    view = learner_view(grade, loaded.spec, f"{VISIBLE_OUTPUT}\n{HIDDEN_OUTPUT}\n")
    assert_clean(view.model_dump_json(), ledger, policy, "learner view")
    assert_clean(render_markdown(view), ledger, policy, "feedback.md")
    assert_clean(render_html(view), ledger, policy, "feedback.html")


@pytest.mark.parametrize("hidden", [Visibility.NONE, Visibility.SUMMARY])
def test_feedback_dir_learner_folder_is_safe_and_author_folder_complete(
    ledger: LoadedAssignment, hidden: Visibility, tmp_path: Path
) -> None:
    policy = FeedbackPolicy(visible_tests=Visibility.FULL, hidden_tests=hidden)
    grade = failing_grade(ledger)
    write_feedback(result_of(grade, HIDDEN_OUTPUT), spec_for(ledger, policy), tmp_path)
    learner_files = sorted(p.name for p in (tmp_path / "feedback").iterdir())
    assert learner_files == ["feedback.html", "feedback.md"]
    for path in (tmp_path / "feedback").iterdir():
        assert_clean(path.read_text(encoding="utf-8"), ledger, policy, str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.txt", "author", "feedback"]
    assert "course staff only" in (tmp_path / "README.txt").read_text()
    author = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "author").iterdir()}
    assert sorted(author) == ["grade.json", "junit.xml", "results.json"]
    for name in ("grade.json", "junit.xml"):
        assert PARAMETER in author[name] and ledger.test_ids["hidden"][0].split("::")[1] in author[name]
    assert CANARY.name in author["grade.json"]  # the author's view keeps the flags' full detail


class _Api:
    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client, self.settings = client, settings
        self.factory = session_factory(engine_for(settings.resolved_database_url()))

    def key(self, *scopes: Scope) -> str:
        with session_scope(self.factory) as session:
            tenant = tenancy.tenant_by_slug(session, "acme") or tenancy.create_tenant(session, "acme", "acme")
            return tenancy.create_api_key(session, tenant.id, list(scopes))[1]

    def get(self, path: str, key: str, **params: str) -> Any:
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def api(tmp_path: Path) -> Iterator[_Api]:
    settings = Settings(
        home=tmp_path,
        redis_url="redis://127.0.0.1:1/0",  # nothing listens: the submission just stays queued
        allowed_hosts=["git.example"],
        public_url="https://grader.example",
    )
    upgrade(settings.resolved_database_url())
    with TestClient(create_app(settings)) as client:
        yield _Api(client, settings)


def _graded_submission(api: _Api, admin: str, grade: Grade, output: str) -> str:
    upload = api.client.post(
        "/api/v1/assignments",
        content=tarball(folder_files(LEDGER_DIR)),
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/gzip"},
    )
    assert upload.status_code == 202, upload.text
    with session_scope(api.factory) as session:  # stands in for the worker's check job: it passed
        for version in session.scalars(select(AssignmentVersion)):
            catalog.settle_check(version, None, [])
    created = api.client.post(
        "/api/v1/submissions",
        json={"assignment": "py-ledger", "learner": "ann@example.org", "repo_url": "https://git.example/ann/l.git"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert created.status_code == 201, created.text
    submission_id: str = created.json()["id"]
    with session_scope(api.factory) as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        session.add(
            GradeRecord(
                tenant_id=submission.tenant_id,
                submission_id=submission.id,
                assignment_version_id=submission.assignment_version_id,
                run=submission.run,
                score=grade.score,
                max_score=grade.max_score,
                percent=grade.percent,
                passed=grade.passed,
                tampered=grade.tampered,
                grade=grade.model_dump(mode="json"),
                evidence={},
                timings={},
                learner_output=output,
            )
        )
    return submission_id


def test_api_feedback_holds_nothing_hidden(ledger: LoadedAssignment, api: _Api) -> None:
    """The bundled spec says hidden_tests: summary; every format of the endpoint is scanned."""
    admin, learner = api.key(Scope.ADMIN), api.key(Scope.SUBMIT)
    grade = failing_grade(ledger)
    submission_id = _graded_submission(api, admin, grade, HIDDEN_OUTPUT)
    path = f"/api/v1/submissions/{submission_id}/feedback"
    policy = ledger.spec.feedback
    answer = api.get(path, learner)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["flags"] and body["criteria"] and not body["passed"]
    assert_clean(json.dumps(body), ledger, policy, "API feedback JSON")
    for format in ("markdown", "html"):
        rendered = api.get(path, learner, format=format)
        assert rendered.status_code == 200
        assert_clean(rendered.text, ledger, policy, f"API feedback {format}")


def _timed_out(ledger: LoadedAssignment, running: list[list[str]]) -> Grade:
    events = [{"event": "start", "harness": 2}]
    end = {"event": "end", "timed_out": True, "child_finished": False, "child_exit": None, "running": running}
    stream = b"".join(_line(e) for e in [*events, end])
    container = ContainerRun(
        name="run",
        runtime="runsc",
        exit_code=0,
        timed_out=False,
        oom_killed=False,
        output=stream,
        output_bytes=len(stream),
        output_truncated=False,
        duration=60.0,
    )
    facts = RunFacts(report=parse_harness_stream(stream, TOKEN), container=container, canaries=[], commit="c" * 40)
    return judge(ledger, facts)


def test_a_time_limit_names_a_visible_test_never_a_hidden_one(ledger: LoadedAssignment) -> None:
    visible, hidden = ledger.test_ids["visible"][0], ledger.test_ids["hidden"][0]
    assert _timed_out(ledger, [["visible", visible]]).reason == (
        f"time limit exceeded: the tests did not finish within 60 s (while {visible} was running)"
    )
    assert f"(while {visible} was running)" in _timed_out(ledger, [["visible", visible], ["hidden", hidden]]).reason
    reason = _timed_out(ledger, [["hidden", hidden]]).reason
    assert reason == "time limit exceeded: the tests did not finish within 60 s (while a hidden test was running)"
    assert _timed_out(ledger, []).reason == "time limit exceeded: the tests did not finish within 60 s"
    assert _timed_out(ledger, [["visible"]]).reason == "time limit exceeded: the tests did not finish within 60 s"
    grade = _timed_out(ledger, [["hidden", hidden]])
    view = learner_view(grade, ledger.spec)
    assert_clean(render_markdown(view) + view.model_dump_json(), ledger, ledger.spec.feedback, "timed-out feedback")
