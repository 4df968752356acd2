"""The FastAPI application: `/api/v1`, its OpenAPI document, health, readiness and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from grader.config import Settings, get_settings
from grader.http import problems, web
from grader.http.api import admin, assignments, credentials, gradebook, keys, lti, review, submissions
from grader.http.deps import for_requests
from grader.http.metrics import ServiceCollector
from grader.http.problems import PROBLEM_MEDIA_TYPE, Problem
from grader.http.schemas import Health
from grader.jobs.services import build_services

PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": description}
    for status, description in (
        (401, "No or unknown API key"),
        (403, "The key lacks the scope"),
        (404, "Not found (or another tenant's)"),
        (409, "Conflicts with the current state"),
        (422, "Invalid request"),
        (429, "Rate limited; see Retry-After"),
    )
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    service = for_requests(build_services(settings))
    registry = CollectorRegistry()
    registry.register(ServiceCollector(service.queue))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.redis.close()

    app = FastAPI(
        title="Grader API",
        version="1.0.0",
        description="Submit learners' repositories for grading, follow progress, read feedback, and issue, "
        "verify and revoke Open Badges 3.0 credentials. Errors are RFC 9457 problem documents.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
    )
    app.state.services = service
    problems.install(app)
    for router in (
        submissions.router,
        assignments.router,
        credentials.router,
        credentials.public,
        admin.router,
        lti.router,
        gradebook.router,
        keys.router,
        review.router,
    ):
        app.include_router(router)
    web.mount(app, settings)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        """Liveness: the process answers. On the event loop itself, not the thread pool, so it answers
        even while every worker thread waits on the database."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["health"], responses={503: {"model": Health}})
    def readyz() -> Response:
        """Readiness: the store and Redis answer."""
        checks: dict[str, str] = {}
        try:
            with service.factory() as session:
                session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except SQLAlchemyError as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        try:
            service.redis.ping()
            checks["redis"] = "ok"
        except RedisError as exc:
            checks["redis"] = f"unavailable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        body = Health(status="ok" if ready else "unavailable", checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"], responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
