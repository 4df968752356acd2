"""The one rule for who gets a credential: a passing, untampered grade of a sound mode.

Pure, and shared by every issuer (the CLI's local one and the service's per-tenant ones) and by the
pipeline, so the rule is written once.
"""

from __future__ import annotations

from grader.core.errors import LearnerFault
from grader.core.grade import Grade
from grader.core.spec import AssignmentSpec, Mode

__all__ = ["IssuanceRefused", "issuable", "require_issuable"]


class IssuanceRefused(LearnerFault, RuntimeError):
    """A credential was asked for a grade that must not have one: the grade (what the submission earned)
    is why, so it is refused like a submission, never retried."""

    code = "no-credential"


def require_issuable(grade: Grade, spec: AssignmentSpec) -> None:
    """The issuance rule, checked at the last moment as well as by the pipeline: a passing, untampered
    grade of a mode whose verdict learner code cannot reach, for a spec with a credential block.

    Raises IssuanceRefused otherwise.
    """
    if not grade.passed or grade.tampered:
        raise IssuanceRefused(f"no credential for a grade that did not pass ({grade.reason or 'flagged'})")
    if not Mode(grade.mode).issues_credentials:
        raise IssuanceRefused(f"no credential from mode {grade.mode!r}: practice and feedback only")
    if spec.credential is None:
        raise IssuanceRefused(f"{spec.id} {spec.version} has no 'credential' block")


def issuable(grade: Grade, spec: AssignmentSpec) -> bool:
    """Whether require_issuable would let this grade through."""
    try:
        require_issuable(grade, spec)
    except IssuanceRefused:
        return False
    return True
