"""One taxonomy of faults (grader.core.errors): every fault the grader raises is the learner's, the author's
or the system's, and one mapping says what each kind means for the CLI, the worker and the API."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from grader.core.errors import (
    EXIT_BAD_INPUT,
    EXIT_SYSTEM_FAULT,
    AuthorFault,
    FaultKind,
    GraderFault,
    LearnerFault,
    SystemFault,
    disposition,
    fault_detail,
    fault_label,
    is_known_fault,
    problem_code,
)
from grader.core.issuance_rule import IssuanceRefused
from grader.core.spec import SpecError, SpecIssue
from grader.core.urlpolicy import UrlRefused
from grader.fetch.repository import FetchFailed, FetchRefused, FetchUnavailable
from grader.http.problems import PROBLEM_MEDIA_TYPE, fault_problem, install
from grader.sandbox.containers import SandboxUnavailable
from grader.sandbox.engine import EngineUnavailable
from grader.sandbox.images import ImageBuildFailed, PackageNotFound

FAULTS: list[tuple[GraderFault, type[GraderFault]]] = [
    (UrlRefused("userinfo", "no user names"), LearnerFault),
    (FetchRefused("path-too-long", "a name of 300 bytes"), LearnerFault),
    (FetchFailed("no repository at https://github.com/a/b.git"), LearnerFault),
    (IssuanceRefused("no credential for a grade that did not pass"), LearnerFault),
    (
        SpecError([SpecIssue(file="assignment.yaml", field="limits.memory_mb", message="expected an integer")]),
        AuthorFault,
    ),
    (PackageNotFound("no installable distribution", file="assignment.yaml", field="packages"), AuthorFault),
    (AuthorFault("the test modules are too large", field="tests"), AuthorFault),
    (FetchUnavailable("could not reach the git host github.com"), SystemFault),
    (EngineUnavailable("cannot reach the Docker engine"), SystemFault),
    (ImageBuildFailed("building grader-runner failed"), SystemFault),
    (SandboxUnavailable("gVisor is required"), SystemFault),
]


@pytest.mark.parametrize(("fault", "base"), FAULTS, ids=lambda f: type(f).__name__)
def test_every_fault_has_one_owner(fault: GraderFault, base: type[GraderFault]) -> None:
    owners = [cls for cls in (LearnerFault, AuthorFault, SystemFault) if isinstance(fault, cls)]
    assert owners == [base]
    assert disposition(fault).kind is base.kind


def test_existing_callers_that_catch_the_old_bases_still_work() -> None:
    assert isinstance(UrlRefused("ref", "x"), ValueError)
    assert isinstance(FetchFailed("x"), RuntimeError) and isinstance(ImageBuildFailed("x"), RuntimeError)


def test_the_one_mapping() -> None:
    learner, author, system = (disposition(k("x")) for k in (LearnerFault, AuthorFault, SystemFault))
    assert (learner.exit_code, learner.state, learner.retry, learner.consumes_attempt, learner.http_status) == (
        EXIT_BAD_INPUT, "rejected", False, True, 422,
    )  # fmt: skip
    assert (author.exit_code, author.state, author.retry, author.consumes_attempt, author.http_status) == (
        EXIT_BAD_INPUT, "error", False, False, 422,
    )  # fmt: skip
    assert (system.exit_code, system.state, system.retry, system.consumes_attempt, system.http_status) == (
        EXIT_SYSTEM_FAULT, "error", True, False, 503,
    )  # fmt: skip
    assert (EXIT_BAD_INPUT, EXIT_SYSTEM_FAULT) == (2, 1)


def test_an_unexpected_exception_is_a_fault_of_the_system() -> None:
    bare = ValueError("something broke")
    assert disposition(bare).kind is FaultKind.SYSTEM and disposition(bare).retry
    assert fault_detail(bare) == "ValueError: something broke" and problem_code(bare) == "system-fault"


def test_an_author_fault_names_the_file_and_the_field() -> None:
    fault = PackageNotFound("no installable distribution of 'nope'", file="assignment.yaml", field="packages")
    assert str(fault).startswith("assignment.yaml: packages: ") and fault_label(fault) == "assignment error"


def test_cli_labels() -> None:
    assert fault_label(FetchFailed("x")) == "fetch failed"
    assert fault_label(FetchUnavailable("x")) == "fetch failed (system fault)"
    assert fault_label(EngineUnavailable("x")) == "system fault"
    assert fault_label(UrlRefused("scheme", "x")) == "error"


def test_api_problems_follow_the_mapping() -> None:
    refused = fault_problem(UrlRefused("userinfo", "no user names"))
    assert (refused.status, refused.code) == (422, "repo-url-refused")
    unreachable = fault_problem(FetchUnavailable("could not reach the git host"))
    assert (unreachable.status, unreachable.code) == (503, "git-host-unreachable")
    assert "Retry-After" in unreachable.headers
    assert fault_problem(SpecError([])).status == 422


@pytest.mark.parametrize(
    ("fault", "status", "kind"),
    [
        (FetchUnavailable("could not reach the git host"), 503, "/problems/git-host-unreachable"),
        (PackageNotFound("nope", file="assignment.yaml", field="packages"), 422, "/problems/package-not-found"),
        (FetchRefused("not-a-commit", "HEAD names a blob"), 422, "/problems/repo-url-refused"),
    ],
)
def test_a_fault_raised_in_a_request_is_a_problem_document(fault: GraderFault, status: int, kind: str) -> None:
    app = FastAPI()
    install(app)

    @app.get("/boom")
    def boom() -> None:
        raise fault

    answer = TestClient(app).get("/boom")
    assert answer.status_code == status and answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = answer.json()
    assert body["type"] == kind and body["detail"] == fault_detail(fault) and body["instance"] == "/boom"


def test_errors_of_the_infrastructure_are_known_faults_of_the_system() -> None:
    from docker.errors import APIError
    from redis.exceptions import ConnectionError as RedisConnectionError

    for error in (APIError("409 Conflict"), RedisConnectionError("refused")):
        assert is_known_fault(error) and disposition(error).exit_code == EXIT_SYSTEM_FAULT
    assert is_known_fault(FetchFailed("x"))
    assert not is_known_fault(KeyError("a bug")) and not is_known_fault(ValueError("a bug"))
