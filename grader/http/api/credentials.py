"""Credentials: read, verify and revoke (tenant API), and the public documents verifiers fetch:
the credential itself, the status list credential, and the issuer's DID document."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.orm import Session

from credentials.inputs import MAX_BYTES
from credentials.verify import FetchedStatusList, verify_credential
from grader.config import Settings
from grader.http.deps import AdminCaller, ServicesDep, SessionDep, SubmitCaller
from grader.http.did_web import fetch_did_web
from grader.http.problems import ProblemError, not_found
from grader.http.schemas import CredentialOut, RevokeIn, VerificationOut
from grader.http.web.rendering import wants_html
from grader.issuing import status_lists
from grader.issuing import tenant as issuing
from grader.jobs.queue import enqueue_delivery
from grader.notify.webhooks import emit
from grader.store import issued, tenancy
from grader.store.models import CredentialRecord, StatusList, utcnow

router = APIRouter(prefix="/api/v1/credentials", tags=["credentials"])


public = APIRouter(tags=["public"])
LD_JSON = "application/ld+json"


def _public_url(services: ServicesDep, credential: CredentialRecord) -> str:
    return issuing.credential_url(services.settings.public_url, credential.id)


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
    credential = issued.credential_of(session, tenant_id, credential_id)
    if credential is None:
        raise not_found("credential", credential_id)
    return credential


@router.get("", response_model=list[CredentialOut])
def list_credentials(session: SessionDep, services: ServicesDep, who: SubmitCaller) -> list[CredentialOut]:
    return [_out(services, c) for c in issued.credentials_of(session, who.tenant_id)]


@router.get("/{credential_id}", response_model=CredentialOut)
def get_credential(credential_id: str, session: SessionDep, services: ServicesDep, who: SubmitCaller) -> CredentialOut:
    return _out(services, _own(session, who.tenant_id, credential_id))


def _published_list(session: Session, settings: Settings, row: StatusList) -> dict[str, Any]:
    """The signed list credential of ``row``, signed anew when it is near its validUntil."""
    status_lists.refresh_if_stale(row)
    return issuing.status_list_credential(session, settings, row)


def _status_lists_for(session: Session, settings: Settings, document: Any) -> list[FetchedStatusList]:
    """The list credential the document's status entry points to, when this service publishes it
    (as fetched from that URL)."""
    entry = document.get("credentialStatus") if isinstance(document, dict) else None
    url = entry.get("statusListCredential") if isinstance(entry, dict) else None
    prefix = status_lists.list_url(settings.public_url, "")
    if not isinstance(url, str) or not url.startswith(prefix):
        return []
    row = session.get(StatusList, url.removeprefix(prefix))
    return [FetchedStatusList(url, _published_list(session, settings, row))] if row is not None else []


def _did_documents(session: Session) -> list[dict[str, Any]]:
    """did.json of every tenant of this service (verifiers of did:web issuers need them offline)."""
    documents = []
    for tenant in tenancy.all_tenants(session):
        document = issuing.did_document(session, tenant)
        if document is not None:
            documents.append(document)
    return documents


def _issuer_of(document: Any) -> str:
    if not isinstance(document, dict):
        return ""
    issuer = document.get("issuer")
    value = issuer.get("id") if isinstance(issuer, dict) else issuer
    return value if isinstance(value, str) else ""


def verify_document(session: Session, settings: Settings, document: dict[str, Any] | bytes) -> VerificationOut:
    """Every check of credentials.verify, with this service's status lists and DID documents.

    ``document`` is the credential, or its JSON text as received (so that duplicate keys, depth and
    other input limits are checked on what was sent, not on what a JSON parser kept of it).
    """
    parsed: Any = document
    if isinstance(document, bytes):
        # Only to find the status list; verify_credential reads the text itself, with its limits.
        try:
            parsed = json.loads(document)
        except (ValueError, RecursionError):
            parsed = None
    did_documents = _did_documents(session)
    trusted = {d.get("id") for d in did_documents}
    issuer = _issuer_of(parsed)
    if settings.resolve_did_web and issuer.startswith("did:web:") and issuer not in trusted:
        fetched, _why = fetch_did_web(issuer, settings)
        if fetched is not None:
            did_documents.append(fetched)
    report = verify_credential(
        document,
        status_list=_status_lists_for(session, settings, parsed),
        did_documents=did_documents,
        require_evidence=True,
    )
    status = next((c for c in report.checks if c.name == "status"), None)
    revoked = None if status is None or status.outcome == "skipped" else status.outcome == "failed"
    session.commit()  # a status list signed on the way is kept
    return VerificationOut(
        verified=report.verified,
        checks=report.checks,
        errors=report.errors,
        revoked=revoked,
        issuer=report.issuer,
        issuer_trusted=report.issuer is not None and report.issuer in trusted,
    )


async def _credential_body(request: Request) -> bytes:
    """The request body as sent: a JSON object of at most MAX_BYTES (else a problem, 413 or 422)."""
    body = await request.body()
    if len(body) > MAX_BYTES:
        raise ProblemError(413, "payload-too-large", f"a credential is at most {MAX_BYTES} bytes")
    if not body.lstrip().startswith(b"{"):
        raise ProblemError(422, "validation", "the body must be a JSON object (a credential)")
    return body


@router.get("/{credential_id}/verify", response_model=VerificationOut)
def verify_stored(
    credential_id: str, session: SessionDep, services: ServicesDep, who: SubmitCaller
) -> VerificationOut:
    credential = _own(session, who.tenant_id, credential_id)
    return verify_document(session, services.settings, credential.document)


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
            status_lists.revoke(session, status_list, credential.status_index, services.settings.public_url)
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


_CREDENTIAL_BODY = {
    "requestBody": {
        "required": True,
        "description": "A credential",
        "content": {"application/json": {"schema": {"type": "object", "description": "A credential"}}},
    }
}


@public.post("/api/v1/verify", response_model=VerificationOut, tags=["public"], openapi_extra=_CREDENTIAL_BODY)
def verify_any(
    session: SessionDep, services: ServicesDep, body: bytes = Depends(_credential_body)
) -> VerificationOut:
    """Verify any credential (no key needed): for employers and anyone shown a credential.
    ``issuer_trusted`` says whether its issuer is one of this service's tenants."""
    return verify_document(session, services.settings, body)


