"""The public pages: what anyone shown a credential can open, without signing in.

- the credential page, at the credential's public URL (`/api/v1/public/credentials/{id}`, which answers a
  JSON or JSON-LD client with the document itself: grader.http.api.credentials), with its downloads;
- the issuer's profile (`/tenants/{slug}`) and each achievement (`/tenants/{slug}/achievements/{id}/{version}`),
  a page for a browser and the JSON-LD Profile or Achievement for anything else, and the achievement's
  default badge image;
- the verifier, `/verify`: paste, upload or drop a credential (JSON or a baked PNG); a plain form POST
  (JavaScript only adds dropping a file).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from credentials.bake import bake, extract_credential
from credentials.build import build_achievement
from credentials.contexts import CREDENTIAL_CONTEXTS
from credentials.errors import BakeError
from credentials.inputs import MAX_BYTES
from credentials.models import Profile
from grader.config import Settings
from grader.core.credential_mapping import achievement_input
from grader.core.spec import AssignmentSpec
from grader.http.deps import ServicesDep, SessionDep
from grader.http.problems import not_found
from grader.http.schemas import VerificationOut
from grader.http.web.rendering import render, wants_html
from grader.http.web.sessions import check_csrf
from grader.issuing import tenant as issuing
from grader.issuing.badge import default_badge_png
from grader.store import catalog, tenancy
from grader.store.models import CredentialRecord, Tenant, VersionStatus

router = APIRouter(include_in_schema=False)
LD_JSON = "application/ld+json"
LINKEDIN_ADD = "https://www.linkedin.com/profile/add"
CHECK_TITLES = {
    "json": "Readable credential",
    "schema": "Open Badges 3.0 structure",
    "contexts": "Known JSON-LD contexts",
    "terms": "Every term defined",
    "proof": "Signature",
    "issuer_key": "Issuer's key",
    "validity": "Dates (issued, expiry)",
    "status": "Not revoked",
    "evidence": "Evidence present",
}


# Helpers shared by the pages -----------------------------------------------------------------


def linkedin_url(
    *, name: str, organization: str, issued: datetime | None, cert_id: str, cert_url: str, expires: datetime | None
) -> str:
    """LinkedIn's "Add licence or certification" link, filled in (LinkedIn's documented parameters)."""
    params: dict[str, str] = {"startTask": "CERTIFICATION_NAME", "name": name, "organizationName": organization}
    if issued is not None:
        params |= {"issueYear": str(issued.year), "issueMonth": str(issued.month)}
    if expires is not None:
        params |= {"expirationYear": str(expires.year), "expirationMonth": str(expires.month)}
    params |= {"certId": cert_id, "certUrl": cert_url}
    return f"{LINKEDIN_ADD}?{urlencode(params)}"


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _our_achievement(settings: Settings, achievement_id: str) -> tuple[str, str, str] | None:
    """(tenant slug, assignment id, version) when the achievement is one this service publishes."""
    prefix = f"{settings.public_url.rstrip('/')}/tenants/"
    if not achievement_id.startswith(prefix):
        return None
    parts = achievement_id.removeprefix(prefix).split("#", 1)[0].split("/")
    if len(parts) != 4 or parts[1] != "achievements" or not all(parts):
        return None
    return parts[0], parts[2], parts[3]


def _same_origin(settings: Settings, url: str) -> bool:
    ours = urlsplit(settings.public_url)
    theirs = urlsplit(url)
    return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)


def _image_for_page(settings: Settings, achievement: dict[str, Any]) -> str | None:
    """The badge image the page can show (the CSP allows only this origin): the achievement's own image when
    it is served here, else this service's default badge for one of its achievements."""
    image = _dict(achievement.get("image")).get("id") or (
        achievement.get("image") if isinstance(achievement.get("image"), str) else None
    )
    if isinstance(image, str) and _same_origin(settings, image):
        return image
    ours = _our_achievement(settings, _text(achievement.get("id")))
    if ours is not None:
        return issuing.achievement_image_url(settings.public_url, *ours)
    return None


def badge_png_for(settings: Settings, document: dict[str, Any]) -> bytes:
    """The image a credential is baked into: the achievement's default badge (the spec's own image is not
    fetched: the service makes no outbound requests for a page)."""
    achievement = _dict(_dict(document.get("credentialSubject")).get("achievement"))
    ours = _our_achievement(settings, _text(achievement.get("id")))
    seed = ours[1] if ours is not None else _text(achievement.get("id"))
    return default_badge_png(seed, _text(achievement.get("name")) or "Badge")


