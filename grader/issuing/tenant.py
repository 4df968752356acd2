"""Credentials of the service: each tenant is an issuer with its own keystore and status list.

The credentials package does the standards work (building, signing, status lists, did:web
documents); this module supplies what only the service knows: which tenant issues, its keys, the
learner, the public URLs, and the store rows that keep one credential per submission.

Keys: `<keys root>/tenants/<slug>/` is a `credentials.keys.Keystore` encrypted with
GRADER_KEY_PASSPHRASE (on one machine, a generated passphrase kept in <home> will do) whose
controller is `did:web:<public host>:tenants:<slug>`; its public keys are mirrored into
`issuer_keys` so any API replica can serve the tenant's did.json without the private keys. The
mapping from a grade to a credential is grader.issuing.local's, shared with the CLI's local issuer.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from credentials.did import did_web, did_web_document
from credentials.errors import KeyError_
from credentials.keys import Keystore
from credentials.models import BitstringStatusListEntry, Profile
from credentials.multibase import public_key_from_multibase
from credentials.proof import sign_document
from grader.config import Settings, key_passphrase
from grader.core.credential_mapping import unsigned_credential
from grader.core.errors import IssuerUnavailable
from grader.core.evidence import Evidence
from grader.core.grade import Grade
from grader.core.spec import AssignmentSpec
from grader.issuing import status_lists
from grader.issuing.keystores import open_cached
from grader.store.models import IssuerKey, StatusList, Tenant, utcnow


def tenant_keys_dir(settings: Settings, slug: str) -> Path:
    """The tenant's keystore inside the one `grader keys` and the local issuer use."""
    return settings.resolved_keys_dir.expanduser() / "tenants" / slug


def tenant_did(settings: Settings, slug: str) -> str:
    """`did:web:<host>:tenants:<slug>`, resolved by `GET /tenants/<slug>/did.json` on this service."""
    host = urlsplit(settings.public_url).netloc or "localhost"
    return did_web(host, f"tenants/{slug}")


def issuer_url(public_url: str, slug: str) -> str:
    """The tenant's issuer profile (`issuer.url` of its credentials): a page, or the JSON-LD Profile."""
    return f"{public_url.rstrip('/')}/tenants/{slug}"


def achievement_url(public_url: str, slug: str, assignment_id: str, version: str) -> str:
    """The achievement of one version of an assignment (`achievement.id`): a page, or the JSON-LD Achievement."""
    return f"{issuer_url(public_url, slug)}/achievements/{assignment_id}/{version}"


def achievement_image_url(public_url: str, slug: str, assignment_id: str, version: str) -> str:
    """The default badge image (grader.issuing.badge), the `achievement.image` unless the spec names one."""
    return f"{achievement_url(public_url, slug, assignment_id, version)}/image.png"


def credential_url(public_url: str, row_id: str) -> str:
    """Where the holder shares the credential: its page, or the signed document."""
    return f"{public_url.rstrip('/')}/api/v1/public/credentials/{row_id}"


def sync_keys(session: Session, tenant: Tenant, keystore: Keystore) -> list[IssuerKey]:
    """Mirror the keystore's public keys into `issuer_keys` (new keys added, states updated)."""
    rows = {
        k.verification_method: k for k in session.scalars(select(IssuerKey).where(IssuerKey.tenant_id == tenant.id))
    }
    did = keystore.issuer_id()
    for record in keystore.list():
        row = rows.get(record.verification_method)
        if row is None:
            row = IssuerKey(
                tenant_id=tenant.id,
                did=did,
                verification_method=record.verification_method,
                public_key_multibase=record.public_key_multibase,
                keystore_ref=f"{keystore.directory}#{record.key_id}",
                created_at=record.created_at,
            )
            session.add(row)
            rows[record.verification_method] = row
        row.status = record.state
        row.retired_at = record.retired_at
    session.flush()
    return list(rows.values())


