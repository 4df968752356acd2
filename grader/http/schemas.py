"""The API's request and response bodies: what crosses the HTTP border, and nothing more."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from credentials.verify import Check
from grader.core.evidence import Evidence
from grader.core.feedback import CriterionView, LearnerFlag, SuiteSummary
from grader.core.grade import Grade
from grader.core.policy import Scope


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmissionCreate(In):
    assignment: str = Field(min_length=1, max_length=64, description="The assignment's id (its spec `id`).")
    version: str | None = Field(default=None, max_length=64, description="A published version; default the latest.")
    learner: str = Field(min_length=1, max_length=320, description="The learner's identity in this tenant.")
    repo_url: str = Field(min_length=1, max_length=2048, description="The learner's git repository URL.")
    ref: str | None = Field(default=None, min_length=1, max_length=255, description="Branch, tag or commit.")


class SubmissionOut(BaseModel):
    id: str
    assignment: str
    version: str
    learner: str
    repo_url: str
    ref: str | None
    attempt: int
    run: int
    state: str
    late: bool
    commit: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    score: float | None = None
    max_score: float | None = None
    percent: float | None = None
    passed: bool | None = None
    credential_id: str | None = None
    links: dict[str, str] = {}


class SubmissionPage(BaseModel):
    items: list[SubmissionOut]
    next_offset: int | None


class EventOut(BaseModel):
    id: int
    run: int
    state: str
    stage: str
    status: str
    detail: str
    at: datetime


class FeedbackOut(BaseModel):
    submission_id: str
    assignment: str
    version: str
    score: float
    max_score: float
    percent: float
    passed: bool
    late: bool
    reason: str
    criteria: list[CriterionView]
    suites: list[SuiteSummary]
    flags: list[LearnerFlag]
    markdown: str


class GradeOut(BaseModel):
    submission_id: str
    run: int
    grade: Grade
    evidence: Evidence
    timings: dict[str, float]
    learner_output: str
    created_at: datetime


class SpecIssueOut(BaseModel):
    file: str
    field: str
    message: str


class VersionOut(BaseModel):
    version: str
    status: Literal["checking", "published", "refused"] = Field(
        description="Only a published version takes submissions: its check passed (GET …/check says more)."
    )
    spec_hash: str
    archive_sha256: str
    test_count: int
    created_at: datetime
    checked_at: datetime | None = None
    spec: dict[str, Any]


class CheckRowOut(BaseModel):
    solution: str = Field(description="The folder under solutions/ that was graded.")
    expected: str = Field(description="What solutions/expected.yaml says it scores.")
    got: str = Field(description="What it scored.")
    problems: list[str] = Field(description="How the two differ; empty when they agree.")


class CheckOut(BaseModel):
    """`grader assignment check` as the service ran it on the upload: the author's table."""

    assignment: str
    version: str
    status: Literal["checking", "published", "refused"]
    detail: str = Field(description="Why it was refused, or why the check could not run yet (it is retried).")
    checked_at: datetime | None
    rows: list[CheckRowOut]
    problems: list[str] = Field(description="About the assignment itself: the reference run, collection, manifest.")


class AssignmentOut(BaseModel):
    id: str
    title: str
    created_at: datetime
    latest_version: str | None
    versions: list[str]


class PublishOut(BaseModel):
    assignment: str
    version: VersionOut
    created: bool


class ValidationOut(BaseModel):
    valid: bool
    assignment: str | None = None
    version: str | None = None
    spec_hash: str | None = None
    test_count: int | None = None
    errors: list[SpecIssueOut] = []


class RegradeIn(In):
    version: str | None = Field(default=None, max_length=64, description="Grade against this version (default latest).")
    only_version: str | None = Field(default=None, max_length=64, description="Only submissions made to this version.")
    submission_ids: list[str] | None = Field(default=None, max_length=10000)


class RegradeOut(BaseModel):
    version: str
    submission_ids: list[str]


class CredentialOut(BaseModel):
    id: str
    credential_id: str
    submission_id: str
    issued_at: datetime
    revoked: bool
    revoked_at: datetime | None
    revocation_reason: str | None
    status_list: str | None
    status_index: int | None
    document: dict[str, Any]
    public_url: str


class RevokeIn(In):
    reason: str = Field(default="", max_length=1000)


class VerificationOut(BaseModel):
    """The verification report, with the issuer as signed and whether this service knows it."""

    verified: bool
    checks: list[Check] = []
    errors: list[str] = []
    revoked: bool | None = None
    issuer: str | None = None
    # True when the issuer is one of this service's tenants (the trusted set), False otherwise.
    issuer_trusted: bool = False


class WebhookIn(In):
    url: HttpUrl
    events: list[Literal["submission.graded", "credential.issued", "credential.revoked"]] = Field(min_length=1)
    secret: str | None = Field(default=None, min_length=16, max_length=200)


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime
    secret: str | None = None  # only in the answer that created it


class DeliveryOut(BaseModel):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


class ApiKeyIn(In):
    scopes: list[Scope] = Field(min_length=1)
    name: str = Field(default="", max_length=200)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    scopes: list[str]
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    key: str | None = None  # only in the answer that created it


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}
