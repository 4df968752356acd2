"""Learners' one-time sign-in links. Every query names its tenant. The token is shown once (in the mail);
the store keeps its SHA-256, so a copy of the database signs nobody in."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from grader.store.models import SignInLink, utcnow


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(session: Session, tenant_id: str, email: str, ttl_s: int, now: datetime | None = None) -> str:
    """A new link for `email`; returns the token (never stored)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        SignInLink(
            tenant_id=tenant_id, email=email, token_hash=_hash(token), created_at=now, expires_at=now + timedelta(seconds=ttl_s)
        )
    )
    session.flush()
    return token


def links_sent_since(session: Session, tenant_id: str, email: str, since: datetime) -> int:
    return (
        session.scalar(
            select(func.count(SignInLink.id)).where(
                SignInLink.tenant_id == tenant_id, SignInLink.email == email, SignInLink.created_at > since
            )
        )
        or 0
    )


def consume_link(session: Session, tenant_id: str, token: str, now: datetime | None = None) -> str | None:
    """The email the link signs in, marking it used; None when it is unknown, another tenant's, used or
    expired. One UPDATE … WHERE used_at IS NULL: of two concurrent uses, one wins."""
    now = now or utcnow()
    digest = _hash(token)
    link = session.scalar(select(SignInLink).where(SignInLink.tenant_id == tenant_id, SignInLink.token_hash == digest))
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    claimed = session.execute(
        update(SignInLink)
        .where(SignInLink.id == link.id, SignInLink.tenant_id == tenant_id, SignInLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return None
    return link.email