def init_tenant_keys(session: Session, settings: Settings, tenant: Tenant, rotate: bool = False) -> list[IssuerKey]:
    """Create the tenant's keystore (or rotate its key) and mirror its public keys."""
    passphrase = key_passphrase(settings)
    directory = tenant_keys_dir(settings, tenant.slug)
    try:
        if (directory / "keystore.json").is_file():
            keystore = open_cached(directory, passphrase)
            if rotate:
                keystore.rotate()
        else:
            keystore = Keystore.init(directory, passphrase, controller=tenant_did(settings, tenant.slug))
    except KeyError_ as exc:
        raise IssuerUnavailable(f"tenant {tenant.slug!r}: {exc}") from exc
    return sync_keys(session, tenant, keystore)


def open_keystore(settings: Settings, tenant: Tenant) -> Keystore:
    directory = tenant_keys_dir(settings, tenant.slug)
    if not (directory / "keystore.json").is_file():
        raise IssuerUnavailable(
            f"tenant {tenant.slug!r} has no issuer keys on this machine ({directory}); "
            f"create them with `grader tenant keys {tenant.slug}`"
        )
    return open_cached(directory, key_passphrase(settings))  # unlocked once per process


def did_document(session: Session, tenant: Tenant) -> dict[str, Any] | None:
    """The tenant's did.json from the mirrored public keys (retired keys still listed: they verify)."""
    keys = session.scalars(
        select(IssuerKey).where(IssuerKey.tenant_id == tenant.id).order_by(IssuerKey.created_at)
    ).all()
    if not keys:
        return None
    did = keys[0].did
    return did_web_document(
        did,
        [(k.verification_method.split("#", 1)[1], public_key_from_multibase(k.public_key_multibase)) for k in keys],
    )


# Issuing -------------------------------------------------------------------------------------


class IssueRequest:
    """Everything one issuance needs, gathered by the worker from the store."""

    def __init__(
        self, tenant: Tenant, learner: str, spec: AssignmentSpec, grade: Grade, evidence: Evidence, credential_id: str
    ) -> None:
        self.tenant = tenant
        self.learner = learner
        self.spec = spec
        self.grade = grade
        self.evidence = evidence
        self.credential_id = credential_id


def issue(session: Session, settings: Settings, request: IssueRequest) -> tuple[dict[str, Any], StatusList, int]:
    """Build and sign the credential, with a fresh status list index of the tenant's list."""
    keystore = open_keystore(settings, request.tenant)
    sync_keys(session, request.tenant, keystore)
    row, index = status_lists.allocate_index(session, request.tenant.id, settings.public_url)
    now = utcnow().astimezone(UTC)
    public_url, slug = settings.public_url, request.tenant.slug
    status = BitstringStatusListEntry(
        id=f"{status_lists.list_url(settings.public_url, row.id)}#{index}",
        statusPurpose="revocation",
        statusListIndex=str(index),
        statusListCredential=status_lists.list_url(settings.public_url, row.id),
    )
    spec = request.spec
    unsigned = unsigned_credential(  # the mapping shared with the CLI's local issuer
        issuer=Profile(id=keystore.issuer_id(), name=request.tenant.name, url=issuer_url(public_url, slug)),
        spec=spec,
        achievement_id=achievement_url(public_url, slug, spec.id, spec.version),
        default_image=achievement_image_url(public_url, slug, spec.id, spec.version),
        learner=request.learner,
        grade=request.grade,
        evidence=request.evidence,
        status=status,
        credential_id=request.credential_id,
        now=now,
    )
    try:
        return sign_document(unsigned, keystore.signer()), row, index
    except KeyError_ as exc:  # e.g. this machine's passphrase is not the one the keys were made with
        raise IssuerUnavailable(f"tenant {request.tenant.slug!r}: {exc}") from exc


def status_list_credential(session: Session, settings: Settings, row: StatusList) -> dict[str, Any]:
    """The list credential, signed by the tenant's key where this machine holds it (cached in the
    row until the list changes); unsigned otherwise."""
    if row.document is not None:
        return row.document
    tenant = session.get(Tenant, row.tenant_id)
    assert tenant is not None
    status_list = status_lists.load(row, settings.public_url)
    try:
        keystore = open_keystore(settings, tenant)
        signed = status_list.issue_credential(keystore.issuer_id(), keystore.signer())
    except (IssuerUnavailable, KeyError_):
        return status_list.to_credential(tenant_did(settings, tenant.slug))
    row.document = signed
    session.flush()
    return signed
