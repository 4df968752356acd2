"""The passback log (migration 0007): one row per (placement, platform user) with the score to send and
what the platform last took, and its audit, one row per try. Every query names its tenant, except the
reconciler's sweep over all of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from grader.store.models import (
    LtiContext,
    LtiPassback,
    LtiPassbackTry,
    LtiRegistration,
    LtiResourceLink,
    LtiUser,
    PassbackStatus,
    utcnow,
)


@dataclass(frozen=True)
class Target:
    """Where one learner's grade of one assignment goes: a placement of it in a course of the
    registration the learner launched from, and the learner as that platform knows them."""

    link: LtiResourceLink
    context: LtiContext
    registration: LtiRegistration
    user: LtiUser


def targets(session: Session, tenant_id: str, assignment_id: str, learner: str) -> list[Target]:
    """Every placement of the assignment in a course of a registration where `learner` is a platform
    user (a learner who never came from a launch has none). Inactive registrations are left out."""
    rows = session.execute(
        select(LtiResourceLink, LtiContext, LtiRegistration, LtiUser)
        .join(LtiContext, LtiContext.id == LtiResourceLink.lti_context_id)
        .join(LtiRegistration, LtiRegistration.id == LtiContext.registration_id)
        .join(LtiUser, LtiUser.registration_id == LtiRegistration.id)
        .where(
            LtiResourceLink.tenant_id == tenant_id,
            LtiResourceLink.assignment_id == assignment_id,
            LtiContext.tenant_id == tenant_id,
            LtiRegistration.tenant_id == tenant_id,
            LtiRegistration.active.is_(True),
            LtiUser.tenant_id == tenant_id,
            LtiUser.learner == learner,
        )
        .order_by(LtiResourceLink.id, LtiUser.id)
    ).all()
    return [
        Target(link=link, context=context, registration=registration, user=user)
        for link, context, registration, user in rows
    ]


def passback_for(session: Session, link_id: str, user_id: str) -> LtiPassback | None:
    return session.scalar(
        select(LtiPassback).where(LtiPassback.resource_link_id == link_id, LtiPassback.lti_user_id == user_id)
    )


def passback_of(session: Session, tenant_id: str, passback_id: str) -> LtiPassback | None:
    return session.scalar(select(LtiPassback).where(LtiPassback.tenant_id == tenant_id, LtiPassback.id == passback_id))


def passbacks_of_assignment(session: Session, tenant_id: str, assignment_id: str) -> list[LtiPassback]:
    return list(
        session.scalars(
            select(LtiPassback)
            .where(LtiPassback.tenant_id == tenant_id, LtiPassback.assignment_id == assignment_id)
            .order_by(LtiPassback.created_at)
        )
    )


@dataclass(frozen=True)
class PassbackView:
    """A passback row with who and where it is for, and its audit, for the API."""

    row: LtiPassback
    user: LtiUser
    link: LtiResourceLink
    tries: list[LtiPassbackTry]


def passback_views(
    session: Session, tenant_id: str, assignment_id: str, only: str | None = None
) -> list[PassbackView]:
    """Every passback of an assignment (or the one `only` names) with its user, placement and tries:
    four queries."""
    rows = [r for r in passbacks_of_assignment(session, tenant_id, assignment_id) if only is None or r.id == only]
    if not rows:
        return []
    users = {
        u.id: u
        for u in session.scalars(
            select(LtiUser).where(LtiUser.tenant_id == tenant_id, LtiUser.id.in_({r.lti_user_id for r in rows}))
        )
    }
    links = {
        link.id: link
        for link in session.scalars(
            select(LtiResourceLink).where(
                LtiResourceLink.tenant_id == tenant_id, LtiResourceLink.id.in_({r.resource_link_id for r in rows})
            )
        )
    }
    audit: dict[str, list[LtiPassbackTry]] = {}
    for entry in session.scalars(
        select(LtiPassbackTry)
        .where(LtiPassbackTry.tenant_id == tenant_id, LtiPassbackTry.passback_id.in_([r.id for r in rows]))
        .order_by(LtiPassbackTry.id)
    ):
        audit.setdefault(entry.passback_id, []).append(entry)
    return [
        PassbackView(row=r, user=users[r.lti_user_id], link=links[r.resource_link_id], tries=audit.get(r.id, []))
        for r in rows
        if r.lti_user_id in users and r.resource_link_id in links
    ]


def tries_of(session: Session, tenant_id: str, passback_id: str) -> list[LtiPassbackTry]:
    """The audit of one passback, oldest try first."""
    return list(
        session.scalars(
            select(LtiPassbackTry)
            .where(LtiPassbackTry.tenant_id == tenant_id, LtiPassbackTry.passback_id == passback_id)
            .order_by(LtiPassbackTry.id)
        )
    )


def claim(session: Session, passback_id: str, now: datetime, hold: timedelta) -> bool:
    """Take the row for one try, unless another try holds it: one conditional UPDATE, atomic on every
    backend, so two jobs never send one row's score at the same time. The caller commits."""
    result = session.execute(
        update(LtiPassback)
        .where(
            LtiPassback.id == passback_id,
            or_(LtiPassback.claimed_until.is_(None), LtiPassback.claimed_until < now),
        )
        .values(claimed_until=now + hold)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def release(session: Session, passback_id: str) -> None:
    session.execute(
        update(LtiPassback)
        .where(LtiPassback.id == passback_id)
        .values(claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def add_try(
    session: Session,
    row: LtiPassback,
    request: dict[str, Any],
    outcome: str,
    status_code: int | None,
    error: str | None,
) -> LtiPassbackTry:
    entry = LtiPassbackTry(
        tenant_id=row.tenant_id,
        passback_id=row.id,
        revision=row.revision,
        try_number=row.tries,
        request=request,
        status_code=status_code,
        outcome=outcome,
        error=None if error is None else error[:2000],
        at=utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry


def due_passbacks(session: Session, before: datetime, limit: int = 500) -> list[LtiPassback]:
    """Pending rows whose next try is overdue (a lost job, or a round that ended with the platform
    still down): what the reconciler sends again."""
    return list(
        session.scalars(
            select(LtiPassback)
            .where(
                LtiPassback.status == PassbackStatus.PENDING.value,
                or_(LtiPassback.next_attempt_at.is_(None), LtiPassback.next_attempt_at < before),
            )
            .order_by(LtiPassback.next_attempt_at)
            .limit(limit)
        )
    )
