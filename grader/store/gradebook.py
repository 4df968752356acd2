"""The facts a gradebook is made of, read from the store (the rows themselves are grader.core.gradebook's):
every submission of an assignment with its latest grade and credential, the LMS user id of each learner
who came from a launch, and which attempt counts. Every query names its tenant."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.core.gradebook import AttemptFact, Counts, GradebookRow, gradebook_rows
from grader.store.models import (
    Assignment,
    AssignmentVersion,
    LtiContext,
    LtiRegistration,
    LtiResourceLink,
    LtiUser,
    VersionStatus,
)
from grader.store.submissions import ClassRow, class_rows


def fact_of(row: ClassRow) -> AttemptFact:
    submission, grade, credential = row.submission, row.grade, row.credential
    return AttemptFact(
        learner=submission.learner,
        submission_id=submission.id,
        attempt=submission.attempt,
        submitted_at=submission.created_at,
        state=submission.state,
        late=submission.late,
        score=grade.score if grade else None,
        max_score=grade.max_score if grade else None,
        percent=grade.percent if grade else None,
        passed=grade.passed if grade else False,
        credential_id=credential.id if credential else None,
        credential_revoked=credential.revoked_at is not None if credential else False,
        credential_issued_at=credential.issued_at if credential else None,
    )


def attempt_facts(
    session: Session, tenant_id: str, assignment_id: str, learner: str | None = None
) -> list[AttemptFact]:
    """Every submission of the assignment (or of one learner), oldest first."""
    return [fact_of(row) for row in class_rows(session, tenant_id, assignment_id, learner=learner)]


def counts_of(session: Session, assignment: Assignment) -> Counts:
    """The `submission.counts` of the newest published version (the newest upload when none is
    published yet); `best` when the assignment has no version. Reads the specs only, never the archives."""
    versions = session.execute(
        select(AssignmentVersion.spec, AssignmentVersion.status)
        .where(AssignmentVersion.tenant_id == assignment.tenant_id, AssignmentVersion.assignment_id == assignment.id)
        .order_by(AssignmentVersion.created_at, AssignmentVersion.version)
    ).all()
    typed = [(cast(dict[str, Any], spec), status) for spec, status in versions]
    specs = [spec for spec, status in typed if status == VersionStatus.PUBLISHED.value] or [s for s, _ in typed]
    if not specs:
        return Counts.BEST
    policy = specs[-1].get("submission") or {}
    return Counts(policy.get("counts", Counts.BEST.value))


def lms_user_ids(session: Session, tenant_id: str) -> dict[str, str]:
    """Learner -> the LMS user id (`sub`) they last launched as. A learner known to two platforms gets
    the most recent one's; the others are still in lti_users."""
    users = session.scalars(select(LtiUser).where(LtiUser.tenant_id == tenant_id).order_by(LtiUser.last_launch_at))
    return {user.learner: user.sub for user in users}


def placement_contexts(session: Session, tenant_id: str, assignment_id: str) -> list[LtiContext]:
    """The courses the assignment is placed in (a resource link of it), of active registrations."""
    return list(
        session.scalars(
            select(LtiContext)
            .join(LtiResourceLink, LtiResourceLink.lti_context_id == LtiContext.id)
            .join(LtiRegistration, LtiRegistration.id == LtiContext.registration_id)
            .where(
                LtiContext.tenant_id == tenant_id,
                LtiResourceLink.tenant_id == tenant_id,
                LtiResourceLink.assignment_id == assignment_id,
                LtiRegistration.active.is_(True),
            )
            .distinct()
            .order_by(LtiContext.id)
        )
    )


def learners_by_sub(session: Session, tenant_id: str, registration_id: str) -> dict[str, str]:
    """The platform user ids of a registration that have launched, and the learner each signs in as."""
    users = session.scalars(
        select(LtiUser).where(LtiUser.tenant_id == tenant_id, LtiUser.registration_id == registration_id)
    )
    return {user.sub: user.learner for user in users}


def gradebook(session: Session, tenant_id: str, assignment: Assignment) -> tuple[Counts, list[GradebookRow]]:
    counts = counts_of(session, assignment)
    facts = attempt_facts(session, tenant_id, assignment.id)
    return counts, gradebook_rows(facts, counts, lms_user_ids(session, tenant_id))
