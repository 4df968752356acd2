"""Grade passback on a real SQLite store against a fake platform (httpx.MockTransport): a score
endpoint down for a while receives the score exactly once when it is back, every try is in the
audit log, only a changed grade is sent again, which attempt counts follows the spec, and refusals
end the row without more tries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from grader.core.policy import Scope
from grader.http import create_app
from grader.lti import passback
from grader.lti.passback import Outcome
from grader.lti.token import AGS_LINEITEM, AGS_SCORE, MemoryTokenCache
from grader.store import passbacks, tenancy
from grader.store.db import session_scope
from grader.store.models import LtiPassback, PassbackStatus, Submission, utcnow
from tests.unit.lti.lms_store import LINEITEMS_URL, FakePlatform, Placement, placement

ANN = "ann@example.org"


def record(p: Placement, submission: Submission) -> list[str]:
    with session_scope(p.factory) as session:
        row = session.get(Submission, submission.id)
        assert row is not None
        return [r.id for r in passback.record(session, p.settings, row)]


def send_round(p: Placement, passback_id: str, platform: FakePlatform, cache: MemoryTokenCache, tries: int) -> list[Outcome]:
    """What rq does with one job: up to `tries` tries, the last one final, stopping at the first that
    asks for no retry."""
    outcomes = []
    with platform.client() as http:
        for n in range(tries):
            result = passback.try_send(p.factory, p.settings, passback_id, http, cache, final=n == tries - 1)
            outcomes.append(result.outcome)
            if not result.retry:
                break
    return outcomes


def row_of(p: Placement, passback_id: str) -> LtiPassback:
    with session_scope(p.factory) as session:
        row = session.get(LtiPassback, passback_id)
        assert row is not None
        session.expunge(row)
        return row


def test_a_platform_down_for_a_while_gets_the_score_exactly_once(tmp_path: Path) -> None:
    p = placement(tmp_path)
    p.user(ANN, "lms-ann")
    graded = p.grade(ANN, 70)
    (passback_id,) = record(p, graded)
    platform, cache = FakePlatform(score_down=3), MemoryTokenCache()
    assert send_round(p, passback_id, platform, cache, tries=6) == [Outcome.RETRY] * 3 + [Outcome.DELIVERED]
    (score,) = platform.scores
    assert len(platform.posts) == 4
    assert score["userId"] == "lms-ann" and (score["scoreGiven"], score["scoreMaximum"]) == (70, 100)
    assert (score["activityProgress"], score["gradingProgress"]) == ("Completed", "FullyGraded")
    assert f"https://grader.example/learn/submissions/{graded.id}/feedback" in score["comment"]
    assert all(r.headers["content-type"] == "application/vnd.ims.lis.v1.score+json" for r in platform.posts)
    # The line item was made once for the placement, and one token served every try.
    (made,) = platform.lineitem_posts
    assert made["resourceLinkId"] == "link-1" and made["resourceId"] == "py-ledger" and made["scoreMaximum"] == 100
    assert platform.token_requests == 1 and score["lineitem"] == f"{LINEITEMS_URL}/1"
    # Any later try of the same row (a duplicate job, a late retry) sends nothing.
    assert send_round(p, passback_id, platform, cache, tries=2) == [Outcome.UNCHANGED]
    assert len(platform.posts) == 4 and len(platform.scores) == 1
    row = row_of(p, passback_id)
    assert row.status == PassbackStatus.DELIVERED and row.delivered_score_given == 70 and row.tries == 4
    assert row.lineitem_url == f"{LINEITEMS_URL}/1" and row.claimed_until is None
    with session_scope(p.factory) as session:
        audit = passbacks.tries_of(session, p.tenant_id, passback_id)
        assert [(t.try_number, t.outcome, t.status_code) for t in audit] == [
            (1, "retry", 503), (2, "retry", 503), (3, "retry", 503), (4, "delivered", 200)
        ]
        assert all("HTTP 503" in (t.error or "") for t in audit[:3]) and audit[3].error is None
        assert audit[0].request["lineitem"] == "created" and audit[3].request["url"] == f"{LINEITEMS_URL}/1/scores"
        assert "authorization" not in str(audit[0].request).lower()  # no token in the audit


def test_only_a_changed_grade_is_sent_again(tmp_path: Path) -> None:
    p = placement(tmp_path)
    p.user(ANN, "lms-ann")
    platform, cache = FakePlatform(), MemoryTokenCache()
    (passback_id,) = record(p, p.grade(ANN, 70))
    assert send_round(p, passback_id, platform, cache, 3) == [Outcome.DELIVERED]
    assert record(p, p.grade(ANN, 70)) == []  # the same score again: nothing to send
    assert record(p, p.grade(ANN, 40)) == []  # best counts (the default): 70 still stands
    assert record(p, p.grade(ANN, 90)) == [passback_id]
    assert send_round(p, passback_id, platform, cache, 3) == [Outcome.DELIVERED]
    assert [s["scoreGiven"] for s in platform.scores] == [70, 90]
    assert len(platform.lineitem_posts) == 1  # the line item found the first time is kept


def test_the_last_attempt_counts_when_the_spec_says_so(tmp_path: Path) -> None:
    p = placement(tmp_path)
    p.set_counts("last")
    p.user(ANN, "lms-ann")
    platform, cache = FakePlatform(), MemoryTokenCache()
    (passback_id,) = record(p, p.grade(ANN, 90))
    send_round(p, passback_id, platform, cache, 3)
    assert record(p, p.grade(ANN, 40)) == [passback_id]
    send_round(p, passback_id, platform, cache, 3)
    assert [s["scoreGiven"] for s in platform.scores] == [90, 40]


def test_a_score_back_to_the_delivered_one_before_it_left_sends_nothing(tmp_path: Path) -> None:
    p = placement(tmp_path)
    p.set_counts("last")
    p.user(ANN, "lms-ann")
    platform, cache = FakePlatform(), MemoryTokenCache()
    (passback_id,) = record(p, p.grade(ANN, 50))
    send_round(p, passback_id, platform, cache, 3)
    assert record(p, p.grade(ANN, 60)) == [passback_id]  # pending, not sent yet
    assert record(p, p.grade(ANN, 50)) == []  # the platform has 50 already
    assert send_round(p, passback_id, platform, cache, 3) == [Outcome.UNCHANGED]
    assert [s["scoreGiven"] for s in platform.scores] == [50]


def test_the_launch_line_item_is_used_as_given(tmp_path: Path) -> None:
    p = placement(tmp_path, lineitem_url=f"{LINEITEMS_URL}/42", scopes=[AGS_SCORE])
    p.user(ANN, "lms-ann")
    platform = FakePlatform()
    (passback_id,) = record(p, p.grade(ANN, 80))
    assert send_round(p, passback_id, platform, MemoryTokenCache(), 3) == [Outcome.DELIVERED]
    assert platform.lineitem_posts == [] and platform.scores[0]["lineitem"] == f"{LINEITEMS_URL}/42"


def test_a_refused_score_ends_the_row_until_a_new_grade(tmp_path: Path) -> None:
    p = placement(tmp_path, lineitem_url=f"{LINEITEMS_URL}/42")
    p.user(ANN, "lms-ann")
    refusing = FakePlatform(score_down=99, down_status=404)  # a user the platform does not know
    (passback_id,) = record(p, p.grade(ANN, 80))
    assert send_round(p, passback_id, refusing, MemoryTokenCache(), 5) == [Outcome.FAILED]
    assert row_of(p, passback_id).status == PassbackStatus.FAILED
    assert send_round(p, passback_id, FakePlatform(), MemoryTokenCache(), 2) == [Outcome.UNCHANGED]
    assert record(p, p.grade(ANN, 85)) == [passback_id]
    working = FakePlatform()
    assert send_round(p, passback_id, working, MemoryTokenCache(), 2) == [Outcome.DELIVERED]
    assert [s["scoreGiven"] for s in working.scores] == [85]


def test_a_course_without_the_score_scope_is_refused_with_the_reason(tmp_path: Path) -> None:
    p = placement(tmp_path, scopes=[AGS_LINEITEM])
    p.user(ANN, "lms-ann")
    platform = FakePlatform()
    (passback_id,) = record(p, p.grade(ANN, 80))
    assert send_round(p, passback_id, platform, MemoryTokenCache(), 3) == [Outcome.FAILED]
    assert platform.posts == [] and platform.token_requests == 0
    assert "score scope" in (row_of(p, passback_id).last_error or "")


def test_a_round_that_ends_with_the_platform_down_waits_for_the_next_round(tmp_path: Path) -> None:
    p = placement(tmp_path)
    p.user(ANN, "lms-ann")
    platform, cache = FakePlatform(score_down=10), MemoryTokenCache()
    (passback_id,) = record(p, p.grade(ANN, 75))
    assert send_round(p, passback_id, platform, cache, 2) == [Outcome.RETRY, Outcome.RETRY]
    row = row_of(p, passback_id)
    assert row.status == PassbackStatus.PENDING and row.next_attempt_at is not None
    with session_scope(p.factory) as session:
        assert passback_id not in [r.id for r in passbacks.due_passbacks(session, row.next_attempt_at)]
        later = row.next_attempt_at + passback.NEXT_ROUND
        assert passback_id in [r.id for r in passbacks.due_passbacks(session, later)]
    platform.score_down = 0
    assert send_round(p, passback_id, platform, cache, 2) == [Outcome.DELIVERED]
    assert len(platform.scores) == 1


def test_a_row_another_try_holds_is_not_sent_twice(tmp_path: Path) -> None:
    p = placement(tmp_path)
    p.user(ANN, "lms-ann")
    (passback_id,) = record(p, p.grade(ANN, 75))
    with session_scope(p.factory) as session:
        assert passbacks.claim(session, passback_id, utcnow(), passback.CLAIM_HOLD)
    platform = FakePlatform()
    with platform.client() as http:
        result = passback.try_send(p.factory, p.settings, passback_id, http, MemoryTokenCache(), final=False)
    assert result.outcome is Outcome.BUSY and result.retry and platform.posts == []


def test_a_learner_who_never_launched_has_no_passback(tmp_path: Path) -> None:
    p = placement(tmp_path)
    p.user(ANN, "lms-ann")
    assert record(p, p.grade("bo@example.org", 90)) == []
    assert record(p, p.grade(ANN, None, state="error")) == []  # no grade at all yet


def test_the_same_learner_in_two_placements_gets_one_row_each(tmp_path: Path) -> None:
    from grader.store import lti as lti_store
    from grader.store.models import LtiContext

    p = placement(tmp_path)
    p.user(ANN, "lms-ann")
    with session_scope(p.factory) as session:
        context = session.get(LtiContext, p.context_id)
        assert context is not None
        lti_store.upsert_resource_link(session, context, "link-2", assignment_id=p.assignment_id, title="Ledger again", lineitem_url=None)
    ids = record(p, p.grade(ANN, 88))
    assert len(set(ids)) == 2
    platform, cache = FakePlatform(), MemoryTokenCache()
    for passback_id in ids:
        assert send_round(p, passback_id, platform, cache, 2) == [Outcome.DELIVERED]
    assert sorted(s["lineitem"] for s in platform.scores) == [f"{LINEITEMS_URL}/1", f"{LINEITEMS_URL}/2"]
    assert platform.token_requests == 1


@pytest.mark.parametrize("counts", ["best", "last"])
def test_record_is_idempotent_while_pending(tmp_path: Path, counts: str) -> None:
    p = placement(tmp_path)
    p.set_counts(counts)
    p.user(ANN, "lms-ann")
    graded = p.grade(ANN, 66)
    first = record(p, graded)
    assert record(p, graded) == first  # a re-run grading job: the same row, the same revision
    assert row_of(p, first[0]).revision == 1


def test_a_line_item_found_for_one_learner_serves_the_placements_others(tmp_path: Path) -> None:
    p = placement(tmp_path)
    p.user(ANN, "lms-ann")
    p.user("bo@example.org", "lms-bo")
    platform, cache = FakePlatform(), MemoryTokenCache()
    (ann_row,) = record(p, p.grade(ANN, 80))
    send_round(p, ann_row, platform, cache, 2)
    assert (platform.lineitem_gets, len(platform.lineitem_posts)) == (1, 1)
    (bo_row,) = record(p, p.grade("bo@example.org", 60))
    assert send_round(p, bo_row, platform, cache, 2) == [Outcome.DELIVERED]
    assert (platform.lineitem_gets, len(platform.lineitem_posts)) == (1, 1)  # neither searched nor made again
    assert [(s["userId"], s["lineitem"]) for s in platform.scores] == [
        ("lms-ann", f"{LINEITEMS_URL}/1"), ("lms-bo", f"{LINEITEMS_URL}/1")
    ]


def test_the_api_shows_each_passback_with_its_audit(tmp_path: Path) -> None:
    p = placement(tmp_path)
    p.user(ANN, "lms-ann")
    (passback_id,) = record(p, p.grade(ANN, 77))
    send_round(p, passback_id, FakePlatform(score_down=1), MemoryTokenCache(), 3)
    with session_scope(p.factory) as session:
        key = tenancy.create_api_key(session, p.tenant_id, [Scope.AUTHOR])[1]
        stranger = tenancy.create_tenant(session, "stranger", "Stranger")
        other = tenancy.create_api_key(session, stranger.id, [Scope.ADMIN])[1]
    with TestClient(create_app(p.settings)) as client:
        answer = client.get("/api/v1/assignments/py-ledger/passbacks", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
        (entry,) = answer.json()
        assert (entry["learner"], entry["lms_user_id"], entry["resource_link_id"]) == (ANN, "lms-ann", "link-1")
        assert (entry["status"], entry["score_given"], entry["delivered_score_given"], entry["tries"]) == (
            "delivered", 77, 77, 2
        )
        assert [(t["outcome"], t["status_code"]) for t in entry["audit"]] == [("retry", 503), ("delivered", 200)]
        assert entry["audit"][1]["request"]["userId"] == "lms-ann"
        foreign = client.get("/api/v1/assignments/py-ledger/passbacks", headers={"Authorization": f"Bearer {other}"})
        assert foreign.status_code == 404


def test_a_queue_that_is_down_leaves_the_passback_pending_for_the_reconciler(tmp_path: Path) -> None:
    from grader.jobs import passback as passback_jobs
    from grader.jobs.context import Context
    from grader.jobs.queue import connect, make_queue
    from tests.unit.fakes import RecordedMetrics

    p = placement(tmp_path)
    p.user(ANN, "lms-ann")
    graded = p.grade(ANN, 81)
    redis = connect(p.settings.redis_url)  # nothing listens there
    ctx = Context(settings=p.settings, factory=p.factory, redis=redis, queue=make_queue(p.settings, redis),
                  metrics=RecordedMetrics())
    assert passback_jobs.record_passbacks(ctx, graded.id) == []
    with session_scope(p.factory) as session:
        (row,) = passbacks.passbacks_of_assignment(session, p.tenant_id, p.assignment_id)
        assert row.status == PassbackStatus.PENDING and row.job_id is None and row.score_given == 81
        assert [r.id for r in passbacks.due_passbacks(session, utcnow() + timedelta(seconds=1))] == [row.id]


def test_a_platform_on_a_private_address_is_refused_by_the_outbound_guard_for_good(tmp_path: Path) -> None:
    from grader.lti.outbound import platform_client
    from grader.store.models import LtiRegistration

    p = placement(tmp_path, lineitem_url="https://10.20.30.40/lineitems/1")
    p.user(ANN, "lms-ann")
    with session_scope(p.factory) as session:
        registration = session.get(LtiRegistration, p.registration_id)
        assert registration is not None
        registration.token_url = "https://10.20.30.40/token"
    (passback_id,) = record(p, p.grade(ANN, 80))
    with platform_client(p.settings) as http:
        result = passback.try_send(p.factory, p.settings, passback_id, http, MemoryTokenCache(), final=False)
    assert result.outcome is Outcome.FAILED and "refused by rule 'private'" in result.detail
    assert row_of(p, passback_id).status == PassbackStatus.FAILED


def test_a_row_a_concurrent_grading_job_made_first_is_taken_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = placement(tmp_path)
    p.user(ANN, "lms-ann")
    (passback_id,) = record(p, p.grade(ANN, 70))
    real = passbacks.passback_for
    calls: list[int] = []

    def missed_once(session: Any, link_id: str, user_id: str) -> LtiPassback | None:
        calls.append(1)  # the first look misses the row, as a job racing the one that inserted it would
        return None if len(calls) == 1 else real(session, link_id, user_id)

    monkeypatch.setattr(passbacks, "passback_for", missed_once)
    assert record(p, p.grade(ANN, 90)) == [passback_id]
    row = row_of(p, passback_id)
    assert (row.revision, row.score_given, row.status) == (2, 90, PassbackStatus.PENDING)


def test_a_failed_passback_can_be_sent_again_from_the_api(tmp_path: Path) -> None:
    p = placement(tmp_path, lineitem_url=f"{LINEITEMS_URL}/42")
    p.user(ANN, "lms-ann")
    (passback_id,) = record(p, p.grade(ANN, 80))
    assert send_round(p, passback_id, FakePlatform(score_down=9, down_status=403), MemoryTokenCache(), 3) == [
        Outcome.FAILED
    ]
    with session_scope(p.factory) as session:
        key = tenancy.create_api_key(session, p.tenant_id, [Scope.AUTHOR])[1]
        stranger = tenancy.create_tenant(session, "elsewhere", "Elsewhere")
        other = tenancy.create_api_key(session, stranger.id, [Scope.ADMIN])[1]
    path = f"/api/v1/assignments/py-ledger/passbacks/{passback_id}/retry"
    with TestClient(create_app(p.settings)) as client:
        assert client.post(path, headers={"Authorization": f"Bearer {other}"}).status_code == 404
        again = client.post(path, headers={"Authorization": f"Bearer {key}"})
        assert again.status_code == 202, again.text  # Redis is down here: the reconciler would enqueue it
        assert (again.json()["status"], again.json()["tries"]) == ("pending", 0)
        working = FakePlatform()
        assert send_round(p, passback_id, working, MemoryTokenCache(), 2) == [Outcome.DELIVERED]
        assert [s["scoreGiven"] for s in working.scores] == [80]
        delivered = client.post(path, headers={"Authorization": f"Bearer {key}"})
        assert delivered.status_code == 409 and "only a changed grade" in delivered.json()["detail"]
