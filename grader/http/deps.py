"""What every route needs: the app's services, a database session, and the caller's API key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated

import anyio
from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from grader.core.policy import Scope, has_any_scope
from grader.http.problems import ProblemError
from grader.jobs.services import Services
from grader.store import tenancy
from grader.store.admission import request_engine
from grader.store.db import session_factory


@dataclass(frozen=True)
class Caller:
    """The authenticated key: every query the route makes is filtered by `tenant_id`."""

    key_id: str
    tenant_id: str
    scopes: frozenset[str]


def for_requests(service: Services) -> Services:
    """The services the API's requests use: the same queue, and a store engine whose every wait for a
    database lock ends after `request_db_wait_s` (the request answers 503 with Retry-After then), so a
    locked database never holds the API's threads for the workers' 30 s."""
    settings = service.settings
    engine = request_engine(settings.resolved_database_url(), settings.request_db_wait_s)
    return replace(service, factory=session_factory(engine))


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def db(request: Request) -> AsyncIterator[Session]:
    """A session for the request. Opening one does no I/O, so it happens on the loop; closing one that
    still holds a connection rolls it back, a database call, so that runs on a pool thread. (A plain
    generator dependency would cost two pool-thread hops on every request.)"""
    session = services(request).factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            await anyio.to_thread.run_sync(session.close)
        else:
            session.close()


async def _services(request: Request) -> Services:
    # A coroutine: FastAPI runs a plain function dependency on a pool thread, one hop per request for nothing.
    return services(request)


ServicesDep = Annotated[Services, Depends(_services)]
SessionDep = Annotated[Session, Depends(db)]


def _raw_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def caller(
    session: SessionDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Caller:
    raw = _raw_key(authorization, x_api_key)
    if raw is None:
        raise ProblemError(
            401,
            "unauthenticated",
            "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            headers={"WWW-Authenticate": 'Bearer realm="grader"'},
        )
    key = tenancy.authenticate(session, raw)
    if key is None:
        raise ProblemError(
            401,
            "unauthenticated",
            "the API key is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer realm="grader", error="invalid_token"'},
        )
    return Caller(key_id=key.id, tenant_id=key.tenant_id, scopes=frozenset(key.scopes))


def require(*scopes: Scope) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the caller's key must hold one of `scopes` (admin holds them all)."""

    async def check(who: Annotated[Caller, Depends(caller)]) -> Caller:  # pure: on the loop, no pool thread
        if not has_any_scope(who.scopes, scopes):
            wanted = " or ".join(s.value for s in scopes)
            raise ProblemError(403, "insufficient-scope", f"this API key lacks the scope this needs ({wanted})")
        return who

    return check


SubmitCaller = Annotated[Caller, Depends(require(Scope.SUBMIT, Scope.AUTHOR))]
SubmitOnly = Annotated[Caller, Depends(require(Scope.SUBMIT))]
AuthorCaller = Annotated[Caller, Depends(require(Scope.AUTHOR))]
AdminCaller = Annotated[Caller, Depends(require(Scope.ADMIN))]
