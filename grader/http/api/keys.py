"""Proof of ownership for learners: their claim token of an assignment, and the public keys they sign
commits with (`submission.ownership: claim | signed`, docs/authenticity.md).

A key with the submit scope acts for the learners of its tenant (as it does when it submits for them);
the learner pages use the same functions for the learner who is signed in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from grader.config import Settings, claim_secret
from grader.core.ownership import KeyProblem, OwnershipMethod, claim_token, parse_public_key
from grader.core.spec import AssignmentSpec
from grader.http.deps import ServicesDep, SessionDep, SubmitOnly
from grader.http.problems import FieldError, ProblemError, not_found
from grader.store import authenticity, catalog
from grader.store.models import LearnerKey, Tenant

router = APIRouter(prefix="/api/v1/ownership", tags=["ownership"])
Learner = Annotated[str, Query(min_length=1, max_length=320, description="The learner's id (as in submissions)")]


class ClaimTokenOut(BaseModel):
    assignment: str
    learner: str
    method: OwnershipMethod = Field(description="What the assignment's latest version asks: none, claim or signed")
    claim_file: str = Field(description="The file in the repository that must hold the token")
    token: str


class KeyIn(BaseModel):
    learner: str = Field(min_length=1, max_length=320)
    public_key: str = Field(min_length=1, max_length=16_384, description="An SSH public key line or an armored OpenPGP key")
    label: str = Field(default="", max_length=200)


class KeyOut(BaseModel):
    id: str
    learner: str
    kind: str
    fingerprint: str
    label: str
    created_at: datetime


def key_out(row: LearnerKey) -> KeyOut:
    return KeyOut(
        id=row.id, learner=row.learner, kind=row.kind, fingerprint=row.fingerprint, label=row.label, created_at=row.created_at
    )


def claim_for(session: Session, settings: Settings, tenant_id: str, learner: str, slug: str) -> ClaimTokenOut:
    """The learner's claim token for an assignment of the tenant. Raises ProblemError 404 when there is
    no such assignment (or no version of it)."""
    assignment = catalog.assignment_by_slug(session, tenant_id, slug)
    version = catalog.pick_version(session, assignment, None) if assignment is not None else None
    tenant = session.get(Tenant, tenant_id)
    if assignment is None or version is None or tenant is None:
        raise not_found("assignment", slug)
    policy = AssignmentSpec.model_validate(version.spec).submission
    return ClaimTokenOut(
        assignment=assignment.slug,
        learner=learner,
        method=policy.ownership,
        claim_file=policy.claim_file,
        token=claim_token(claim_secret(settings), tenant.slug, assignment.slug, learner),
    )


def register_key(session: Session, tenant_id: str, learner: str, text: str, label: str) -> tuple[LearnerKey, bool]:
    """Register a public key for the learner. Raises ProblemError 422 naming what is wrong with the key."""
    try:
        key = parse_public_key(text)
        return authenticity.add_key(session, tenant_id, learner, key, label.strip())
    except (KeyProblem, authenticity.TooManyKeys) as exc:
        raise ProblemError(
            422, "key-refused", str(exc), errors=[FieldError(location="body.public_key", message=str(exc))]
        ) from exc


@router.get("/claim-token", response_model=ClaimTokenOut)
def get_claim_token(
    session: SessionDep,
    services: ServicesDep,
    who: SubmitOnly,
    learner: Learner,
    assignment: Annotated[str, Query(min_length=1, max_length=64)],
) -> ClaimTokenOut:
    """The learner's claim token for the assignment: commit it in `claim_file` when `method` is claim."""
    return claim_for(session, services.settings, who.tenant_id, learner, assignment)


@router.get("/keys", response_model=list[KeyOut])
def list_keys(session: SessionDep, who: SubmitOnly, learner: Learner) -> list[KeyOut]:
    return [key_out(k) for k in authenticity.learner_keys(session, who.tenant_id, learner)]


@router.post("/keys", status_code=201, response_model=KeyOut, responses={200: {"model": KeyOut}})
def add_key(body: KeyIn, response: Response, session: SessionDep, who: SubmitOnly) -> KeyOut:
    """Register an SSH or OpenPGP public key; registering the same key again answers 200 with it."""
    row, new = register_key(session, who.tenant_id, body.learner, body.public_key, body.label)
    session.commit()
    if not new:
        response.status_code = 200
    return key_out(row)


@router.delete("/keys/{key_id}", status_code=204)
def delete_key(key_id: str, session: SessionDep, who: SubmitOnly, learner: Learner) -> Response:
    if not authenticity.remove_key(session, who.tenant_id, learner, key_id):
        raise not_found("key", key_id)
    session.commit()
    return Response(status_code=204)
