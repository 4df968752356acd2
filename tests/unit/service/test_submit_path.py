"""The submit path's answers: a new submission is answered from what the request wrote (no read after the
commit), and that answer is what a later GET shows; a replay and the list show the same; the row names
its job before any enqueue (Redis is not running here)."""

from __future__ import annotations

from sqlalchemy import select

from grader.jobs.queue import grade_job_id
from grader.store.db import engine_for, session_factory, session_scope
from grader.store.models import Submission, SubmissionEvent
from tests.unit.service.test_api import LEDGER, Api, api, folder_files, submission

__all__ = ["api"]


def test_the_answer_to_a_new_submission_is_what_get_and_list_show(api: Api) -> None:
    key = api.tenant("acme")
    assert api.publish(key, folder_files(LEDGER, {"submission": {"cooldown_s": 0}})).status_code == 202
    made = [
        api.call("POST", "/api/v1/submissions", key, json=submission(learner=f"l{i}@example.org"), headers={"Idempotency-Key": f"k{i}"})
        for i in range(3)
    ]
    assert [m.status_code for m in made] == [201, 201, 201]
    for answer in made:
        assert answer.headers["Location"] == f"/api/v1/submissions/{answer.json()['id']}"
        shown = api.call("GET", answer.headers["Location"], key)
        assert shown.status_code == 200 and shown.json() == answer.json()
        assert answer.json()["assignment"] == "py-ledger" and answer.json()["version"] == "1.0.0"
        assert answer.json()["attempt"] == 1 and answer.json()["state"] == "queued"
    replay = api.call("POST", "/api/v1/submissions", key, json=submission(learner="l0@example.org"), headers={"Idempotency-Key": "k0"})
    assert replay.status_code == 200 and replay.json() == made[0].json()
    listed = api.call("GET", "/api/v1/submissions", key).json()["items"]
    assert sorted(listed, key=lambda s: s["id"]) == sorted((m.json() for m in made), key=lambda s: s["id"])

    factory = session_factory(engine_for(api.settings.resolved_database_url()))
    with session_scope(factory) as session:
        for answer in made:
            row = session.get(Submission, answer.json()["id"])
            assert row is not None and row.job_id == grade_job_id(row.id, 1) and row.request_hash
            events = session.scalars(select(SubmissionEvent).where(SubmissionEvent.submission_id == row.id)).all()
            assert [(e.state, e.status) for e in events] == [("queued", "accepted")]


def test_the_event_stream_checks_the_owner_and_ends_for_a_finished_submission(api: Api) -> None:
    key = api.tenant("acme")
    other = api.tenant("globex")
    assert api.publish(key, folder_files(LEDGER, {"submission": {"cooldown_s": 0}})).status_code == 202
    made = api.call("POST", "/api/v1/submissions", key, json=submission()).json()
    assert api.call("GET", f"/api/v1/submissions/{made['id']}/events", other).status_code == 404
    factory = session_factory(engine_for(api.settings.resolved_database_url()))
    with session_scope(factory) as session:  # finished, so the stream ends after the history
        row = session.get(Submission, made["id"])
        assert row is not None
        row.state = "rejected"
    stream = api.call("GET", f"/api/v1/submissions/{made['id']}/events", key)
    assert stream.status_code == 200
    assert "event: state" in stream.text and "event: end" in stream.text
