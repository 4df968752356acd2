"""The pages every visitor shares: the home page and signing out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from grader.http.web.rendering import render
from grader.http.web.sessions import check_csrf, sign_out

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "home.html")


@router.post("/sign-out")
def sign_out_page(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> RedirectResponse:
    check_csrf(request, csrf_token)
    sign_out(request)
    return RedirectResponse("/", status_code=303)
