"""What the learner's and author's pages share beyond rendering: redirects after a POST (303), one-shot
messages carried to the next page, and the way a refused request (a ProblemError) is told in a page."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse

from grader.http.problems import ProblemError

_FLASH = "flash"


def see_other(url: str) -> RedirectResponse:
    """The answer to a POST that worked: 303, so a reload does not send the form again."""
    return RedirectResponse(url, status_code=303)


def redirect(url: str, detail: str = "see the other page") -> HTTPException:
    """Raise from anywhere in a page to answer 303 to `url` (e.g. a visitor who is not signed in)."""
    return HTTPException(status_code=303, detail=detail, headers={"Location": url})


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session[_FLASH] = {"message": message, "kind": kind}


def take_flash(request: Request) -> dict[str, Any] | None:
    found = request.session.pop(_FLASH, None)
    return found if isinstance(found, dict) else None


def problem_text(problem: ProblemError) -> str:
    """A refusal in a sentence: the problem's detail, which names the rule (the API says the same)."""
    detail = problem.detail.rstrip(".")
    return detail[:1].upper() + detail[1:] + "."
