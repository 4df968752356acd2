"""The issue stage: the one code path from a grade to a credential, for the CLI and the worker alike.

The rule (grader.core.issuance_rule: a passing, untampered grade of a sound mode, for a spec with a
credential block) is applied here, before any issuer is asked; each issuer checks it again at the
last moment. Issuers are ports: the CLI's local one (grader.issuing.local) and the service's
per-tenant one (grader.jobs.tenant_issuer), which also keeps one credential per submission.
"""

from __future__ import annotations

from typing import Any, Protocol

from grader.core.errors import IssuerUnavailable
from grader.core.evidence import Evidence
from grader.core.grade import Grade
from grader.core.issuance_rule import issuable
from grader.core.spec import AssignmentSpec
from grader.grading.stopwatch import Stopwatch


class CredentialIssuer(Protocol):
    """Signs a credential for a grade the rule lets through. Raises IssuerUnavailable when it cannot
    sign here (no keys, no passphrase): the grade stands, without a credential."""

    def issue(self, grade: Grade, evidence: Evidence, spec: AssignmentSpec) -> dict[str, Any]: ...


def issue_stage(
    grade: Grade, evidence: Evidence, spec: AssignmentSpec, issuer: CredentialIssuer, watch: Stopwatch
) -> dict[str, Any] | None:
    """The credential for `grade`, or None when the rule refuses it or the issuer is unavailable (the
    stage then reports `skipped` with the reason). Other faults of the issuer propagate."""
    if not issuable(grade, spec):
        return None
    try:
        with watch.stage("issue"):
            return issuer.issue(grade, evidence, spec)
    except IssuerUnavailable as exc:
        watch.on_event("issue", "skipped", str(exc))
        return None
