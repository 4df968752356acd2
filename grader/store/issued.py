"""Issued credentials. Every query names its tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.store.models import CredentialRecord


def credential_of(session: Session, tenant_id: str, credential_id: str) -> CredentialRecord | None:
    return session.scalar(
        select(CredentialRecord).where(CredentialRecord.tenant_id == tenant_id, CredentialRecord.id == credential_id)
    )


def credentials_of(session: Session, tenant_id: str, limit: int = 500) -> list[CredentialRecord]:
    """The tenant's newest credentials first."""
    return list(
        session.scalars(
            select(CredentialRecord)
            .where(CredentialRecord.tenant_id == tenant_id)
            .order_by(CredentialRecord.issued_at.desc())
            .limit(limit)
        )
    )
