"""Templates and static files for the pages, and the one way a page is rendered.

Every page extends `base.html` (landmarks, skip link, one stylesheet, no external requests: no CDN, no
web fonts) and is rendered with autoescaping on. `wants_html` is the content negotiation rule shared by
every URL that has both a page and a document: a browser (Accept prefers text/html) gets the page,
anything asking for JSON or JSON-LD gets the document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).resolve().parent
STATIC_URL = "/static"
_ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def mount_static(app: FastAPI) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="static")


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page `template` with `context`, plus what every page needs (the request, the CSRF token)."""
    from grader.http.web.sessions import csrf_token, signed_in

    page = _ENV.get_template(template).render(
        request=request, csrf_token=csrf_token(request), who=signed_in(request), static=STATIC_URL, **context
    )
    response = HTMLResponse(page, status_code=status_code)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def wants_html(request: Request) -> bool:
    """Whether the client prefers a page to a document: text/html ranked above every JSON type."""
    best_html, best_json = 0.0, 0.0
    for part in request.headers.get("accept", "").split(","):
        media, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.strip().lower()
        if media in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, quality)
        elif media in ("application/json", "application/ld+json") or media.endswith("+json"):
            best_json = max(best_json, quality)
    return best_html > best_json
