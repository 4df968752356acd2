"""Every error is an RFC 9457 problem document with a clear detail (validation, 401, 403, 404, 405, 500)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from grader.http.problems import PROBLEM_MEDIA_TYPE, ProblemError, install


class Item(BaseModel):
    name: str
    count: int


def make_app() -> FastAPI:
    app = FastAPI()
    install(app)

    @app.post("/items")
    def create(item: Item) -> Item:
        return item

    @app.get("/conflict")
    def conflict() -> None:
        raise ProblemError(409, "version-exists", "1.0.0 exists with other content", headers={"X-Why": "immutable"})

    @app.get("/limited")
    def limited() -> None:
        raise ProblemError(429, "cooldown", "wait 15 s", title="Too soon", headers={"Retry-After": "15"})

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("secret internals")

    return app


client = TestClient(make_app(), raise_server_exceptions=False)


def test_validation_error_lists_each_field() -> None:
    answer = client.post("/items", json={"name": 3})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = answer.json()
    assert problem["type"] == "/problems/invalid-request" and problem["status"] == 422
    locations = {e["location"] for e in problem["errors"]}
    assert locations == {"body.name", "body.count"}
    assert "body.count" in problem["detail"]
    assert problem["instance"] == "/items"


def test_problem_error_carries_type_title_and_headers() -> None:
    answer = client.get("/conflict")
    assert answer.status_code == 409 and answer.headers["x-why"] == "immutable"
    assert answer.json() == {
        "type": "/problems/version-exists",
        "title": "Conflict",
        "status": 409,
        "detail": "1.0.0 exists with other content",
        "instance": "/conflict",
    }
    limited = client.get("/limited")
    assert limited.headers["retry-after"] == "15" and limited.json()["title"] == "Too soon"


def test_unknown_route_and_wrong_method_are_problems() -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert "GET /nowhere" in missing.json()["detail"]
    wrong = client.delete("/items")
    assert wrong.status_code == 405 and "DELETE" in wrong.json()["detail"]


def test_a_crash_is_a_500_problem_that_hides_internals() -> None:
    answer = client.get("/crash")
    assert answer.status_code == 500 and answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert "secret internals" not in answer.text
    assert answer.json()["title"] == "Internal server error"
