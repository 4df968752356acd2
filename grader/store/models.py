"""The store's tables: SQLAlchemy 2 typed models. The store is the source of truth for the service.

Every row that belongs to a tenant carries `tenant_id`, even where a parent row already implies it,
so that every query can (and does) filter by tenant directly: isolation does not depend on a join.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON, bytes: LargeBinary}


class SubmissionState(StrEnum):
    QUEUED = "queued"
    FETCHING = "fetching"
    BUILDING = "building"
    RUNNING = "running"
    JUDGING = "judging"
    ISSUING = "issuing"
    NOTIFYING = "notifying"
    RETRYING = "retrying"  # an infrastructure fault; the job will run again
    GRADED = "graded"  # terminal: a grade exists (passing or not)
    REJECTED = "rejected"  # terminal: the submission itself was refused (bad URL, unreachable repo)
    ERROR = "error"  # terminal: infrastructure kept failing after every retry

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


class VersionStatus(StrEnum):
    """Where an uploaded assignment version stands. Only a published version takes submissions."""

    CHECKING = "checking"  # uploaded; `grader assignment check` is running (or queued) in a worker
    PUBLISHED = "published"  # its check passed: the reference and every known-bad solution grade as written
    REFUSED = "refused"  # its check failed; `check_report` says why. The same number may be uploaded again


TERMINAL_STATES = frozenset({SubmissionState.GRADED, SubmissionState.REJECTED, SubmissionState.ERROR})

# The pipeline's stage names and the state a submission is in while the stage runs.
STAGE_STATES = {
    "fetch": SubmissionState.FETCHING,
    "build": SubmissionState.BUILDING,
    "run": SubmissionState.RUNNING,
    "judge": SubmissionState.JUDGING,
    "issue": SubmissionState.ISSUING,
    "notify": SubmissionState.NOTIFYING,
}


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Per-tenant overrides of the service-wide rate limits; None means the default.
    submissions_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """Only a SHA-256 of the secret is kept; `prefix` finds the row without scanning hashes."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("tenant_id", "slug"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))  # the spec's `id`, stable across versions
    title: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[AssignmentVersion]] = relationship(back_populates="assignment", lazy="raise")


