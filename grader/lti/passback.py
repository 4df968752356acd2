"""Grade passback over Assignment and Grade Services: what a new grade changes in the passback log
(`record`), and one try of sending a row's score (`try_send`). The rq job and its retries are
grader.jobs.passback's; the queries grader.store.passbacks'.

Exactly once, as far as the platform can tell: a row is sent only while `pending`; a try holds the row
(a conditional UPDATE) so two jobs never send it at once; a delivered row is never sent again unless a
new grade changes the counted score (the same score again sends nothing). The one gap left is a worker
killed between the platform's answer and the commit: that score is sent once more, with a later
timestamp, which platforms take as the same grade.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from grader.config import Settings
from grader.core.gradebook import AttemptFact, counted_attempt
from grader.core.webhook_signing import backoff_intervals
from grader.lti import ags
from grader.lti.keys import SigningKey, ToolKeyError, signing_key
from grader.lti.token import AGS_LINEITEM, AGS_SCORE, TokenCache, TokenSource, TokenUnavailable, ToolClient
from grader.store import passbacks as store
from grader.store.db import session_scope
from grader.store.gradebook import attempt_facts, counts_of
from grader.store.models import Assignment, LtiPassback, LtiResourceLink, LtiUser, PassbackStatus, Submission, utcnow

CLAIM_HOLD = timedelta(seconds=90)  # longer than one try's requests (token, line item, score) can take
NEXT_ROUND = timedelta(hours=1)  # after a round's last retry, when the reconciler tries again
LINEITEM_TAG = "grader"

Clock = Callable[[], datetime]


def feedback_url(settings: Settings, submission_id: str) -> str:
    return f"{settings.public_url.rstrip('/')}/learn/submissions/{submission_id}/feedback"


def comment_for(settings: Settings, attempt: AttemptFact) -> str:
    return f"Attempt {attempt.attempt}; feedback: {feedback_url(settings, attempt.submission_id)}"


# Recording: a new grade -> the rows to send ----------------------------------------------------------


def _same_score(given: float | None, maximum: float | None, attempt: AttemptFact) -> bool:
    return given == attempt.score and maximum == attempt.max_score


def _apply(row: LtiPassback, attempt: AttemptFact, comment: str, now: datetime) -> bool:
    """Point the row at the counted attempt; True when its score must be sent."""
    assert attempt.score is not None and attempt.max_score is not None
    same = _same_score(row.score_given, row.score_maximum, attempt)
    if same and row.status == PassbackStatus.PENDING.value:
        return True  # already waiting to go: enqueueing again is harmless (one job per revision)
    if same and row.status == PassbackStatus.DELIVERED.value:
        return False  # only a changed grade is sent again
    row.submission_id = attempt.submission_id
    row.score_given, row.score_maximum, row.comment = attempt.score, attempt.max_score, comment
    row.revision += 1
    row.updated_at = now
    if _same_score(row.delivered_score_given, row.delivered_score_maximum, attempt):
        # Back to what the platform has (a newer score never left): nothing to send.
        row.status = PassbackStatus.DELIVERED.value
        row.delivered_revision = row.revision
        return False
    row.status = PassbackStatus.PENDING.value
    row.tries = 0
    row.next_attempt_at = now
    row.last_error = None
    row.last_status_code = None
    return True


def record(
    session: Session, settings: Settings, submission: Submission, now: datetime | None = None
) -> list[LtiPassback]:
    """After `submission` was graded: point every passback of its learner and assignment at the counted
    attempt (spec `submission.counts`); returns the rows whose score must be sent now. A learner who
    never came from an LTI launch has no rows, and this costs one query."""
    found = store.targets(session, submission.tenant_id, submission.assignment_id, submission.learner)
    if not found:
        return []
    assignment = session.get(Assignment, submission.assignment_id)
    assert assignment is not None
    facts = attempt_facts(session, submission.tenant_id, submission.assignment_id, learner=submission.learner)
    counted = counted_attempt(facts, counts_of(session, assignment))
    if counted is None or counted.score is None or counted.max_score is None:
        return []
    moment = now or utcnow()
    comment = comment_for(settings, counted)
    to_send: list[LtiPassback] = []
    for target in found:
        row = store.passback_for(session, target.link.id, target.user.id)
        if row is None:
            row = _new_row(session, submission, target.link.id, target.user.id, counted, comment, moment)
            if row is not None:
                to_send.append(row)
                continue
            # Another grading job of this learner made the row first: take it from there.
            row = store.passback_for(session, target.link.id, target.user.id)
            assert row is not None
        if _apply(row, counted, comment, moment):
            to_send.append(row)
    session.flush()
    return to_send


def _new_row(
    session: Session,
    submission: Submission,
    link_id: str,
    user_id: str,
    counted: AttemptFact,
    comment: str,
    now: datetime,
) -> LtiPassback | None:
    """The first passback of this (placement, user), or None when a concurrent job inserted it first."""
    assert counted.score is not None and counted.max_score is not None
    row = LtiPassback(
        tenant_id=submission.tenant_id,
        resource_link_id=link_id,
        lti_user_id=user_id,
        assignment_id=submission.assignment_id,
        submission_id=counted.submission_id,
        score_given=counted.score,
        score_maximum=counted.max_score,
        comment=comment,
        revision=1,
        status=PassbackStatus.PENDING.value,
        tries=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


# Sending: one try ------------------------------------------------------------------------------------


class Outcome(StrEnum):
    DELIVERED = "delivered"  # the platform took the score
    UNCHANGED = "unchanged"  # nothing to send: delivered already, or refused for good before
    RETRY = "retry"  # a try failed and another will come (rq's retry, or the reconciler's next round)
    FAILED = "failed"  # refused for good (or out of tries): a new grade tries again
    BUSY = "busy"  # another try holds the row: this job tries again later
    GONE = "gone"  # no such row


@dataclass(frozen=True)
class TryResult:
    outcome: Outcome
    detail: str = ""

    @property
    def retry(self) -> bool:
        return self.outcome in (Outcome.RETRY, Outcome.BUSY)


@dataclass(frozen=True)
class _Plan:
    """What one try needs, read from the store before any request leaves."""

    revision: int
    tenant_id: str
    client: ToolClient
    user_id: str
    score_given: float
    score_maximum: float
    comment: str
    lineitem_url: str | None
    lineitems_url: str | None
    wanted: ags.LineItem
    scopes: list[str]


class _Refused(Exception):
    """The row cannot be sent as the store stands (no score scope, no line item and no way to make one)."""


def _plan(session: Session, row: LtiPassback) -> _Plan:
    target = next(
        (
            t
            for t in store.targets(session, row.tenant_id, row.assignment_id, _learner_of(session, row))
            if t.link.id == row.resource_link_id and t.user.id == row.lti_user_id
        ),
        None,
    )
    if target is None:
        raise _Refused("the placement, its course, its registration or the platform user is gone or inactive")
    granted = set(target.context.ags_scopes or [])
    if AGS_SCORE not in granted:
        raise _Refused(f"the course's launches granted no score scope ({AGS_SCORE})")
    lineitem_url = target.link.ags_lineitem_url or row.lineitem_url
    lineitems_url = target.context.ags_lineitems_url
    # The same scope set on every try (whether or not the line item is known yet): one cached token.
    scopes = [AGS_SCORE, *([AGS_LINEITEM] if AGS_LINEITEM in granted else [])]
    if lineitem_url is None and (not lineitems_url or AGS_LINEITEM not in granted):
        raise _Refused("the placement has no line item and the course grants no line item management to create one")
    assignment = session.get(Assignment, row.assignment_id)
    wanted = ags.LineItem(
        score_maximum=row.score_maximum,
        label=(target.link.title or (assignment.title if assignment else "") or "Grader assignment")[:300],
        resource_id=assignment.slug if assignment else None,
        resource_link_id=target.link.resource_link_id,
        tag=LINEITEM_TAG,
    )
    return _Plan(
        revision=row.revision,
        tenant_id=row.tenant_id,
        client=ToolClient.of(target.registration),
        user_id=target.user.sub,
        score_given=row.score_given,
        score_maximum=row.score_maximum,
        comment=row.comment,
        lineitem_url=lineitem_url,
        lineitems_url=lineitems_url,
        wanted=wanted,
        scopes=scopes,
    )


def _learner_of(session: Session, row: LtiPassback) -> str:
    user = session.get(LtiUser, row.lti_user_id)
    return user.learner if user is not None else ""


def _signer(factory: sessionmaker[Session], settings: Settings, tenant_id: str) -> Callable[[], SigningKey]:
    def sign() -> SigningKey:
        with session_scope(factory) as session:
            return signing_key(session, settings, tenant_id)

    return sign


@dataclass
class _Sent:
    request: dict[str, Any]
    lineitem_url: str | None = None
    status_code: int | None = None
    error: str | None = None
    transient: bool = True
    delivered: bool = False


def _send(http: httpx.Client, tokens: TokenSource, plan: _Plan, clock: Clock) -> _Sent:
    """The requests of one try: a token, the line item when unknown, the score. Never raises for the
    platform's faults: they come back in _Sent."""
    sent = _Sent(
        request={
            "method": "POST",
            "userId": plan.user_id,
            "scoreGiven": plan.score_given,
            "scoreMaximum": plan.score_maximum,
        }
    )
    try:
        lineitem_url = plan.lineitem_url
        if lineitem_url is None:
            assert plan.lineitems_url is not None
            item, created = ags.find_or_create_lineitem(
                http, tokens.token(plan.scopes), plan.lineitems_url, plan.wanted
            )
            assert item.id is not None
            lineitem_url = item.id
            sent.request["lineitem"] = "created" if created else "found"
        sent.lineitem_url = lineitem_url
        body = ags.score_body(plan.user_id, plan.score_given, plan.score_maximum, plan.comment, clock())
        sent.request.update(url=ags.scores_url(lineitem_url), timestamp=body["timestamp"])
        sent.status_code = ags.post_score(http, tokens.token(plan.scopes), lineitem_url, body)
        sent.delivered = True
    except (TokenUnavailable, ags.AgsError) as exc:
        sent.status_code, sent.error, sent.transient = exc.status_code, str(exc), exc.transient
        if exc.status_code == 401:
            tokens.forget(plan.scopes)
    except ToolKeyError as exc:  # the operator's passphrase or key row: worth trying again once fixed
        sent.error = f"the tool's signing key cannot be used: {exc}"
    return sent


