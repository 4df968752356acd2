"""Credentials of the service: each tenant is an issuer with its own keystore and status list.

The credentials package does the standards work (building, signing, status lists, did:web
documents); this module supplies what only the service knows: which tenant issues, its keys, the
learner, the public URLs, and the store rows that keep one credential per submission.

Keys: `<keys root>/tenants/<slug>/` is a `credentials.keys.Keystore` (encrypted with
GRADER_KEY_PASSPHRASE) whose controller is `did:web:<public host>:tenants:<slug>`; its public keys
are mirrored into `issuer_keys` so any API replica can serve the tenant's did.json without the
private keys.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from credentials.build import (
    AchievementInput,
    AlignmentInput,
    CriterionResultInput,
    EvidenceInput,
    ResultsInput,
    RubricCriterionInput,
    RubricLevelInput,
    SubjectIdentity,
    build_credential,
    hash_email,
)
from credentials.did import did_web, did_web_document
from credentials.keys import PASSPHRASE_ENV, Keystore
from credentials.models import BitstringStatusListEntry, IdentityObject, Profile
from credentials.multibase import public_key_from_multibase
from credentials.proof import sign_document
from grader.config import Settings
from grader.grade import NOT_YET, Grade
from grader.pipeline import Evidence
from grader.spec import AssignmentSpec
from grader.store import status as status_lists
from grader.store.models import IssuerKey, StatusList, Tenant, utcnow

_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?")


class IssuerUnavailable(RuntimeError):
    """The tenant has no keystore here, or no passphrase was given to unlock it."""


def keys_root(settings: Settings) -> Path:
    """GRADER_KEYS_DIR when set (as for `grader keys`), else `<home>/keys`."""
    configured = os.environ.get("GRADER_KEYS_DIR")
    return Path(configured).expanduser() if configured else settings.home / "keys"


def tenant_keys_dir(settings: Settings, slug: str) -> Path:
    return keys_root(settings) / "tenants" / slug


def tenant_did(settings: Settings, slug: str) -> str:
    """`did:web:<host>:tenants:<slug>`, resolved by `GET /tenants/<slug>/did.json` on this service."""
    host = urlsplit(settings.public_url).netloc or "localhost"
    return did_web(host, f"tenants/{slug}")


def _passphrase() -> str | None:
    return os.environ.get(PASSPHRASE_ENV) or None


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
    passphrase = _passphrase()
    if passphrase is None:
        raise IssuerUnavailable(f"set {PASSPHRASE_ENV} to create or unlock issuer keys")
    directory = tenant_keys_dir(settings, tenant.slug)
    if (directory / "keystore.json").is_file():
        keystore = Keystore.open(directory, passphrase)
        if rotate:
            keystore.rotate()
    else:
        keystore = Keystore.init(directory, passphrase, controller=tenant_did(settings, tenant.slug))
    return sync_keys(session, tenant, keystore)


def open_keystore(settings: Settings, tenant: Tenant) -> Keystore:
    directory = tenant_keys_dir(settings, tenant.slug)
    passphrase = _passphrase()
    if passphrase is None or not (directory / "keystore.json").is_file():
        raise IssuerUnavailable(
            f"tenant {tenant.slug!r} has no issuer keys on this machine ({directory}; {PASSPHRASE_ENV} "
            f"{'set' if passphrase else 'unset'}); create them with `grader tenant keys {tenant.slug}`"
        )
    return Keystore.open(directory, passphrase)


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


# Building a credential from a grade ------------------------------------------------------------


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._~-]+", "-", text).strip("-")
    return slug if slug and slug[0].isalnum() else f"x{slug}"


def _valid_until(start: datetime, duration: str | None) -> datetime | None:
    """An ISO-8601 duration's date part (P2Y, P18M, P6W, P30D) added to `start`."""
    if not duration:
        return None
    match = _DURATION.match(duration)
    if not match:
        return None
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    total_months = start.month - 1 + months + 12 * years
    year, month = start.year + total_months // 12, total_months % 12 + 1
    day = min(start.day, 28)  # keeps the date valid in every month
    return start.replace(year=year, month=month, day=day) + timedelta(weeks=weeks, days=days)


