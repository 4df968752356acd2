"""Store operations shared by the API, the CLI and the workers. Every query names its tenant."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.core.policy import History, Scope
from grader.core.spec import LoadedAssignment, SpecError, SpecIssue, load_assignment, spec_as_dict
from grader.store import apikeys
from grader.store.archive import materialize
from grader.store.models import (
    TERMINAL_STATES,
    ApiKey,
    Assignment,
    AssignmentVersion,
    Submission,
    SubmissionEvent,
    SubmissionState,
    Tenant,
    VersionStatus,
    utcnow,
)


class VersionConflict(Exception):
    """A version number was published before with different content: versions are immutable."""


class PublishResult(BaseModel):
    model_config = {"arbitrary_types_allowed": True}

    assignment: Assignment
    version: AssignmentVersion
    created: bool


# Tenants and keys -----------------------------------------------------------------------------


def create_tenant(session: Session, slug: str, name: str) -> Tenant:
    tenant = Tenant(slug=slug, name=name)
    session.add(tenant)
    session.flush()
    return tenant


def tenant_by_slug(session: Session, slug: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.slug == slug))


def create_api_key(session: Session, tenant_id: str, scopes: list[Scope], name: str = "") -> tuple[ApiKey, str]:
    """A new key; the full secret is returned once and never stored."""
    raw, prefix, secret_hash = apikeys.new_key()
    key = ApiKey(
        tenant_id=tenant_id, prefix=prefix, secret_hash=secret_hash, scopes=[s.value for s in scopes], name=name
    )
    session.add(key)
    session.flush()
    return key, raw


def authenticate(session: Session, raw: str) -> ApiKey | None:
    parsed = apikeys.parse_key(raw)
    if parsed is None:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parsed.prefix))
    if key is None or key.revoked_at is not None or not apikeys.secret_matches(parsed.secret, key.secret_hash):
        return None
    return key


# Assignments ----------------------------------------------------------------------------------


def publish_version(
    session: Session, tenant_id: str, loaded: LoadedAssignment, spec_yaml: str, archive: bytes, archive_sha256: str
) -> PublishResult:
    """Store a validated assignment version, `checking` until its check has run (VersionStatus).

    Uploading the same content again is a no-op. A number that was refused may be uploaded again with
    other files, its solutions or expected outcomes included (it never took a submission); a number that
    is checking or published is immutable.
    Raises VersionConflict for other content under a number that is checking or published.
    """
    spec = loaded.spec
    assignment = session.scalar(select(Assignment).where(Assignment.tenant_id == tenant_id, Assignment.slug == spec.id))
    if assignment is None:
        assignment = Assignment(tenant_id=tenant_id, slug=spec.id, title=spec.title)
        session.add(assignment)
        session.flush()
    existing = session.scalar(
        select(AssignmentVersion).where(
            AssignmentVersion.assignment_id == assignment.id, AssignmentVersion.version == spec.version
        )
    )
    refused = existing is not None and existing.status == VersionStatus.REFUSED
    if existing is not None and (
        existing.archive_sha256 == archive_sha256 or (not refused and existing.spec_hash == loaded.spec_hash)
    ):
        # The same files, or (for a version in use) the same spec and tests: what grades count is unchanged.
        return PublishResult(assignment=assignment, version=existing, created=False)
    if existing is not None and not refused:
        raise VersionConflict(
            f"{spec.id} {spec.version} was already uploaded with other content ({existing.spec_hash}, "
            f"{existing.status}); upload changes under a new version number"
        )
    version = existing or AssignmentVersion(tenant_id=tenant_id, assignment_id=assignment.id, version=spec.version)
    assignment.title = spec.title
    version.spec_yaml = spec_yaml
    version.spec = spec_as_dict(spec)
    version.spec_hash = loaded.spec_hash
    version.archive = archive
    version.archive_sha256 = archive_sha256
    version.test_count = len(loaded.all_test_ids())
    version.status = VersionStatus.CHECKING.value
    version.status_detail = ""
    version.check_report = None
    version.checked_at = None
    version.check_job_id = None
    if existing is None:
        session.add(version)
    else:
        version.created_at = utcnow()  # uploaded again: it is the newest upload now
    session.flush()
    return PublishResult(assignment=assignment, version=version, created=True)


def settle_check(version: AssignmentVersion, report: dict[str, Any] | None, refusals: list[str]) -> None:
    """Record a finished check: published when nothing refused it, refused with the reasons otherwise."""
    version.check_report = report
    version.checked_at = utcnow()
    version.status = (VersionStatus.REFUSED if refusals else VersionStatus.PUBLISHED).value
    version.status_detail = "; ".join(refusals)[:4000]


def versions_to_check(session: Session, older_than: datetime, limit: int = 100) -> list[AssignmentVersion]:
    """Versions still `checking` since before `older_than`: their job may have been lost."""
    return list(
        session.scalars(
            select(AssignmentVersion)
            .where(AssignmentVersion.status == VersionStatus.CHECKING.value, AssignmentVersion.created_at < older_than)
            .limit(limit)
        )
    )


def assignment_by_slug(session: Session, tenant_id: str, slug: str) -> Assignment | None:
    return session.scalar(select(Assignment).where(Assignment.tenant_id == tenant_id, Assignment.slug == slug))


def versions_of(session: Session, assignment: Assignment) -> list[AssignmentVersion]:
    return list(
        session.scalars(
            select(AssignmentVersion)
            .where(
                AssignmentVersion.tenant_id == assignment.tenant_id, AssignmentVersion.assignment_id == assignment.id
            )
            .order_by(AssignmentVersion.created_at, AssignmentVersion.version)
        )
    )


def pick_version(session: Session, assignment: Assignment, version: str | None) -> AssignmentVersion | None:
    """A named version (in any status), or the most recently published one."""
    versions = versions_of(session, assignment)
    if version is None:
        return next((v for v in reversed(versions) if v.status == VersionStatus.PUBLISHED), None)
    return next((v for v in versions if v.version == version), None)


def loaded_version(version: AssignmentVersion, cache: Path) -> LoadedAssignment:
    """The stored folder unpacked on this machine and loaded; its hash must still be the stored one."""
    root = materialize(version.archive, version.archive_sha256, cache)
    loaded = load_assignment(root)
    if loaded.spec_hash != version.spec_hash:
        raise SpecError(
            [SpecIssue(file=str(root), field="(archive)", message="unpacked files do not hash to the stored spec hash")]
        )
    return loaded


# Submissions ----------------------------------------------------------------------------------


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def submission_by_key(session: Session, tenant_id: str, idempotency_key: str) -> Submission | None:
    return session.scalar(
        select(Submission).where(Submission.tenant_id == tenant_id, Submission.idempotency_key == idempotency_key)
    )


def get_submission(session: Session, tenant_id: str, submission_id: str) -> Submission | None:
    return session.scalar(select(Submission).where(Submission.tenant_id == tenant_id, Submission.id == submission_id))


def learner_history(session: Session, tenant_id: str, assignment_id: str, learner: str, now: datetime) -> History:
    mine = select(Submission).where(
        Submission.tenant_id == tenant_id, Submission.assignment_id == assignment_id, Submission.learner == learner
    )
    # A submission that ended in `error` (the author's fault or ours, never the learner's) uses no attempt.
    counted = mine.where(Submission.state != SubmissionState.ERROR.value)
    attempts = session.scalar(select(func.count()).select_from(counted.subquery())) or 0
    last = session.scalar(
        select(func.max(Submission.created_at)).where(
            Submission.tenant_id == tenant_id, Submission.assignment_id == assignment_id, Submission.learner == learner
        )
    )
    hour = session.scalar(
        select(func.count(Submission.id)).where(
            Submission.tenant_id == tenant_id,
            Submission.learner == learner,
            Submission.created_at > now - timedelta(hours=1),
        )
    )
    minute = session.scalar(
        select(func.count(Submission.id)).where(
            Submission.tenant_id == tenant_id, Submission.created_at > now - timedelta(minutes=1)
        )
    )
    return History(
        attempts_used=attempts, last_submitted_at=last, learner_last_hour=hour or 0, tenant_last_minute=minute or 0
    )


def insert_submission(session: Session, submission: Submission) -> Submission | None:
    """Insert, or None when a concurrent request with the same idempotency key won the race."""
    session.add(submission)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    record_event(session, submission, SubmissionState.QUEUED, "", "accepted", "")
    return submission


def record_event(
    session: Session, submission: Submission, state: SubmissionState, stage: str, status: str, detail: str
) -> SubmissionEvent:
    """Move a submission to `state` and append the move to its history."""
    now = utcnow()
    submission.state = state.value
    submission.updated_at = now
    if state in TERMINAL_STATES:
        submission.finished_at = now
    event = SubmissionEvent(
        tenant_id=submission.tenant_id,
        submission_id=submission.id,
        run=submission.run,
        state=state.value,
        stage=stage,
        status=status,
        detail=detail[:2000],
        at=now,
    )
    session.add(event)
    session.flush()
    return event


def events_after(session: Session, tenant_id: str, submission_id: str, after_id: int) -> list[SubmissionEvent]:
    return list(
        session.scalars(
            select(SubmissionEvent)
            .where(
                SubmissionEvent.tenant_id == tenant_id,
                SubmissionEvent.submission_id == submission_id,
                SubmissionEvent.id > after_id,
            )
            .order_by(SubmissionEvent.id)
        )
    )


def stuck_submissions(session: Session, older_than: datetime, limit: int = 500) -> list[Submission]:
    """Non-terminal submissions that nothing has touched since `older_than` (across all tenants)."""
    open_states = [s.value for s in SubmissionState if s not in TERMINAL_STATES]
    return list(
        session.scalars(
            select(Submission)
            .where(Submission.state.in_(open_states), Submission.updated_at < older_than)
            .order_by(Submission.updated_at)
            .limit(limit)
        )
    )
