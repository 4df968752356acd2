"""Server-rendered pages (Jinja2, a little plain JavaScript, no build step) served by the API app.

One module per audience: `public` (credential, issuer, achievement pages and the verifier), `learner`
(sign-in, submit, progress, feedback) and `author` (assignments, checks, class results). They share
`rendering` (templates, static files, security headers) and `sessions` (signed cookies, CSRF).
`mount(app, settings)` adds them all to the FastAPI app.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from grader.config import Settings
from grader.http.web import pages, site
from grader.http.web.rendering import mount_static
from grader.http.web.sessions import install_sessions


def mount(app: FastAPI, settings: Settings) -> None:
    """Sessions, static files and every page router the web package has."""
    install_sessions(app, settings)
    mount_static(app)
    for router in page_routers():
        app.include_router(router)


def page_routers() -> list[APIRouter]:
    """The page routers; a page module that fails to import fails the app loudly."""
    return [site.router, *pages.ROUTERS]
