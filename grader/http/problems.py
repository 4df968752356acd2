"""RFC 9457 problem documents: every error the API returns is one, with a clear `detail`."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from grader.core.errors import FaultKind, GraderFault, disposition, fault_detail, problem_code

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class FieldError(BaseModel):
    """One invalid input: where it is (`location`, e.g. body.repo_url) and what was expected."""

    location: str
    message: str
    file: str | None = None


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        title: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        self.errors = errors
        self.headers = headers or {}


def problem_type(code: str) -> str:
    return f"/problems/{code}" if code else "about:blank"


def problem_response(
    status: int,
    code: str,
    detail: str,
    instance: str | None,
    title: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    problem = Problem(
        type=problem_type(code),
        title=title or _TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=instance,
        errors=errors,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


SYSTEM_RETRY_AFTER_S = 30


def fault_problem(exc: GraderFault, errors: list[FieldError] | None = None) -> ProblemError:
    """The problem document for a fault, by grader.core.errors' one mapping: a learner's or an author's fault
    is a 422 with the fault's own code, a fault of the system a 503 the client may retry."""
    outcome = disposition(exc)
    headers = {"Retry-After": str(SYSTEM_RETRY_AFTER_S)} if outcome.kind is FaultKind.SYSTEM else None
    return ProblemError(
        outcome.http_status, problem_code(exc), fault_detail(exc), title=outcome.title, errors=errors, headers=headers
    )


# Errors that say the database cannot answer now (locked past the request's wait, unreachable, its pool
# exhausted), as opposed to a bug: answered 503 with a short Retry-After.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,
)
DATABASE_RETRY_AFTER_S = 2


def database_unavailable() -> ProblemError:
    return ProblemError(
        503,
        "database-unavailable",
        "the store could not answer in time (locked or unreachable) and this request's changes were rolled "
        "back: send it again after the time in Retry-After",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )


def not_found(what: str, ident: str) -> ProblemError:
    # The same answer whether the row is absent or belongs to another tenant: nothing leaks.
    return ProblemError(404, "not-found", f"no {what} {ident!r} here")


def validation_errors(exc: RequestValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    for err in exc.errors():
        location = ".".join(str(part) for part in err.get("loc", ()))
        errors.append(FieldError(location=location or "(request)", message=str(err.get("msg", "invalid"))))
    return errors


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.status, exc.code, exc.detail, request.url.path, exc.title, exc.errors, exc.headers)

    async def on_fault(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GraderFault)
        if disposition(exc).kind is FaultKind.SYSTEM:
            log.warning("fault of the system on %s %s: %s", request.method, request.url.path, fault_detail(exc))
        return await on_problem(request, fault_problem(exc))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc)
        summary = "; ".join(f"{e.location}: {e.message}" for e in errors[:5])
        return problem_response(
            422, "invalid-request", f"the request is not valid: {summary}", request.url.path, errors=errors
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        headers: dict[str, Any] = dict(exc.headers or {})
        return problem_response(exc.status_code, "", detail, request.url.path, headers=headers)

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        # A lock held past the request's wait, a dropped connection, a full pool: the database's state,
        # not the request's fault. Whatever the request had begun was rolled back with its session.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return await on_problem(request, database_unavailable())

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500, "internal", "the server failed to answer this request; it has been logged", request.url.path
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(GraderFault, on_fault)  # a fault raised anywhere in a request, by its kind
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for database_error in DATABASE_UNAVAILABLE:
        app.add_exception_handler(database_error, on_database)
    app.add_exception_handler(Exception, on_crash)
