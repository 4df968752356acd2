"""Authenticity on the pages: the author's review queue (flags, the matching regions side by side,
approve or reject with a reason), and the learner's ownership proof for an assignment (their claim
token, their registered signing keys) and the state of a held credential.

The pages call the same functions as the API (grader.http.api.review, grader.http.api.keys), so a
decision or a key registered here is the one the API would have made.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from grader.config import Settings
from grader.core.ownership import OwnershipMethod
from grader.core.review import ReviewState, learner_message
from grader.core.similarity import Region, SourceFile, Span
from grader.http.api.keys import claim_for, key_out, register_key
from grader.http.api.review import MatchOut, apply_decision, own_review, review_detail, review_out
from grader.http.deps import SessionDep, services
from grader.http.problems import ProblemError
from grader.http.web.author import _author
from grader.http.web.forms import flash, problem_text, redirect, see_other, take_flash
from grader.http.web.rendering import render
from grader.http.web.sessions import SignedIn, check_csrf, signed_in
from grader.store import authenticity
from grader.store.models import Submission

router = APIRouter(include_in_schema=False)
MAX_SHOWN_LINES = 400  # per file in the side-by-side view; longer files are cut, and say so


# The author's review queue ---------------------------------------------------------------------------


@router.get("/author/reviews", response_class=HTMLResponse)
def review_queue(request: Request, session: SessionDep, state: str = "pending") -> HTMLResponse:
    author = _author(request, session)
    chosen = ReviewState(state) if state in {s.value for s in ReviewState} else ReviewState.PENDING
    rows = authenticity.reviews_page(session, author.tenant_id, chosen, 0, 200)
    return render(
        request,
        "review/queue.html",
        reviews=[review_out(session, r) for r in rows],
        state=chosen.value,
        states=[s.value for s in ReviewState],
        flash=take_flash(request),
    )


def _lines(file: SourceFile | None, spans: list[Span]) -> dict[str, Any]:
    """A file's lines for the view, each marked when a span covers it."""
    if file is None:
        return {"path": "", "lines": [], "cut": False}
    marked = {n for s in spans for n in range(s.start, s.end + 1)}
    text = file.text.splitlines()
    shown = [{"no": i, "text": line, "match": i in marked} for i, line in enumerate(text[:MAX_SHOWN_LINES], start=1)]
    return {"path": file.path, "lines": shown, "cut": len(text) > MAX_SHOWN_LINES}


def side_by_side(this: list[SourceFile], match: MatchOut) -> list[dict[str, Any]]:
    """For each region of a match: this submission's file and the other's, with the shared lines marked."""
    mine = {f.path: f for f in this}
    theirs = {f.path: f for f in (match.other.files if match.other else [])}
    pairs = []
    for region in match.match.regions:
        pairs.append(_pair(region, mine.get(region.left_path), theirs.get(region.right_path)))
    return pairs


def _pair(region: Region, left: SourceFile | None, right: SourceFile | None) -> dict[str, Any]:
    return {"left": _lines(left, region.left), "right": _lines(right, region.right)}


@router.get("/author/reviews/{review_id}", response_class=HTMLResponse)
def review_page(review_id: str, request: Request, session: SessionDep, status_code: int = 200, error: str | None = None) -> HTMLResponse:
    author = _author(request, session)
    detail = review_detail(session, own_review(session, author.tenant_id, review_id))
    this = detail.this.files if detail.this else []
    return render(
        request,
        "review/review.html",
        status_code,
        review=detail,
        matches=[{"match": m, "pairs": side_by_side(this, m)} for m in detail.matches],
        error=error,
        flash=take_flash(request),
    )


@router.post("/author/reviews/{review_id}/decision", response_model=None)
def decide(
    review_id: str,
    request: Request,
    session: SessionDep,
    decision: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    author = _author(request, session)
    review = own_review(session, author.tenant_id, review_id)
    if decision not in ("approve", "reject"):
        return review_page(review_id, request, session, 422, "Choose approve or reject.")
    try:
        outcome = apply_decision(
            session, services(request), review, decision == "approve", reason, f"page:{author.caller().key_id}"
        )
    except ProblemError as refused:
        session.rollback()
        return review_page(review_id, request, session, refused.status, problem_text(refused))
    flash(request, outcome.detail[:1].upper() + outcome.detail[1:] + ".")
    return see_other(f"/author/reviews/{review_id}")


# The learner's ownership proof ---------------------------------------------------------------------------


def _learner(request: Request) -> SignedIn:
    who = signed_in(request)
    if who is None or who.role != "learner" or not who.learner:
        raise redirect("/learn/sign-in", "sign in first")
    return who


def ownership_context(session: Session, settings: Settings, who: SignedIn, slug: str, method: OwnershipMethod) -> dict[str, Any]:
    """What the learner's assignment page shows of the assignment's ownership proof: the claim token and
    its file, or the learner's registered keys (with the form to add one)."""
    assert who.learner is not None
    if method is OwnershipMethod.CLAIM:
        return {"method": method.value, "claim": claim_for(session, settings, who.tenant_id, who.learner, slug)}
    if method is OwnershipMethod.SIGNED:
        keys = [key_out(k) for k in authenticity.learner_keys(session, who.tenant_id, who.learner)]
        return {"method": method.value, "keys": keys, "slug": slug}
    return {"method": method.value}


def review_status(session: Session, submission: Submission) -> str | None:
    """What the learner is told of a held credential (None when it never waited for review)."""
    review = authenticity.review_of_submission(session, submission.tenant_id, submission.id)
    if review is None:
        return None
    return learner_message(ReviewState(review.state), review.reason)


@router.post("/learn/keys", response_model=None)
def add_key(
    request: Request,
    session: SessionDep,
    public_key: Annotated[str, Form(max_length=16_384)] = "",
    label: Annotated[str, Form(max_length=200)] = "",
    back: Annotated[str, Form(max_length=64, pattern=r"^[a-z0-9-]*$")] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    who = _learner(request)
    assert who.learner is not None
    try:
        row, new = register_key(session, who.tenant_id, who.learner, public_key, label)
        session.commit()
        flash(request, f"Key {row.fingerprint} {'registered' if new else 'was already registered'}.")
    except ProblemError as refused:
        session.rollback()
        flash(request, "That key was not registered: " + problem_text(refused), "bad")
    return see_other(f"/learn/assignments/{back}" if back else "/learn")


@router.post("/learn/keys/{key_id}/delete", response_model=None)
def delete_key(
    key_id: str,
    request: Request,
    session: SessionDep,
    back: Annotated[str, Form(max_length=64, pattern=r"^[a-z0-9-]*$")] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    who = _learner(request)
    assert who.learner is not None
    removed = authenticity.remove_key(session, who.tenant_id, who.learner, key_id)
    session.commit()
    flash(request, "Key removed." if removed else "No such key of yours.", "ok" if removed else "bad")
    return see_other(f"/learn/assignments/{back}" if back else "/learn")
