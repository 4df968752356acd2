"""The gradebook export: rows from plain attempt facts (best and last, which counts, attempts, passed,
late, credential), the same rows from a real SQLite store with LMS user ids from launches, as CSV and
JSON, from the API, the author page and `grader gradebook`."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from grader.cli.main import app as cli
from grader.core.gradebook import (
    AttemptFact,
    Counts,
    RosterEntry,
    counted_attempt,
    gradebook_rows,
    to_csv,
    to_json,
    with_roster,
)
from grader.core.policy import Scope
from grader.http import create_app
from grader.lti import nrps
from grader.store import tenancy
from grader.store.db import session_scope
from grader.store.gradebook import gradebook
from grader.store.models import Assignment, LtiRegistration, Tenant
from tests.unit.lti.lms_store import FakePlatform, Placement, placement

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"

START = datetime(2026, 10, 1, tzinfo=UTC)


def fact(learner: str, attempt: int, percent: float | None, **extra: object) -> AttemptFact:
    values: dict[str, object] = {
        "learner": learner,
        "submission_id": f"{learner}-{attempt}",
        "attempt": attempt,
        "submitted_at": START + timedelta(hours=attempt),
        "state": "graded" if percent is not None else "error",
    }
    if percent is not None:
        values.update(score=percent / 2, max_score=50.0, percent=percent, passed=percent >= 80)
    values.update(extra)
    return AttemptFact.model_validate(values)


def test_best_is_the_earliest_highest_and_last_the_latest_graded() -> None:
    facts = [fact("a", 2, 90), fact("a", 1, 90), fact("a", 3, 60), fact("a", 4, None)]
    best, last = counted_attempt(facts, Counts.BEST), counted_attempt(facts, Counts.LAST)
    assert best is not None and best.attempt == 1  # an equal later attempt does not displace it
    assert last is not None and last.attempt == 3  # the error after it has no grade
    assert counted_attempt([fact("a", 1, None)], Counts.BEST) is None


def test_rows_per_learner_with_which_attempt_counts() -> None:
    facts = [
        fact("bo", 1, 95, late=True, credential_id="c-old", credential_revoked=True, credential_issued_at=START),
        fact("bo", 2, 70, credential_id="c-new", credential_issued_at=START + timedelta(days=1)),
        fact("ann", 1, 40),
        fact("ann", 2, None),
        fact("cy", 1, None),
    ]
    best = {r.learner: r for r in gradebook_rows(facts, Counts.BEST, {"bo": "lms-bo"})}
    assert list(best) == ["ann", "bo", "cy"]
    bo = best["bo"]
    assert (bo.attempts, bo.best_percent, bo.best_score, bo.latest_percent, bo.latest_score) == (2, 95, 47.5, 70, 35)
    assert (bo.score, bo.passed, bo.late, bo.lms_user_id) == (47.5, True, True, "lms-bo")
    assert (bo.credential_id, bo.credential_revoked) == ("c-new", False)  # a valid one over a revoked one
    ann = best["ann"]
    assert (ann.attempts, ann.latest_state, ann.passed, ann.lms_user_id, ann.credential_id) == (1, "error", False, None, None)
    cy = best["cy"]
    assert (cy.attempts, cy.score, cy.best_percent, cy.late) == (0, None, None, False)
    last = {r.learner: r for r in gradebook_rows(facts, Counts.LAST)}
    assert (last["bo"].score, last["bo"].late, last["bo"].counts) == (35, False, Counts.LAST)


def test_csv_cells_a_spreadsheet_would_run_are_quoted_and_json_keeps_numbers() -> None:
    rows = gradebook_rows([fact("=cmd@example.org", 1, 85), fact("ann", 1, None)], Counts.BEST)
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert table[0]["learner"] == "'=cmd@example.org" and table[0]["score"] == "42.5" and table[0]["passed"] == "yes"
    assert table[1]["score"] == "" and table[1]["passed"] == "no" and table[1]["late"] == "no"
    document = json.loads(to_json("py-ledger", Counts.BEST, rows))
    assert document["assignment"] == "py-ledger" and document["counts"] == "best"
    assert document["rows"][0]["learner"] == "=cmd@example.org" and document["rows"][0]["score"] == 42.5
    assert document["rows"][1]["score"] is None


def class_of(p: Placement) -> None:
    """ann launched from the LMS (three attempts, the middle one the best, the last one late); bo
    did not (one failing attempt); cy's only attempt errored."""
    p.user("ann@example.org", "lms-ann-7")
    p.grade("ann@example.org", 40)
    p.grade("ann@example.org", 92, credential=True)
    p.grade("ann@example.org", 70, late=True)
    p.grade("bo@example.org", 30)
    p.grade("cy@example.org", None, state="error")


