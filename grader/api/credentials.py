"""Credentials: read, verify and revoke (tenant API), and the public documents verifiers fetch:
the credential itself, the status list credential, and the issuer's DID document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.api.deps import AdminCaller, ServicesDep, SessionDep, SubmitCaller
from grader.api.problems import ProblemError, not_found
from grader.api.schemas import CredentialOut, RevokeIn, VerificationOut
from grader.queue import enqueue_delivery
from grader.store import status as status_lists
from grader.store.models import CredentialRecord, IssuerKey, StatusList, Tenant, utcnow
from grader.webhooks import emit

router = APIRouter(prefix="/api/v1/credentials", tags=["credentials"])
public = APIRouter(tags=["public"])
LD_JSON = "application/ld+json"


def _public_url(services: ServicesDep, credential: CredentialRecord) -> str:
    return f"{services.settings.public_url.rstrip('/')}/api/v1/public/credentials/{credential.id}"


def _out(services: ServicesDep, credential: CredentialRecord) -> CredentialOut:
    return CredentialOut(
        id=credential.id,
        credential_id=credential.credential_id,
        submission_id=credential.submission_id,
        issued_at=credential.issued_at,
        revoked=credential.revoked_at is not None,
        revoked_at=credential.revoked_at,
        revocation_reason=credential.revocation_reason,
        status_list=credential.status_list_id,
        status_index=credential.status_index,
        document=credential.document,
        public_url=_public_url(services, credential),
    )


def _own(session: Session, tenant_id: str, credential_id: str) -> CredentialRecord:
    credential = session.scalar(
        select(CredentialRecord).where(CredentialRecord.tenant_id == tenant_id, CredentialRecord.id == credential_id)
    )
    if credential is None:
        raise not_found("credential", credential_id)
    return credential


@router.get("", response_model=list[CredentialOut])
def list_credentials(session: SessionDep, services: ServicesDep, who: SubmitCaller) -> list[CredentialOut]:
    rows = session.scalars(
        select(CredentialRecord)
        .where(CredentialRecord.tenant_id == who.tenant_id)
        .order_by(CredentialRecord.issued_at.desc())
        .limit(500)
    ).all()
    return [_out(services, c) for c in rows]


@router.get("/{credential_id}", response_model=CredentialOut)
def get_credential(credential_id: str, session: SessionDep, services: ServicesDep, who: SubmitCaller) -> CredentialOut:
    return _out(services, _own(session, who.tenant_id, credential_id))


def _window(document: dict[str, Any], now: datetime) -> list[str]:
    errors = []
    for field, late in (("validFrom", False), ("validUntil", True)):
        value = document.get(field)
        if not isinstance(value, str):
            continue
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            errors.append(f"{field} is not a date-time: {value!r}")
            continue
        if (late and now > moment) or (not late and now < moment):
            errors.append(f"outside its validity window ({field} {value})")
    return errors


def verify_document(document: dict[str, Any], revoked: bool | None) -> VerificationOut:
    """Verify with the credentials package (proof, issuer key, schema, status) where it offers a
    verifier; the service adds what only the store knows: revocation and the validity window."""
    checks: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        from credentials.verify import verify_credential  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        errors.append("no verifier is installed: the credentials package lacks credentials.verify")
    else:
        report = verify_credential(document)
        data = report.model_dump(mode="json") if hasattr(report, "model_dump") else dict(report)
        checks.extend(data.get("checks", []))
        errors.extend(str(e) for e in data.get("errors", []))
        if not data.get("verified", False) and not data.get("errors"):
            errors.append("the credential did not verify")
    errors.extend(_window(document, utcnow()))
    if revoked:
        errors.append("the credential has been revoked")
    checks.append({"check": "status", "ok": not revoked})
    return VerificationOut(verified=not errors, checks=checks, errors=errors, revoked=revoked)


@router.get("/{credential_id}/verify", response_model=VerificationOut)
def verify_stored(credential_id: str, session: SessionDep, who: SubmitCaller) -> VerificationOut:
    credential = _own(session, who.tenant_id, credential_id)
    return verify_document(credential.document, credential.revoked_at is not None)


@router.post("/{credential_id}/revoke", response_model=CredentialOut)
def revoke(
    credential_id: str, body: RevokeIn, session: SessionDep, services: ServicesDep, who: AdminCaller
) -> CredentialOut:
    """Revoke: the status list bit is set, so every verifier sees it. Revoking twice changes nothing."""
    credential = _own(session, who.tenant_id, credential_id)
    if credential.revoked_at is not None:
        return _out(services, credential)
    credential.revoked_at = utcnow()
    credential.revocation_reason = body.reason or None
    if credential.status_list_id is not None and credential.status_index is not None:
        status_list = session.get(StatusList, credential.status_list_id)
        if status_list is not None:
            status_lists.mark(session, status_list, credential.status_index, True)
    deliveries = emit(
        session,
        who.tenant_id,
        "credential.revoked",
        f"{credential.id}.revoked",
        {"credential_id": credential.id, "id": credential.credential_id, "reason": body.reason},
    )
    session.commit()
    for delivery in deliveries:
        enqueue_delivery(services.queue, services.settings, delivery.id)
    return _out(services, credential)


@public.post("/api/v1/verify", response_model=VerificationOut, tags=["public"])
def verify_any(
    session: SessionDep, document: dict[str, Any] = Body(..., description="A credential")
) -> VerificationOut:
    """Verify any credential (no key needed): for employers and anyone shown a credential."""
    stored = None
    if isinstance(document.get("id"), str):
        stored = session.scalar(select(CredentialRecord).where(CredentialRecord.credential_id == document["id"]))
    revoked = None if stored is None else stored.revoked_at is not None
    return verify_document(document, revoked)


@public.get("/api/v1/public/credentials/{credential_id}", responses={200: {"content": {LD_JSON: {}}}})
def public_credential(credential_id: str, session: SessionDep) -> JSONResponse:
    """The credential as issued, for its holder to share: anyone with the id can fetch it."""
    credential = session.get(CredentialRecord, credential_id)
    if credential is None:
        raise not_found("credential", credential_id)
    return JSONResponse(credential.document, media_type=LD_JSON)


@public.get("/api/v1/public/status-lists/{list_id}", responses={200: {"content": {LD_JSON: {}}}})
def status_list_credential(list_id: str, session: SessionDep, services: ServicesDep) -> JSONResponse:
    """The BitstringStatusListCredential verifiers check revocation against."""
    status_list = session.get(StatusList, list_id)
    if status_list is None:
        raise not_found("status list", list_id)
    if status_list.document is not None:
        return JSONResponse(status_list.document, media_type=LD_JSON)
    tenant = session.get(Tenant, status_list.tenant_id)
    assert tenant is not None
    url = f"{services.settings.public_url.rstrip('/')}/api/v1/public/status-lists/{status_list.id}"
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": _issuer_did(session, tenant, services),
        "validFrom": status_list.updated_at.isoformat().replace("+00:00", "Z"),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": status_list.purpose,
            "encodedList": status_lists.encode_list(status_list.bits),
        },
    }
    return JSONResponse(document, media_type=LD_JSON)


def _issuer_did(session: Session, tenant: Tenant, services: ServicesDep) -> str:
    key = session.scalar(
        select(IssuerKey).where(IssuerKey.tenant_id == tenant.id, IssuerKey.status == "active").limit(1)
    )
    if key is not None:
        return key.did
    host = services.settings.public_url.split("://", 1)[-1].rstrip("/").replace(":", "%3A").replace("/", ":")
    return f"did:web:{host}:tenants:{tenant.slug}"


def did_document(session: Session, tenant: Tenant, services: ServicesDep) -> dict[str, Any]:
    did = _issuer_did(session, tenant, services)
    keys = session.scalars(
        select(IssuerKey).where(IssuerKey.tenant_id == tenant.id).order_by(IssuerKey.created_at)
    ).all()
    if not keys:
        raise ProblemError(404, "not-found", f"tenant {tenant.slug!r} has no issuer key yet")
    methods = [
        {
            "id": k.verification_method,
            "type": "Multikey",
            "controller": k.did,
            "publicKeyMultibase": k.public_key_multibase,
        }
        for k in keys
    ]
    active = [k.verification_method for k in keys if k.status == "active"]
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": methods,
        # Retired keys stay listed so old credentials still verify, but sign nothing new.
        "assertionMethod": active,
        "authentication": active,
    }


@public.get("/tenants/{tenant_slug}/did.json", responses={200: {"content": {"application/did+json": {}}}})
def tenant_did(tenant_slug: str, session: SessionDep, services: ServicesDep) -> JSONResponse:
    """The did:web document of a tenant's issuer (did:web:<host>:tenants:<slug>)."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
    if tenant is None:
        raise not_found("tenant", tenant_slug)
    return JSONResponse(did_document(session, tenant, services), media_type="application/did+json")
