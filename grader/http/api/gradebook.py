"""An assignment's gradebook: one row per learner (LMS user id where known, best and latest score, the
counted score, attempts, passed, late, credential), as CSV or JSON (grader.core.gradebook)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from grader.core.gradebook import to_csv, to_json
from grader.http.deps import AuthorCaller, SessionDep
from grader.http.problems import not_found
from grader.store import catalog
from grader.store.gradebook import gradebook

router = APIRouter(prefix="/api/v1/assignments", tags=["assignments"])

CSV_MEDIA = "text/csv; charset=utf-8"
JSON_MEDIA = "application/json"


def gradebook_response(slug: str, text: str, fmt: str) -> Response:
    """The export as a download (`<assignment>-gradebook.csv|json`), never cached, never sniffed."""
    return Response(
        text,
        media_type=CSV_MEDIA if fmt == "csv" else JSON_MEDIA,
        headers={
            "Content-Disposition": f'attachment; filename="{slug}-gradebook.{fmt}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/{assignment_id}/gradebook",
    response_class=Response,
    responses={200: {"content": {CSV_MEDIA: {}, JSON_MEDIA: {}}, "description": "The gradebook"}},
)
def get_gradebook(
    assignment_id: str,
    session: SessionDep,
    who: AuthorCaller,
    format: Annotated[Literal["csv", "json"], Query(description="csv or json")] = "json",
) -> Response:
    """One row per learner who submitted: `learner`, `lms_user_id` (the LMS user id of their last launch,
    when they came from one), `attempts`, `best_score`, `best_percent`, `max_score`, `latest_score`,
    `latest_percent`, `latest_state`, `counts` (best or last, from the spec) and `score` (the counted
    one, what LMS passback sends), `passed`, `late` (the counted attempt came after the due date),
    `credential_id` and `credential_revoked`."""
    assignment = catalog.assignment_by_slug(session, who.tenant_id, assignment_id)
    if assignment is None:
        raise not_found("assignment", assignment_id)
    counts, rows = gradebook(session, who.tenant_id, assignment)
    text = to_csv(rows) if format == "csv" else to_json(assignment.slug, counts, rows)
    return gradebook_response(assignment.slug, text, format)
