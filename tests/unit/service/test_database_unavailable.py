"""A database that cannot be reached (nothing listens at its address): every request that needs it is
answered 503 with Retry-After and a problem document, never a 500 or a traceback; /healthz still answers."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from grader.config import Settings
from grader.http import create_app


def test_an_unreachable_database_is_a_503_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        database_url="postgresql://grader:grader@127.0.0.1:1/grader",  # nothing listens on port 1
        redis_url="redis://127.0.0.1:1/0",
        allowed_hosts=["git.example"],
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        body = {"assignment": "py-ledger", "learner": "ann@example.org", "repo_url": "https://git.example/a/r.git"}
        answers = [
            client.post("/api/v1/submissions", json=body, headers={"Authorization": "Bearer gk_abc_def"}),
            client.get("/api/v1/submissions", headers={"Authorization": "Bearer gk_abc_def"}),
            client.get("/api/v1/assignments", headers={"X-API-Key": "gk_abc_def"}),
        ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["type"] == "/problems/database-unavailable"
        assert int(answer.headers["Retry-After"]) >= 1
        assert "Traceback" not in answer.text
