"""Submission policy: attempts, cooldowns, due dates and late work, rate limits, scopes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from grader.core.policy import (
    Admission,
    History,
    RateLimits,
    Refusal,
    Scope,
    admit,
    has_any_scope,
    has_scope,
    same_tenant,
)
from grader.core.spec import SubmissionPolicy

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LIMITS = RateLimits(learner_per_hour=10, tenant_per_minute=5)


def decide(
    policy: SubmissionPolicy, history: History | None = None, tenant_limit: int | None = None
) -> Admission | Refusal:
    return admit(policy, history or History(), NOW, LIMITS, tenant_limit)


def test_first_attempt_is_admitted_and_numbered() -> None:
    assert decide(SubmissionPolicy()) == Admission(attempt=1, late=False)
    assert decide(SubmissionPolicy(), History(attempts_used=4)) == Admission(attempt=5, late=False)


def test_attempt_limit() -> None:
    policy = SubmissionPolicy(max_attempts=3)
    assert isinstance(decide(policy, History(attempts_used=2)), Admission)
    refusal = decide(policy, History(attempts_used=3))
    assert isinstance(refusal, Refusal)
    assert (refusal.code, refusal.status) == ("attempts-exhausted", 409)
    assert "3 attempts" in refusal.detail


def test_cooldown_tells_when_to_come_back() -> None:
    policy = SubmissionPolicy(cooldown_s=60)
    refusal = decide(policy, History(attempts_used=1, last_submitted_at=NOW - timedelta(seconds=45)))
    assert isinstance(refusal, Refusal)
    assert (refusal.code, refusal.status, refusal.retry_after_s) == ("cooldown", 429, 15)
    assert isinstance(
        decide(policy, History(attempts_used=1, last_submitted_at=NOW - timedelta(seconds=60))), Admission
    )


@pytest.mark.parametrize(
    ("late", "expected"),
    [("reject", Refusal), ("accept", Admission), ("flag", Admission)],
)
def test_late_policy(late: str, expected: type) -> None:
    policy = SubmissionPolicy(due=NOW - timedelta(minutes=1), late=late)  # type: ignore[arg-type]
    decision = decide(policy)
    assert isinstance(decision, expected)
    if isinstance(decision, Admission):
        assert decision.late is True
    else:
        assert decision.code == "past-due"


def test_on_time_is_not_late() -> None:
    assert decide(SubmissionPolicy(due=NOW + timedelta(seconds=1))) == Admission(attempt=1, late=False)


def test_learner_and_tenant_rate_limits() -> None:
    learner = decide(SubmissionPolicy(), History(learner_last_hour=10))
    assert isinstance(learner, Refusal) and learner.status == 429 and "learner" in learner.title
    tenant = decide(SubmissionPolicy(), History(tenant_last_minute=5))
    assert isinstance(tenant, Refusal) and tenant.status == 429 and "tenant" in tenant.title
    # a tenant's own limit overrides the service default
    assert isinstance(decide(SubmissionPolicy(), History(tenant_last_minute=5), tenant_limit=50), Admission)
    assert isinstance(decide(SubmissionPolicy(), History(tenant_last_minute=2), tenant_limit=2), Refusal)


def test_rate_limits_come_before_attempt_bookkeeping() -> None:
    refusal = decide(SubmissionPolicy(max_attempts=1), History(attempts_used=1, tenant_last_minute=99))
    assert isinstance(refusal, Refusal) and refusal.code == "rate-limited"


def test_scopes() -> None:
    assert has_scope(["admin"], Scope.AUTHOR) and has_scope(["admin"], Scope.SUBMIT)
    assert has_scope(["author"], Scope.AUTHOR) and not has_scope(["author"], Scope.ADMIN)
    assert not has_scope(["submit"], Scope.AUTHOR)
    assert has_any_scope(["submit"], [Scope.SUBMIT, Scope.AUTHOR])
    assert not has_any_scope([], [Scope.SUBMIT])


def test_tenant_isolation_rule() -> None:
    assert same_tenant("a", "a")
    assert not same_tenant("a", "b")
    assert not same_tenant("a", None)