def _settle(row: LtiPassback, plan: _Plan, sent: _Sent, settings: Settings, final: bool, now: datetime) -> TryResult:
    """Write one try's result into the row (the caller adds the audit row)."""
    row.tries += 1
    row.last_status_code = sent.status_code
    row.last_error = sent.error
    row.updated_at = now
    if sent.lineitem_url and row.lineitem_url != sent.lineitem_url:
        row.lineitem_url = sent.lineitem_url
    if sent.delivered:
        row.delivered_revision = plan.revision
        row.delivered_score_given, row.delivered_score_maximum = plan.score_given, plan.score_maximum
        row.delivered_at = now
        row.next_attempt_at = None
        if row.revision == plan.revision:
            row.status = PassbackStatus.DELIVERED.value
            return TryResult(Outcome.DELIVERED)
        return TryResult(Outcome.RETRY, f"revision {row.revision} arrived while {plan.revision} was sent")
    if not sent.transient or row.tries >= settings.lti_passback_max_tries:
        row.status = PassbackStatus.FAILED.value
        row.next_attempt_at = None
        return TryResult(Outcome.FAILED, sent.error or "")
    intervals = backoff_intervals(max(1, settings.lti_passback_retries), settings.lti_passback_retry_base_s)
    wait = NEXT_ROUND if final else timedelta(seconds=intervals[min(row.tries, len(intervals)) - 1])
    row.next_attempt_at = now + wait
    return TryResult(Outcome.RETRY, sent.error or "")


