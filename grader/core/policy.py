"""Submission policy: who may submit now, and how. Pure: facts in, a decision out.

The spec's `submission` block sets attempt limits, cooldowns, a due date and the late policy; the
service sets rate limits per learner and per tenant. The API gathers the counts from the store and
asks `admit`; nothing here reads a clock, a database or a request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel

from grader.core.spec import MAX_COOLDOWN_S, SubmissionPolicy


class Scope(StrEnum):
    """What an API key may do: submit (create and read submissions), author (assignments), admin (all)."""

    SUBMIT = "submit"
    AUTHOR = "author"
    ADMIN = "admin"


class RateLimits(BaseModel):
    learner_per_hour: int = 30
    tenant_per_minute: int = 120


class History(BaseModel):
    """What the store knows about this learner on this assignment, and about the tenant's load."""

    attempts_used: int = 0
    # The highest attempt number given so far: numbers are unique per learner and assignment, so one that
    # ended in `error` (no attempt used) keeps its number. None: numbers follow the attempts used.
    last_attempt: int | None = None
    last_submitted_at: datetime | None = None
    learner_last_hour: int = 0
    tenant_last_minute: int = 0


class Admission(BaseModel):
    attempt: int
    late: bool


class Refusal(BaseModel):
    """Why a submission is refused; `code` becomes the problem document's type."""

    code: str
    status: int
    title: str
    detail: str
    retry_after_s: int | None = None


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def _rate_refusal(history: History, limits: RateLimits, tenant_limit: int | None) -> Refusal | None:
    per_minute = tenant_limit if tenant_limit is not None else limits.tenant_per_minute
    if history.tenant_last_minute >= per_minute:
        return Refusal(
            code="rate-limited",
            status=429,
            title="Too many submissions for this tenant",
            detail=f"this tenant may submit {per_minute} times a minute; try again shortly",
            retry_after_s=60,
        )
    if history.learner_last_hour >= limits.learner_per_hour:
        return Refusal(
            code="rate-limited",
            status=429,
            title="Too many submissions from this learner",
            detail=f"a learner may submit {limits.learner_per_hour} times an hour",
            retry_after_s=3600,
        )
    return None


def is_late(policy: SubmissionPolicy, now: datetime) -> bool:
    """After the due date; a submission at the due instant itself is on time."""
    return policy.due is not None and now > policy.due


def _due_refusal(policy: SubmissionPolicy, now: datetime) -> Refusal | None:
    """Late submissions are refused (`late: reject`), or accepted and marked late (`accept`, `flag`)."""
    if policy.due is None or not is_late(policy, now) or policy.late != "reject":
        return None
    return Refusal(
        code="past-due",
        status=409,
        title="The assignment is past its due date",
        detail=f"submissions closed at {policy.due.isoformat()} and this assignment takes no late work",
    )


def _attempt_refusal(policy: SubmissionPolicy, history: History, now: datetime) -> Refusal | None:
    if policy.max_attempts is not None and history.attempts_used >= policy.max_attempts:
        return Refusal(
            code="attempts-exhausted",
            status=409,
            title="No attempts left",
            detail=f"this assignment allows {policy.max_attempts} attempts and all have been used",
        )
    if policy.cooldown_s and history.last_submitted_at is not None:
        # A spec stored before cooldowns had a bound could still hold one past the calendar's end.
        ready_at = history.last_submitted_at + timedelta(seconds=min(policy.cooldown_s, MAX_COOLDOWN_S))
        if now < ready_at:
            return Refusal(
                code="cooldown",
                status=429,
                title="Too soon after the last attempt",
                detail=f"wait {policy.cooldown_s} s between attempts; the next one is possible at "
                f"{ready_at.isoformat()}",
                retry_after_s=_seconds(ready_at - now),
            )
    return None


def admit(
    policy: SubmissionPolicy,
    history: History,
    now: datetime,
    limits: RateLimits,
    tenant_limit: int | None = None,
) -> Admission | Refusal:
    """Decide whether one more submission is taken now. `now` must be timezone-aware."""
    refusal = _rate_refusal(history, limits, tenant_limit)
    if refusal is not None:
        return refusal
    refusal = _due_refusal(policy, now) or _attempt_refusal(policy, history, now)
    if refusal is not None:
        return refusal
    numbered = history.last_attempt if history.last_attempt is not None else history.attempts_used
    return Admission(attempt=numbered + 1, late=is_late(policy, now))


def has_scope(granted: Iterable[str], needed: Scope) -> bool:
    """Admin keys may do everything within their tenant; other scopes grant only themselves."""
    scopes = set(granted)
    return Scope.ADMIN.value in scopes or needed.value in scopes


def has_any_scope(granted: Iterable[str], needed: Iterable[Scope]) -> bool:
    scopes = list(granted)
    return any(has_scope(scopes, scope) for scope in needed)


def same_tenant(key_tenant_id: str, row_tenant_id: str | None) -> bool:
    """A key sees a row only when both belong to one tenant; an absent row is not a match."""
    return row_tenant_id is not None and key_tenant_id == row_tenant_id