class AssignmentVersion(Base):
    """One uploaded version (checking, published or refused: VersionStatus): the spec and the whole assignment folder as a tarball, so any worker
    on any machine can grade with exactly these files."""

    __tablename__ = "assignment_versions"
    __table_args__ = (UniqueConstraint("assignment_id", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    spec_yaml: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(80))
    archive: Mapped[bytes] = mapped_column(LargeBinary)
    archive_sha256: Mapped[str] = mapped_column(String(64))
    test_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=VersionStatus.CHECKING.value, index=True)
    # Why the check refused it, or the system fault that kept the check from running (it is retried).
    status_detail: Mapped[str] = mapped_column(Text, default="")
    # grader.authoring.check.CheckReport as JSON: the author's table (solution, expected, got, problems).
    check_report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True, default=None)
    checked_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)
    check_job_id: Mapped[str | None] = mapped_column(String(100), nullable=True, default=None)

    assignment: Mapped[Assignment] = relationship(back_populates="versions", lazy="raise")


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_submissions_learner", "tenant_id", "assignment_id", "learner", "created_at"),
        Index("ix_submissions_state", "state", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    assignment_version_id: Mapped[str] = mapped_column(ForeignKey("assignment_versions.id", ondelete="CASCADE"))
    learner: Mapped[str] = mapped_column(String(320))
    repo_url: Mapped[str] = mapped_column(String(2048))
    ref: Mapped[str | None] = mapped_column(String(255), default=None)
    attempt: Mapped[int] = mapped_column(Integer)  # the learner's nth submission to this assignment
    run: Mapped[int] = mapped_column(Integer, default=1)  # bumped by each regrade; one grade per run
    state: Mapped[str] = mapped_column(String(20), default=SubmissionState.QUEUED.value)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_hash: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(100), default=None)
    tries: Mapped[int] = mapped_column(Integer, default=0)  # job executions of the current run
    error: Mapped[str | None] = mapped_column(Text, default=None)
    commit: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class SubmissionEvent(Base):
    """The state history and live progress of a submission (what SSE streams)."""

    __tablename__ = "submission_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    run: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(20), default="")
    status: Mapped[str] = mapped_column(String(20), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class GradeRecord(Base):
    """At most one grade per (submission, run): the unique constraint makes a re-run job harmless."""

    __tablename__ = "grades"
    __table_args__ = (UniqueConstraint("submission_id", "run"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    assignment_version_id: Mapped[str] = mapped_column(ForeignKey("assignment_versions.id", ondelete="CASCADE"))
    run: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    percent: Mapped[float] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(Boolean)
    tampered: Mapped[bool] = mapped_column(Boolean)
    grade: Mapped[dict[str, Any]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON)
    learner_output: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatusList(Base):
    """A bitstring status list (revocation) of one tenant; bit i is the credential with index i.
    Indices are handed out at random (see credentials.status) so they reveal nothing of issue order."""

    __tablename__ = "status_lists"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20), default="revocation")
    size: Mapped[int] = mapped_column(Integer)  # in bits; at least 131072 for herd privacy
    allocated_count: Mapped[int] = mapped_column(Integer, default=0)
    bits: Mapped[bytes] = mapped_column(LargeBinary)  # the status bits (1 = revoked)
    allocated: Mapped[bytes] = mapped_column(LargeBinary)  # which indices were handed out (never reused)
    document: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # the signed list credential
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CredentialRecord(Base):
    """The signed credential as issued; at most one per submission."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("status_list_id", "status_index"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), unique=True)
    grade_id: Mapped[str] = mapped_column(ForeignKey("grades.id", ondelete="CASCADE"))
    credential_id: Mapped[str] = mapped_column(String(300), unique=True)  # the document's `id`
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    status_list_id: Mapped[str | None] = mapped_column(ForeignKey("status_lists.id"), default=None)
    status_index: Mapped[int | None] = mapped_column(Integer, default=None)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revocation_reason: Mapped[str | None] = mapped_column(Text, default=None)


class IssuerKey(Base):
    """A reference to a signing key: the private half stays in the key store, never in this table."""

    __tablename__ = "issuer_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    did: Mapped[str] = mapped_column(String(300))
    verification_method: Mapped[str] = mapped_column(String(400), unique=True)
    public_key_multibase: Mapped[str] = mapped_column(String(200))
    keystore_ref: Mapped[str] = mapped_column(String(400))  # where the private key is (a path or KMS name)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | retired
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookEndpoint(Base):
    """The secret is stored as given: it is needed in the clear to sign every delivery."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint; `(endpoint_id, event_id)` is unique so an event is queued once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class SignInLink(Base):
    """A learner's one-time sign-in link (the web pages, where no LMS signs learners in). Only a SHA-256
    of the token is kept; `used_at` makes it single-use, `expires_at` short-lived."""

    __tablename__ = "sign_in_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)


# --- LMS (LTI 1.3 Advantage): migration 0004 ---------------------------------------------------------


class LtiRegistration(Base):
    """One LTI 1.3 platform registration of a tenant. Canvas uses one issuer for every school, so an issuer
    may have several registrations: `(issuer, client_id)` is what identifies one."""

    __tablename__ = "lti_registrations"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    issuer: Mapped[str] = mapped_column(String(500), index=True)
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(2048))  # the platform's OIDC authorization endpoint
    token_url: Mapped[str] = mapped_column(String(2048))  # its OAuth 2 token endpoint (AGS, NRPS)
    jwks_url: Mapped[str] = mapped_column(String(2048))
    # The `aud` of our client-credentials assertion when the platform wants one other than token_url.
    token_audience: Mapped[str | None] = mapped_column(String(2048), default=None)
    source: Mapped[str] = mapped_column(String(20), default="manual")  # manual | dynamic
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiDeployment(Base):
    """A deployment of the tool inside a platform registration; a launch naming another one is refused."""

    __tablename__ = "lti_deployments"
    __table_args__ = (UniqueConstraint("registration_id", "deployment_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("lti_registrations.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiContext(Base):
    """A course (LTI context) seen in a launch, with the service endpoints its launches advertised."""

    __tablename__ = "lti_contexts"
    __table_args__ = (UniqueConstraint("registration_id", "context_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("lti_registrations.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[str] = mapped_column(String(255))
    context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500), default="")
    label: Mapped[str] = mapped_column(String(255), default="")
    # Assignment and Grade Services claim: the line items container and the scopes granted.
    ags_lineitems_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    ags_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Names and Role Provisioning Services claim.
    nrps_memberships_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiResourceLink(Base):
    """A placement of one assignment in a course; `ags_lineitem_url` is the line item the platform named
    in the launch (or one found or created for it by passback)."""

    __tablename__ = "lti_resource_links"
    __table_args__ = (UniqueConstraint("lti_context_id", "resource_link_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    lti_context_id: Mapped[str] = mapped_column(ForeignKey("lti_contexts.id", ondelete="CASCADE"), index=True)
    resource_link_id: Mapped[str] = mapped_column(String(255))
    assignment_id: Mapped[str | None] = mapped_column(
        ForeignKey("assignments.id", ondelete="SET NULL"), default=None, index=True
    )
    title: Mapped[str] = mapped_column(String(500), default="")
    ags_lineitem_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiUser(Base):
    """A platform user (`sub` of one registration) and the tenant's learner identity it signs in as
    (Submission.learner). The mapping is made at the first launch and kept: a later email change in the
    LMS does not move the learner's history."""

    __tablename__ = "lti_users"
    __table_args__ = (
        UniqueConstraint("registration_id", "sub"),
        Index("ix_lti_users_learner", "tenant_id", "learner"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("lti_registrations.id", ondelete="CASCADE"), index=True)
    sub: Mapped[str] = mapped_column(String(255))
    learner: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(300), default="")
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_launch_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiToolKey(Base):
    """The tool's own RS256 signing key (Deep Linking responses, client-credentials assertions), published
    at /lti/jwks. `tenant_id` None is the service-wide key. The private key is stored encrypted with
    GRADER_KEY_PASSPHRASE (scrypt -> AES-256-GCM, the kid as associated data; grader.lti.keys), so every
    API replica and worker can sign without a shared disk."""

    __tablename__ = "lti_tool_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), default=None, index=True
    )
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(10), default="RS256")
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_key: Mapped[dict[str, Any]] = mapped_column(JSON)  # the encrypted PKCS#8 blob, never in the clear
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | retired
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


# --- Submission policy under concurrency, worker leases: migration 0005 -------------------------------


class Lease(Base):
    """Who holds a piece of work, and until when (worker leases: grader.jobs.lease).

    `resource` names the work ("submission:<id>", "delivery:<id>"). A worker renews its lease while the
    job runs; a lease past `expires_at` belongs to a worker that died (or a wait that is over), so the
    reconciler may hand the work to another. A lease also holds a webhook delivery back until its next
    try is due."""

    __tablename__ = "leases"

    resource: Mapped[str] = mapped_column(String(80), primary_key=True)
    owner: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


# Submission policy: attempt numbers are unique per learner and assignment (the backstop of the admission
# lock, grader.store.admission), and the rate counts (a learner's last hour, a tenant's last minute) each
# read one index.
Index(
    "uq_submissions_attempt",
    Submission.tenant_id,
    Submission.assignment_id,
    Submission.learner,
    Submission.attempt,
    unique=True,
)
Index("ix_submissions_learner_recent", Submission.tenant_id, Submission.learner, Submission.created_at)
Index("ix_submissions_tenant_recent", Submission.tenant_id, Submission.created_at)



# --- Authenticity (ownership, duplicates, similarity, review): migration 0006 -------------------------


class LearnerKey(Base):
    """A public key a learner registered for `submission.ownership: signed` (SSH or OpenPGP). Only the
    public half is ever given; `fingerprint` is what verification reports and the credential names."""

    __tablename__ = "learner_keys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "learner", "fingerprint"),
        Index("ix_learner_keys_learner", "tenant_id", "learner"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    learner: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(16))  # ssh | openpgp (grader.core.ownership.KeyKind)
    fingerprint: Mapped[str] = mapped_column(String(100))
    public_key: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubmissionWork(Base):
    """What the authenticity checks know of one graded run: its commit and tree (the duplicate check),
    the ownership proof, the learner's source files and their fingerprints (the similarity check, which
    compares later submissions with these), and the check's outcome once it ran."""

    __tablename__ = "submission_work"
    __table_args__ = (
        UniqueConstraint("submission_id", "run"),
        Index("ix_submission_work_commit", "tenant_id", "commit"),
        Index("ix_submission_work_tree", "tenant_id", "tree"),
        Index("ix_submission_work_assignment", "tenant_id", "assignment_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    run: Mapped[int] = mapped_column(Integer)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    learner: Mapped[str] = mapped_column(String(320))
    commit: Mapped[str] = mapped_column(String(64))
    tree: Mapped[str | None] = mapped_column(String(64), default=None)
    ownership: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # core.ownership.OwnershipProof
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [core.similarity.SourceFile]
    fingerprints: Mapped[bytes] = mapped_column(LargeBinary, default=b"")  # sorted int64, little-endian
    similarity: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # core.similarity.SimilarityOutcome
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    """A passing submission whose credential waits for an instructor (grader.core.review): its flags,
    and the decision. At most one per submission; an approval issues the credential once."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_state", "tenant_id", "state", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), unique=True)
    grade_id: Mapped[str] = mapped_column(ForeignKey("grades.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # core.review.ReviewState
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [core.review.Flag]
    reason: Mapped[str] = mapped_column(Text, default="")  # a rejection's, shown to the learner
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)



# --- LMS grade passback (Assignment and Grade Services): migration 0007 -------------------------------


class PassbackStatus(StrEnum):
    PENDING = "pending"  # a score waits to be sent (or to be sent again after a failed try)
    DELIVERED = "delivered"  # the platform took the score of `delivered_revision`
    FAILED = "failed"  # the platform refused it for good, or every retry failed; a new grade tries again


class LtiPassback(Base):
    """The score one learner (an LTI platform user) has for one placement (resource link): what to send,
    what the platform last took, and where the tries stand. One row per (resource link, user): a new
    grade bumps `revision`, and only a score that differs from the delivered one is sent again."""

    __tablename__ = "lti_passbacks"
    __table_args__ = (
        UniqueConstraint("resource_link_id", "lti_user_id"),
        Index("ix_lti_passbacks_status", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    resource_link_id: Mapped[str] = mapped_column(ForeignKey("lti_resource_links.id", ondelete="CASCADE"), index=True)
    lti_user_id: Mapped[str] = mapped_column(ForeignKey("lti_users.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"), index=True)
    # The counted attempt (spec `submission.counts`) and its score: what the next try sends.
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    score_given: Mapped[float] = mapped_column(Float)
    score_maximum: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default=PassbackStatus.PENDING.value)
    tries: Mapped[int] = mapped_column(Integer, default=0)  # tries of the current revision
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    # A try holds the row until this instant, so two jobs never send one row's score at once.
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    job_id: Mapped[str | None] = mapped_column(String(100), default=None)
    lineitem_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    delivered_revision: Mapped[int | None] = mapped_column(Integer, default=None)
    delivered_score_given: Mapped[float | None] = mapped_column(Float, default=None)
    delivered_score_maximum: Mapped[float | None] = mapped_column(Float, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiPassbackTry(Base):
    """The audit of passback: one row per try (what was sent, what the platform answered, when)."""

    __tablename__ = "lti_passback_tries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    passback_id: Mapped[str] = mapped_column(ForeignKey("lti_passbacks.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    try_number: Mapped[int] = mapped_column(Integer)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # method, URL, userId, scores, timestamp (no token)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    outcome: Mapped[str] = mapped_column(String(20))  # delivered | retry | failed
    error: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)