def try_send(
    factory: sessionmaker[Session],
    settings: Settings,
    passback_id: str,
    http: httpx.Client,
    cache: TokenCache,
    *,
    final: bool,
    clock: Clock = utcnow,
) -> TryResult:
    """One try of one passback row: send its pending score, record the try in the audit log and the
    row's state. `final` says this is the round's last try (a transient failure then waits for the
    reconciler's next round)."""
    with session_scope(factory) as session:
        row = session.get(LtiPassback, passback_id)
        if row is None:
            return TryResult(Outcome.GONE)
        if row.status != PassbackStatus.PENDING.value:
            return TryResult(Outcome.UNCHANGED, row.status)
        if not store.claim(session, passback_id, clock(), CLAIM_HOLD):
            return TryResult(Outcome.BUSY, "another try holds this passback")
    try:
        with session_scope(factory) as session:
            row = session.get(LtiPassback, passback_id)
            assert row is not None
            if row.status != PassbackStatus.PENDING.value:  # settled between the read and the claim
                return TryResult(Outcome.UNCHANGED, row.status)
            try:
                plan = _plan(session, row)
            except _Refused as refused:
                row.tries += 1
                row.status = PassbackStatus.FAILED.value
                row.last_error, row.last_status_code = str(refused), None
                store.add_try(session, row, {"method": "POST"}, Outcome.FAILED.value, None, str(refused))
                return TryResult(Outcome.FAILED, str(refused))
        tokens = TokenSource(http, plan.client, _signer(factory, settings, plan.tenant_id), cache, clock)
        sent = _send(http, tokens, plan, clock)
        with session_scope(factory) as session:
            row = session.get(LtiPassback, passback_id)
            assert row is not None
            result = _settle(row, plan, sent, settings, final, clock())
            link = session.get(LtiResourceLink, row.resource_link_id)
            if sent.lineitem_url and link is not None and link.ags_lineitem_url is None:
                link.ags_lineitem_url = sent.lineitem_url  # the placement's other learners need no search
            outcome = Outcome.DELIVERED if sent.delivered else result.outcome
            store.add_try(session, row, sent.request, outcome.value, sent.status_code, sent.error)
            return result
    finally:
        with session_scope(factory) as session:
            store.release(session, passback_id)
