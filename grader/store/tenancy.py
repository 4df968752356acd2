"""Tenants and their API keys. Every query names its tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.core.policy import Scope
from grader.store import apikeys
from grader.store.models import ApiKey, Tenant


def create_tenant(session: Session, slug: str, name: str) -> Tenant:
    tenant = Tenant(slug=slug, name=name)
    session.add(tenant)
    session.flush()
    return tenant


def tenant_by_slug(session: Session, slug: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.slug == slug))


def create_api_key(session: Session, tenant_id: str, scopes: list[Scope], name: str = "") -> tuple[ApiKey, str]:
    """A new key; the full secret is returned once and never stored."""
    raw, prefix, secret_hash = apikeys.new_key()
    key = ApiKey(
        tenant_id=tenant_id, prefix=prefix, secret_hash=secret_hash, scopes=[s.value for s in scopes], name=name
    )
    session.add(key)
    session.flush()
    return key, raw


def authenticate(session: Session, raw: str) -> ApiKey | None:
    parsed = apikeys.parse_key(raw)
    if parsed is None:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parsed.prefix))
    if key is None or key.revoked_at is not None or not apikeys.secret_matches(parsed.secret, key.secret_hash):
        return None
    return key


def all_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.slug)))


def api_keys_of(session: Session, tenant_id: str) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)))


def api_key_of(session: Session, tenant_id: str, key_id: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id))