@public.get(
    "/api/v1/public/credentials/{credential_id}",
    response_model=None,
    responses={200: {"content": {LD_JSON: {}, "text/html": {}}}},
)
def public_credential(
    credential_id: str, request: Request, session: SessionDep, services: ServicesDep
) -> JSONResponse | HTMLResponse:
    """The credential as issued, for its holder to share: anyone with the id can fetch it. A browser
    (Accept preferring text/html) gets its page instead: the badge, results, evidence and a live check."""
    credential = session.get(CredentialRecord, credential_id)
    if credential is None:
        raise not_found("credential", credential_id)
    if wants_html(request):
        from grader.http.web.public import credential_page

        return credential_page(request, session, services.settings, credential)
    response = JSONResponse(credential.document, media_type=LD_JSON)
    response.headers["Vary"] = "Accept"
    return response


@public.get("/api/v1/public/status-lists/{list_id}", responses={200: {"content": {LD_JSON: {}}}})
def status_list_credential(list_id: str, session: SessionDep, services: ServicesDep) -> JSONResponse:
    """The BitstringStatusListCredential verifiers check revocation against (signed by the tenant)."""
    row = session.get(StatusList, list_id)
    if row is None:
        raise not_found("status list", list_id)
    document = _published_list(session, services.settings, row)
    session.commit()
    return JSONResponse(document, media_type=LD_JSON)


@public.get("/tenants/{tenant_slug}/did.json", responses={200: {"content": {"application/did+json": {}}}})
def tenant_did(tenant_slug: str, session: SessionDep) -> JSONResponse:
    """The did:web document of a tenant's issuer (did:web:<host>:tenants:<slug>)."""
    tenant = tenancy.tenant_by_slug(session, tenant_slug)
    document = issuing.did_document(session, tenant) if tenant is not None else None
    if document is None:
        raise not_found("issuer", tenant_slug)
    return JSONResponse(document, media_type="application/did+json")