def achievement_input(spec: AssignmentSpec, achievement_id: str) -> AchievementInput:
    """The spec's credential block and rubric as an OB 3.0 achievement with a rubric."""
    achievement = spec.credential.achievement
    rubric = []
    for criterion in spec.rubric.criteria:
        levels = [RubricLevelInput(id="not-yet", name=NOT_YET, points=0)]
        for name, percent in sorted(criterion.levels.items(), key=lambda item: item[1]):
            levels.append(
                RubricLevelInput(id=_slug(name), name=name, points=round(criterion.points * percent / 100, 2))
            )
        rubric.append(
            RubricCriterionInput(
                id=_slug(criterion.id), name=criterion.title, description=criterion.description or None, levels=levels
            )
        )
    return AchievementInput(
        id=achievement_id,
        name=achievement.name,
        description=achievement.description,
        criteria_narrative=achievement.criteria,
        skills=list(achievement.skills),
        alignments=[
            AlignmentInput(
                target_name=a.targetName,
                target_url=a.targetUrl,
                target_description=a.targetDescription,
                target_code=a.targetCode,
                target_framework=a.targetFramework,
            )
            for a in achievement.alignments
        ],
        rubric=rubric,
        passing_score=round(spec.rubric.max_points * spec.rubric.pass_rule.min_percent / 100, 2),
        version=spec.version,
        image=achievement.image,
    )


def results_input(grade: Grade) -> ResultsInput:
    return ResultsInput(
        criteria=[
            CriterionResultInput(criterion_id=_slug(c.id), level_id="not-yet" if c.level == NOT_YET else _slug(c.level))
            for c in grade.criteria
        ],
        total_score=grade.score,
    )


def subject_for(learner: str) -> SubjectIdentity:
    """A DID is named as is; an email or any other learner id is salted and hashed, never shown."""
    if learner.startswith("did:"):
        return SubjectIdentity.from_did(learner)
    if "@" in learner:
        return SubjectIdentity(identifier=hash_email(learner))
    salt = secrets.token_hex(16)
    digest = hashlib.sha256((learner + salt).encode()).hexdigest()
    return SubjectIdentity(
        identifier=IdentityObject(hashed=True, identityHash=f"sha256${digest}", identityType="identifier", salt=salt)
    )


def evidence_inputs(evidence: Evidence) -> list[EvidenceInput]:
    return [
        EvidenceInput(
            id=f"{evidence.repository}#commit={evidence.commit}",
            name="Graded repository, pinned to a commit",
            narrative=(
                f"Commit {evidence.commit} of {evidence.repository} was graded against assignment "
                f"{evidence.assignment_id} {evidence.assignment_version} (spec hash {evidence.spec_hash}) "
                f"in {evidence.mode} mode, runner image {evidence.image_id}, runtime {evidence.runtime}."
            ),
            genre="Source code",
        )
    ]


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
    base = settings.public_url.rstrip("/")
    status = BitstringStatusListEntry(
        id=f"{status_lists.list_url(settings.public_url, row.id)}#{index}",
        statusPurpose="revocation",
        statusListIndex=str(index),
        statusListCredential=status_lists.list_url(settings.public_url, row.id),
    )
    spec = request.spec
    unsigned = build_credential(
        issuer=Profile(id=keystore.issuer_id(), name=request.tenant.name, url=f"{base}/tenants/{request.tenant.slug}"),
        achievement=achievement_input(
            spec, f"{base}/tenants/{request.tenant.slug}/achievements/{spec.id}/{spec.version}"
        ),
        subject=subject_for(request.learner),
        results=results_input(request.grade),
        evidence=evidence_inputs(request.evidence),
        valid_from=now,
        valid_until=_valid_until(now, spec.credential.valid_for),
        status=status,
        credential_id=request.credential_id,
    )
    return sign_document(unsigned, keystore.signer()), row, index


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
    except IssuerUnavailable:
        return status_list.to_credential(tenant_did(settings, tenant.slug))
    signed = status_list.issue_credential(keystore.issuer_id(), keystore.signer())
    row.document = signed
    session.flush()
    return signed