def test_rows_from_a_real_store(tmp_path: Path) -> None:
    p = placement(tmp_path)
    class_of(p)
    with session_scope(p.factory) as session:
        assignment = session.get(Assignment, p.assignment_id)
        assert assignment is not None
        counts, rows = gradebook(session, p.tenant_id, assignment)
    assert counts is Counts.BEST
    by = {r.learner: r for r in rows}
    ann = by["ann@example.org"]
    assert (ann.lms_user_id, ann.attempts, ann.best_score, ann.latest_score, ann.score) == ("lms-ann-7", 3, 92, 70, 92)
    assert ann.passed and not ann.late and ann.credential_id and ann.credential_revoked is False
    assert by["bo@example.org"].lms_user_id is None and by["bo@example.org"].passed is False
    assert by["cy@example.org"].attempts == 0
    p.set_counts("last")
    with session_scope(p.factory) as session:
        assignment = session.get(Assignment, p.assignment_id)
        assert assignment is not None
        counts, rows = gradebook(session, p.tenant_id, assignment)
    ann = next(r for r in rows if r.learner == "ann@example.org")
    assert counts is Counts.LAST and ann.score == 70 and ann.late


def api_key(p: Placement, scope: Scope) -> str:
    with session_scope(p.factory) as session:
        return tenancy.create_api_key(session, p.tenant_id, [scope])[1]


def test_the_api_serves_csv_and_json_to_authors_of_the_tenant(tmp_path: Path) -> None:
    p = placement(tmp_path)
    class_of(p)
    author = api_key(p, Scope.AUTHOR)
    with session_scope(p.factory) as session:
        other = tenancy.create_tenant(session, f"o-{uuid.uuid4().hex[:6]}", "Other")
        other_key = tenancy.create_api_key(session, other.id, [Scope.ADMIN])[1]
    with TestClient(create_app(p.settings)) as client:
        path = "/api/v1/assignments/py-ledger/gradebook"
        as_csv = client.get(path, params={"format": "csv"}, headers={"Authorization": f"Bearer {author}"})
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        assert 'filename="py-ledger-gradebook.csv"' in as_csv.headers["content-disposition"]
        table = {r["learner"]: r for r in csv.DictReader(io.StringIO(as_csv.text))}
        assert table["ann@example.org"]["lms_user_id"] == "lms-ann-7" and table["ann@example.org"]["score"] == "92"
        as_json = client.get(path, headers={"Authorization": f"Bearer {author}"})
        assert as_json.status_code == 200 and as_json.json()["counts"] == "best"
        assert {r["learner"] for r in as_json.json()["rows"]} == set(table)
        bad = client.get(path, params={"format": "xlsx"}, headers={"Authorization": f"Bearer {author}"})
        assert bad.status_code == 422 and "format" in bad.text
        assert client.get(path, headers={"Authorization": f"Bearer {other_key}"}).status_code == 404
        submit_only = api_key(p, Scope.SUBMIT)
        assert client.get(path, headers={"Authorization": f"Bearer {submit_only}"}).status_code == 403
        assert client.get(path).status_code == 401


def test_the_author_page_downloads_json_too(tmp_path: Path) -> None:
    p = placement(tmp_path)
    class_of(p)
    key = api_key(p, Scope.AUTHOR)
    # The pages' cookies are Secure under an https public URL; the test client speaks http.
    with TestClient(create_app(p.settings.model_copy(update={"public_url": "http://testserver"}))) as client:
        page = client.get("/author/sign-in")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = client.post("/author/sign-in", data={"csrf_token": token, "api_key": key}, follow_redirects=True)
        assert signed.status_code == 200
        assignment = client.get("/author/assignments/py-ledger")
        assert "/author/assignments/py-ledger/gradebook.json" in assignment.text
        download = client.get("/author/assignments/py-ledger/gradebook.json")
        assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
        rows = {r["learner"]: r for r in download.json()["rows"]}
        assert rows["ann@example.org"]["lms_user_id"] == "lms-ann-7" and rows["ann@example.org"]["best_score"] == 92
        assert client.get("/author/assignments/py-ledger/gradebook.xlsx").status_code == 404
        with session_scope(p.factory) as session:  # the LMS on a private address: its roster is left out
            registration = session.get(LtiRegistration, p.registration_id)
            assert registration is not None
            registration.token_url = "https://10.20.30.40/token"
        with_roster_csv = client.get("/author/assignments/py-ledger/gradebook.csv", params={"roster": "true"})
        assert with_roster_csv.status_code == 200
        assert {r["learner"] for r in csv.DictReader(io.StringIO(with_roster_csv.text))} == set(rows)


