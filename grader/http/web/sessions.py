"""Sessions and CSRF for the pages: a signed, HttpOnly, SameSite=Lax cookie (Secure when the public URL
is https) holding who is signed in, and a per-session CSRF token every form posts back.

A page never holds an API key. Who is signed in is a tenant and either a learner (email) or an author
(an author- or admin-scoped key was exchanged for the session once); every page query filters by that
tenant exactly as the API does.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel
from starlette.middleware.sessions import SessionMiddleware

from grader.config import Settings, session_secret

CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "grader_session"


class SignedIn(BaseModel):
    tenant_id: str
    tenant_slug: str
    role: str  # "learner" or "author"
    learner: str | None = None  # the learner's email, for role learner
    key_id: str | None = None  # the key exchanged for an author session
    lti_user_id: str | None = None  # an LMS launch opened the session (lti_users.id)
    lti_context_id: str | None = None  # the course it came from (lti_contexts.id), for the roster link


def install_sessions(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie=SESSION_COOKIE,
        same_site="lax",
        https_only=settings.public_url.startswith("https://"),
        max_age=8 * 3600,
    )


def csrf_token(request: Request) -> str:
    session: dict[str, Any] = request.session
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    """Raises HTTPException(403) unless `submitted` is this session's token."""
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(expected, str) or not submitted or not hmac.compare_digest(expected, submitted):
        raise HTTPException(status_code=403, detail="the form's CSRF token is missing or wrong; reload the page")


def signed_in(request: Request) -> SignedIn | None:
    raw = request.session.get("who")
    if not isinstance(raw, dict):
        return None
    try:
        return SignedIn.model_validate(raw)
    except ValueError:
        return None


def sign_in(request: Request, who: SignedIn) -> None:
    # A new session on every sign-in: a token planted before it (session fixation) is worth nothing.
    request.session.clear()
    request.session["who"] = who.model_dump()
    csrf_token(request)


def sign_out(request: Request) -> None:
    request.session.clear()
