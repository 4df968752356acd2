"""The service's issuer port (grader.grading.issue.CredentialIssuer) for one submission: signs with the
tenant's keys (grader.issuing.tenant) and stores the credential row, at most one per submission."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from grader.core.evidence import Evidence
from grader.core.grade import Grade
from grader.core.spec import AssignmentSpec
from grader.grading.issue import issue_stage
from grader.grading.stopwatch import StageEvent, Stopwatch
from grader.issuing import tenant as issuing
from grader.jobs.context import Context
from grader.store.db import session_scope
from grader.store.models import AssignmentVersion, CredentialRecord, GradeRecord, Submission, Tenant


def credential_id_for(submission_id: str) -> str:
    """Fixed per submission, so a re-run that lost the race cannot mint a second identity."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'grader:{submission_id}')}"


class SubmissionIssuer:
    """Issues the credential of one submission's passing grade; `row_id` is the stored credential's id
    once `issue` has returned."""

    def __init__(self, ctx: Context, submission_id: str, grade_id: str) -> None:
        self.ctx = ctx
        self.submission_id = submission_id
        self.grade_id = grade_id
        self.row_id: str | None = None

    def issue(self, grade: Grade, evidence: Evidence, spec: AssignmentSpec) -> dict[str, Any]:
        """Sign and store. Raises IssuerUnavailable when the tenant's keys cannot be used here."""
        with session_scope(self.ctx.factory) as session:
            submission = session.get(Submission, self.submission_id)
            assert submission is not None
            tenant = session.get(Tenant, submission.tenant_id)
            assert tenant is not None
            request = issuing.IssueRequest(
                tenant=tenant,
                learner=submission.learner,
                spec=spec,
                grade=grade,
                evidence=evidence,
                credential_id=credential_id_for(self.submission_id),
            )
            document, status_list, index = issuing.issue(session, self.ctx.settings, request)
            credential = CredentialRecord(
                tenant_id=tenant.id,
                submission_id=self.submission_id,
                grade_id=self.grade_id,
                credential_id=request.credential_id,
                document=document,
                status_list_id=status_list.id,
                status_index=index,
            )
            try:
                with session.begin_nested():
                    session.add(credential)
                    session.flush()
            except IntegrityError:  # a concurrent run issued it first; its status index stays allocated, unused
                winner = session.scalar(
                    select(CredentialRecord).where(CredentialRecord.submission_id == self.submission_id)
                )
                assert winner is not None
                self.row_id = winner.id
                return winner.document
            self.row_id = credential.id
            return document


def issue_once(ctx: Context, submission_id: str, grade_id: str, on_event: StageEvent) -> tuple[str | None, bool]:
    """The one issue stage (grader.grading.issue) of a stored grade with the tenant's issuer, at most one
    credential per submission: the grading job's issue stage and an approved review's both run it.
    Returns (the credential row's id or None when none was issued, whether this call issued it)."""
    with session_scope(ctx.factory) as session:
        existing = session.scalar(select(CredentialRecord).where(CredentialRecord.submission_id == submission_id))
        if existing is not None:
            return existing.id, False
        record = session.get(GradeRecord, grade_id)
        assert record is not None
        version = session.get(AssignmentVersion, record.assignment_version_id)
        assert version is not None
        grade = Grade.model_validate(record.grade)
        evidence = Evidence.model_validate(record.evidence)
        spec = AssignmentSpec.model_validate(version.spec)
    issuer = SubmissionIssuer(ctx, submission_id, grade_id)
    watch = Stopwatch(on_event)
    issue_stage(grade, evidence, spec, issuer, watch)
    for stage, seconds in watch.timings.items():
        ctx.metrics.stage(stage, seconds)
    return issuer.row_id, issuer.row_id is not None
