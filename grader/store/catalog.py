"""Assignments and their uploaded versions (checking, published, refused). Every query names its tenant
(or, for the reconciler, says it spans all)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.core.errors import AuthorFault
from grader.core.spec import LoadedAssignment, SpecError, SpecIssue, load_assignment, spec_as_dict
from grader.store.archive import materialize
from grader.store.models import Assignment, AssignmentVersion, VersionStatus, utcnow


class VersionConflict(AuthorFault):
    """A version number was uploaded before with different content: versions in use are immutable."""

    code = "version-exists"


class PublishResult(BaseModel):
    model_config = {"arbitrary_types_allowed": True}

    assignment: Assignment
    version: AssignmentVersion
    created: bool


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


def assignments_of(session: Session, tenant_id: str) -> list[Assignment]:
    return list(session.scalars(select(Assignment).where(Assignment.tenant_id == tenant_id).order_by(Assignment.slug)))