def rubric_rows(document: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Each criterion with its levels (the achieved one marked), and the total score row."""
    subject = _dict(document.get("credentialSubject"))
    descriptions = {
        _text(d.get("id")): d for d in map(_dict, _list(_dict(subject.get("achievement")).get("resultDescription")))
    }
    rows: list[dict[str, Any]] = []
    total: dict[str, Any] | None = None
    for result in map(_dict, _list(subject.get("result"))):
        description = descriptions.get(_text(result.get("resultDescription")), {})
        if description.get("resultType") == "RubricScore":
            total = {
                "value": _text(result.get("value")),
                "max": _text(description.get("valueMax")),
                "required": _text(description.get("requiredValue")),
            }
            continue
        achieved = _text(result.get("achievedLevel"))
        levels = [
            {
                "name": _text(level.get("name")),
                "points": _text(level.get("points")),
                "achieved": _text(level.get("id")) == achieved,
            }
            for level in map(_dict, _list(description.get("rubricCriterionLevel")))
        ]
        rows.append(
            {
                "name": _text(description.get("name")) or _text(result.get("resultDescription")),
                "level": _text(result.get("value")),
                "points": next((lv["points"] for lv in levels if lv["achieved"]), ""),
                "max": _text(description.get("valueMax")),
                "levels": levels,
            }
        )
    return rows, total


def evidence_rows(document: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for item in map(_dict, _list(document.get("evidence"))):
        identifier = _text(item.get("id"))
        repository, _, fragment = identifier.partition("#")
        commit = fragment.removeprefix("commit=") if fragment.startswith("commit=") else ""
        safe = urlsplit(repository).scheme in ("http", "https")
        rows.append(
            {
                "name": _text(item.get("name")),
                "narrative": _text(item.get("narrative")),
                "repository": repository,
                "link": repository if safe else "",
                "commit": commit,
            }
        )
    return rows


def check_rows(report: VerificationOut) -> list[dict[str, str]]:
    return [
        {"name": c.name, "title": CHECK_TITLES.get(c.name, c.name), "outcome": c.outcome, "reason": c.reason}
        for c in report.checks
    ]


def _absolute(request: Request, settings: Settings, path: str) -> str:
    return path if "://" in path else f"{settings.public_url.rstrip('/')}{path}"


# The credential page -------------------------------------------------------------------------


def credential_page(request: Request, session: Session, settings: Settings, record: CredentialRecord) -> HTMLResponse:
    """The page at the credential's public URL (the JSON route hands a browser over to this)."""
    from grader.http.api.credentials import verify_document

    document = record.document
    subject = _dict(document.get("credentialSubject"))
    achievement = _dict(subject.get("achievement"))
    issuer = _dict(document.get("issuer"))
    issued = _when(document.get("validFrom"))
    expires = _when(document.get("validUntil"))
    report = verify_document(session, settings, document)
    page_url = issuing.credential_url(settings.public_url, record.id)
    name = _text(achievement.get("name")) or _text(document.get("name")) or "Credential"
    issuer_name = _text(issuer.get("name")) or _text(issuer.get("id"))
    image = _image_for_page(settings, achievement)
    rows, total = rubric_rows(document)
    page = render(
        request,
        "public/credential.html",
        name=name,
        description=_text(achievement.get("description")),
        criteria=_text(_dict(achievement.get("criteria")).get("narrative")),
        skills=[t for t in _list(achievement.get("tag")) if isinstance(t, str)],
        achievement_url=_text(achievement.get("id")),
        issuer_name=issuer_name,
        issuer_url=_text(issuer.get("url")) or _text(issuer.get("id")),
        issuer_id=_text(issuer.get("id")),
        issued=issued,
        expires=expires,
        image=image,
        og_image=_absolute(request, settings, image) if image else None,
        rows=rows,
        total=total,
        evidence=evidence_rows(document),
        report=report,
        checks=check_rows(report),
        revoked=record.revoked_at is not None or report.revoked is True,
        revoked_at=record.revoked_at,
        revocation_reason=record.revocation_reason,
        page_url=page_url,
        json_url=f"{page_url}/credential.json",
        png_url=f"{page_url}/badge.png",
        linkedin=linkedin_url(
            name=name,
            organization=issuer_name,
            issued=issued,
            expires=expires,
            cert_id=_text(document.get("id")),
            cert_url=page_url,
        ),
    )
    page.headers["Vary"] = "Accept"
    return page


def _credential(session: Session, credential_id: str) -> CredentialRecord:
    record = session.get(CredentialRecord, credential_id)
    if record is None:
        raise not_found("credential", credential_id)
    return record


@router.get("/api/v1/public/credentials/{credential_id}/credential.json")
def credential_download(credential_id: str, session: SessionDep) -> Response:
    """The signed document as a file to keep (the same bytes for every download)."""
    record = _credential(session, credential_id)
    body = json.dumps(record.document, ensure_ascii=False, indent=2).encode()
    return Response(
        body,
        media_type=LD_JSON,
        headers={"Content-Disposition": f'attachment; filename="credential-{record.id}.json"'},
    )


@router.get("/api/v1/public/credentials/{credential_id}/badge.png")
def credential_baked(credential_id: str, session: SessionDep, services: ServicesDep) -> Response:
    """The badge image with the credential baked in (an `openbadgecredential` iTXt chunk)."""
    record = _credential(session, credential_id)
    png = bake(badge_png_for(services.settings, record.document), record.document)
    return Response(
        png, media_type="image/png", headers={"Content-Disposition": f'attachment; filename="badge-{record.id}.png"'}
    )


# Issuer and achievement ----------------------------------------------------------------------


def _tenant(session: Session, slug: str) -> Tenant:
    tenant = tenancy.tenant_by_slug(session, slug)
    if tenant is None:
        raise not_found("issuer", slug)
    return tenant


def issuer_profile(session: Session, settings: Settings, tenant: Tenant) -> dict[str, Any]:
    """The tenant's issuer as a JSON-LD Open Badges Profile (its id the did:web its credentials name)."""
    did = issuing.did_document(session, tenant)
    profile = Profile(
        id=str(did["id"]) if did is not None else issuing.tenant_did(settings, tenant.slug),
        name=tenant.name,
        url=issuing.issuer_url(settings.public_url, tenant.slug),
    )
    return {"@context": list(CREDENTIAL_CONTEXTS), **profile.to_json()}


@router.get("/tenants/{tenant_slug}", responses={200: {"content": {LD_JSON: {}}}})
def issuer_page(tenant_slug: str, request: Request, session: SessionDep, services: ServicesDep) -> Response:
    settings = services.settings
    tenant = _tenant(session, tenant_slug)
    profile = issuer_profile(session, settings, tenant)
    if not wants_html(request):
        return JSONResponse(profile, media_type=LD_JSON)
    achievements = []
    for assignment in catalog.assignments_of(session, tenant.id):
        for version in catalog.versions_of(session, assignment):
            if version.status != VersionStatus.PUBLISHED:
                continue
            credential = _dict(version.spec.get("credential"))
            name = _text(_dict(credential.get("achievement")).get("name"))
            if name:
                achievements.append(
                    {
                        "name": name,
                        "version": version.version,
                        "url": issuing.achievement_url(
                            settings.public_url, tenant.slug, assignment.slug, version.version
                        ),
                        "image": issuing.achievement_image_url(
                            settings.public_url, tenant.slug, assignment.slug, version.version
                        ),
                    }
                )
    return render(
        request,
        "public/issuer.html",
        tenant=tenant,
        profile=profile,
        achievements=achievements,
        did_url=f"{issuing.issuer_url(settings.public_url, tenant.slug)}/did.json",
    )


def _published_spec(session: Session, tenant: Tenant, assignment_id: str, version: str) -> AssignmentSpec:
    assignment = catalog.assignment_by_slug(session, tenant.id, assignment_id)
    row = catalog.pick_version(session, assignment, version) if assignment is not None else None
    if row is None or row.status != VersionStatus.PUBLISHED:
        raise not_found("achievement", f"{assignment_id} {version}")
    spec = AssignmentSpec.model_validate(row.spec)
    if spec.credential is None:
        raise not_found("achievement", f"{assignment_id} {version}")
    return spec


def achievement_document(settings: Settings, session: Session, tenant: Tenant, spec: AssignmentSpec) -> dict[str, Any]:
    """The JSON-LD Achievement, exactly as the credentials of this version carry it, with its creator."""
    achievement_id = issuing.achievement_url(settings.public_url, tenant.slug, spec.id, spec.version)
    image = issuing.achievement_image_url(settings.public_url, tenant.slug, spec.id, spec.version)
    creator = Profile.model_validate(
        {k: v for k, v in issuer_profile(session, settings, tenant).items() if k != "@context"}
    )
    built = build_achievement(achievement_input(spec, achievement_id, image), creator=creator)
    return {"@context": list(CREDENTIAL_CONTEXTS), **built.to_json()}


@router.get(
    "/tenants/{tenant_slug}/achievements/{assignment_id}/{version}", responses={200: {"content": {LD_JSON: {}}}}
)
def achievement_page(
    tenant_slug: str, assignment_id: str, version: str, request: Request, session: SessionDep, services: ServicesDep
) -> Response:
    settings = services.settings
    tenant = _tenant(session, tenant_slug)
    spec = _published_spec(session, tenant, assignment_id, version)
    document = achievement_document(settings, session, tenant, spec)
    if not wants_html(request):
        return JSONResponse(document, media_type=LD_JSON)
    criteria = []
    for description in map(_dict, _list(document.get("resultDescription"))):
        if description.get("resultType") != "RubricCriterionLevel":
            continue
        criteria.append(
            {
                "name": _text(description.get("name")),
                "max": _text(description.get("valueMax")),
                "levels": [
                    {"name": _text(lv.get("name")), "points": _text(lv.get("points"))}
                    for lv in map(_dict, _list(description.get("rubricCriterionLevel")))
                ],
            }
        )
    score = next(
        (d for d in map(_dict, _list(document.get("resultDescription"))) if d.get("resultType") == "RubricScore"), {}
    )
    image = _image_for_page(settings, document)
    return render(
        request,
        "public/achievement.html",
        spec=spec,
        document=document,
        tenant=tenant,
        issuer_url=issuing.issuer_url(settings.public_url, tenant.slug),
        criteria=criteria,
        max_score=_text(score.get("valueMax")),
        passing=_text(score.get("requiredValue")),
        image=image,
        og_image=_absolute(request, settings, image) if image else None,
        page_url=document["id"],
    )


@router.get("/tenants/{tenant_slug}/achievements/{assignment_id}/{version}/image.png")
def achievement_image(tenant_slug: str, assignment_id: str, version: str, session: SessionDep) -> Response:
    """The default badge: initials of the achievement's name on a colour from the assignment's id."""
    tenant = _tenant(session, tenant_slug)
    spec = _published_spec(session, tenant, assignment_id, version)
    assert spec.credential is not None
    png = default_badge_png(spec.id, spec.credential.achievement.name)
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


# The verifier --------------------------------------------------------------------------------


@router.get("/verify", response_class=HTMLResponse)
def verify_form(request: Request) -> HTMLResponse:
    return render(request, "public/verify.html", result=None, problem=None, pasted="")


def _unpack(upload: bytes, pasted: str) -> tuple[bytes | None, str | None]:
    """The credential's JSON text from an uploaded file (JSON or a baked PNG) or the pasted text."""
    raw = upload or pasted.strip().encode()
    if not raw:
        return None, "Paste a credential, or choose or drop a file."
    if len(raw) > MAX_BYTES * 4:
        return None, f"That file is too large: a credential is at most {MAX_BYTES} bytes."
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        try:
            baked = extract_credential(raw)
        except BakeError as exc:
            return None, f"That image has no credential baked into it ({exc})."
        if isinstance(baked, str):
            return None, "That image holds a JWT-secured credential; this verifier checks JSON credentials."
        return json.dumps(baked, ensure_ascii=False).encode(), None
    if len(raw) > MAX_BYTES:
        return None, f"That is too large: a credential is at most {MAX_BYTES} bytes."
    if not raw.lstrip().startswith(b"{"):
        return None, "That is neither a JSON credential nor a baked PNG badge."
    return raw, None


@router.post("/verify", response_class=HTMLResponse)
def verify_submit(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    csrf_token: Annotated[str | None, Form()] = None,
    credential: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    check_csrf(request, csrf_token)
    from grader.http.api.credentials import verify_document

    upload = file.file.read(MAX_BYTES * 4 + 1) if file is not None and file.filename else b""
    body, problem = _unpack(upload, credential)
    if body is None:
        return render(request, "public/verify.html", status_code=422, result=None, problem=problem, pasted=credential)
    report = verify_document(session, services.settings, body)
    parsed: Any
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        parsed = {}
    document = _dict(parsed)
    achievement = _dict(_dict(document.get("credentialSubject")).get("achievement"))
    issuer = report.issuer or ""
    return render(
        request,
        "public/verify.html",
        result=report,
        checks=check_rows(report),
        problem=None,
        pasted=credential if not upload else "",
        name=_text(achievement.get("name")) or _text(document.get("name")),
        issuer_name=_text(_dict(document.get("issuer")).get("name")),
        issuer=issuer,
        did_web_offline=issuer.startswith("did:web:")
        and not report.issuer_trusted
        and not services.settings.resolve_did_web,
    )