def test_the_cli_writes_the_gradebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = placement(tmp_path)
    class_of(p)
    with session_scope(p.factory) as session:
        tenant = session.get(Tenant, p.tenant_id)
        assert tenant is not None
        slug = tenant.slug
    monkeypatch.setenv("GRADER_HOME", str(tmp_path))
    runner = CliRunner()
    shown = runner.invoke(cli, ["gradebook", "py-ledger", "--tenant", slug])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("learner,attempts,best_score") and "lms-ann-7" in shown.stdout
    target = tmp_path / "out.json"
    written = runner.invoke(cli, ["gradebook", "py-ledger", "-t", slug, "--format", "json", "-o", str(target)])
    assert written.exit_code == 0, written.output
    assert {r["learner"] for r in json.loads(target.read_text())["rows"]} == {"ann@example.org", "bo@example.org", "cy@example.org"}
    missing = runner.invoke(cli, ["gradebook", "no-such", "-t", slug])
    assert missing.exit_code == 2 and "no assignment 'no-such'" in missing.output
    assert runner.invoke(cli, ["gradebook", "py-ledger", "-t", "nobody"]).exit_code == 2


def test_roster_members_without_a_submission_get_an_empty_row() -> None:
    rows = gradebook_rows([fact("ann@example.org", 1, 90)], Counts.BEST, {"ann@example.org": "lms-ann"})
    entries = [
        RosterEntry(lms_user_id="lms-ann", learner="ann@example.org"),  # has a row already
        RosterEntry(lms_user_id="lms-bo", email="bo@example.org"),  # never launched: named by email
        RosterEntry(lms_user_id="lms-cy", learner="cy@example.org"),  # launched, never submitted
        RosterEntry(lms_user_id="lms-dee"),  # nothing but the id
    ]
    merged = with_roster(rows, entries, Counts.BEST)
    assert [(r.learner, r.lms_user_id, r.attempts) for r in merged] == [
        ("ann@example.org", "lms-ann", 1),
        ("bo@example.org", "lms-bo", 0),
        ("cy@example.org", "lms-cy", 0),
        ("lms:lms-dee", "lms-dee", 0),
    ]
    assert merged[1].score is None and not merged[1].passed and merged[1].credential_id is None


def test_the_gradebook_roster_comes_from_the_courses_the_assignment_is_placed_in(tmp_path: Path) -> None:
    p = placement(tmp_path)
    class_of(p)  # ann launched as lms-ann-7 and submitted
    p.user("cy@example.org", "lms-cy")  # launched, no submission of this assignment... cy has an errored one
    members = [
        {"user_id": "lms-ann-7", "name": "Ann", "roles": [LEARNER]},
        {"user_id": "lms-dan", "name": "Dan", "email": "dan@example.org", "roles": [LEARNER]},
        {"user_id": "lms-gone", "name": "Gone", "roles": [LEARNER], "status": "Inactive"},
        {"user_id": "lms-teacher", "name": "Teacher", "roles": [INSTRUCTOR]},
    ]
    platform = FakePlatform(members=members)
    with session_scope(p.factory) as session, platform.client() as http:
        entries, problems = nrps.gradebook_roster(session, p.tenant_id, p.assignment_id, settings=p.settings, http=http)
        assignment = session.get(Assignment, p.assignment_id)
        assert assignment is not None
        counts, rows = gradebook(session, p.tenant_id, assignment)
    assert problems == [] and [e.lms_user_id for e in entries] == ["lms-ann-7", "lms-dan"]
    merged = {r.learner: r for r in with_roster(rows, entries, counts)}
    assert set(merged) == {"ann@example.org", "bo@example.org", "cy@example.org", "dan@example.org"}
    assert merged["dan@example.org"].attempts == 0 and merged["dan@example.org"].lms_user_id == "lms-dan"
    broken = FakePlatform(members=members)
    broken.handler = lambda request: httpx.Response(500, text="down")  # type: ignore[method-assign]
    with session_scope(p.factory) as session, broken.client() as http:
        entries, problems = nrps.gradebook_roster(session, p.tenant_id, p.assignment_id, settings=p.settings, http=http)
    assert entries == [] and len(problems) == 1 and "Course 7" in problems[0]


def test_the_api_names_a_roster_it_could_not_read(tmp_path: Path) -> None:
    p = placement(tmp_path)
    class_of(p)
    with session_scope(p.factory) as session:  # a private address: the outbound guard refuses it at once
        registration = session.get(LtiRegistration, p.registration_id)
        assert registration is not None
        registration.token_url = "https://10.20.30.40/token"
    author = api_key(p, Scope.AUTHOR)
    with TestClient(create_app(p.settings)) as client:
        answer = client.get(
            "/api/v1/assignments/py-ledger/gradebook",
            params={"roster": "true"},
            headers={"Authorization": f"Bearer {author}"},
        )
    assert answer.status_code == 200 and answer.headers["x-roster-problems"] == "1"
    document = answer.json()
    (problem,) = document["roster_problems"]
    assert "Course 7" in problem and "refused by rule 'private'" in problem
    assert len(document["rows"]) == 3  # the store's learners are all there
