"""The store on SQLite (the one-machine default). tests/integration/test_service_store.py runs these
same tests on PostgreSQL by overriding the `store_url` fixture."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from credentials.status import MIN_BITS, read_status
from grader.core.policy import Scope
from grader.core.spec import load_assignment
from grader.issuing import status_lists
from grader.notify.webhooks import emit
from grader.store import catalog, submissions, tenancy
from grader.store.archive import pack_folder, sha256
from grader.store.db import downgrade, make_engine, session_factory, session_scope, upgrade
from grader.store.models import (
    ApiKey,
    Base,
    CredentialRecord,
    GradeRecord,
    StatusList,
    Submission,
    SubmissionState,
    Tenant,
    WebhookEndpoint,
)

LEDGER = Path(__file__).resolve().parents[3] / "assignments" / "py-ledger"
ATTEMPTS = itertools.count(1)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'grader.db'}"


@pytest.fixture(scope="module")
def factory(store_url: str) -> sessionmaker[Session]:
    upgrade(store_url)
    return session_factory(make_engine(store_url))


@pytest.fixture(scope="module")
def ledger_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    data = pack_folder(LEDGER)
    return data, sha256(data)


def tenant(session: Session) -> Tenant:
    return tenancy.create_tenant(session, f"t-{uuid.uuid4().hex[:10]}", "Test")


def published(session: Session, tenant_id: str, archive: tuple[bytes, str]) -> catalog.PublishResult:
    loaded = load_assignment(LEDGER)
    return catalog.publish_version(session, tenant_id, loaded, "spec", archive[0], archive[1])


def submission(session: Session, result: catalog.PublishResult, learner: str = "ann", key: str | None = None) -> Submission:
    row = Submission(
        tenant_id=result.assignment.tenant_id,
        assignment_id=result.assignment.id,
        assignment_version_id=result.version.id,
        learner=learner,
        repo_url="https://example.org/r.git",
        attempt=next(ATTEMPTS),  # unique per learner and assignment (uq_submissions_attempt)
        idempotency_key=key,
        request_hash="h",
    )
    inserted = submissions.insert_submission(session, row)
    assert inserted is not None
    return inserted


def test_migrations_match_the_models_and_go_down_and_up(store_url: str, factory: sessionmaker[Session]) -> None:
    engine = make_engine(store_url)
    with engine.connect() as connection:
        assert (
            compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata) == []
        )
    downgrade(store_url, "base")
    assert set(inspect(make_engine(store_url)).get_table_names()) <= {"alembic_version"}
    upgrade(store_url)
    assert {"tenants", "submissions", "grades", "credentials", "webhook_deliveries"} <= set(
        inspect(make_engine(store_url)).get_table_names()
    )


def test_api_keys_are_stored_hashed_and_checked(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        owner = tenant(session)
        key, raw = tenancy.create_api_key(session, owner.id, [Scope.SUBMIT], "lms")
        key_id = key.id
    with session_scope(factory) as session:
        stored = session.get(ApiKey, key_id)
        assert stored is not None and raw.split("_", 2)[2] not in stored.secret_hash
        found = tenancy.authenticate(session, raw)
        assert found is not None and found.id == key_id and found.scopes == ["submit"]
        assert tenancy.authenticate(session, raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
        assert tenancy.authenticate(session, "gk_nope_nope") is None
        assert tenancy.authenticate(session, "not a key") is None
        stored.revoked_at = datetime.now(UTC)
    with session_scope(factory) as session:
        assert tenancy.authenticate(session, raw) is None


def test_versions_are_immutable_and_round_trip(
    factory: sessionmaker[Session], ledger_archive: tuple[bytes, str], tmp_path: Path
) -> None:
    with session_scope(factory) as session:
        owner = tenant(session)
        first = published(session, owner.id, ledger_archive)
        assert first.created
        again = published(session, owner.id, ledger_archive)
        assert not again.created and again.version.id == first.version.id
        changed = load_assignment(LEDGER).model_copy(update={"spec_hash": "sha256:" + "0" * 64})
        with pytest.raises(catalog.VersionConflict, match="new version"):
            catalog.publish_version(session, owner.id, changed, "spec", b"x", "x")
        version = first.version
    loaded = catalog.loaded_version(version, tmp_path / "cache")
    assert loaded.spec_hash == version.spec_hash == load_assignment(LEDGER).spec_hash
    assert not (loaded.root / "solutions" / "reference").exists() or loaded.root.is_relative_to(tmp_path)


def test_idempotency_key_is_unique_per_tenant(
    factory: sessionmaker[Session], ledger_archive: tuple[bytes, str]
) -> None:
    with session_scope(factory) as session:
        result = published(session, tenant(session).id, ledger_archive)
        first = submission(session, result, key="k-1")
        duplicate = Submission(
            tenant_id=first.tenant_id,
            assignment_id=first.assignment_id,
            assignment_version_id=first.assignment_version_id,
            learner="ann",
            repo_url="https://example.org/r.git",
            attempt=first.attempt + 1,
            idempotency_key="k-1",
            request_hash="h",
        )
        session.commit()
        assert submissions.insert_submission(session, duplicate) is None
        found = submissions.submission_by_key(session, first.tenant_id, "k-1")
        assert found is not None and found.id == first.id
    with session_scope(factory) as session:  # the same key in another tenant is another submission
        other = published(session, tenant(session).id, ledger_archive)
        assert submission(session, other, key="k-1").id != first.id


def test_one_grade_per_run_and_one_credential_per_submission(
    factory: sessionmaker[Session], ledger_archive: tuple[bytes, str]
) -> None:
    with session_scope(factory) as session:
        result = published(session, tenant(session).id, ledger_archive)
        sub = submission(session, result)
        ids = {"tenant_id": sub.tenant_id, "submission_id": sub.id, "assignment_version_id": result.version.id}
        common = {"score": 1.0, "max_score": 2.0, "percent": 50.0, "passed": False, "tampered": False}
        grade = GradeRecord(**ids, run=1, **common, grade={}, evidence={}, timings={})
        session.add(grade)
        session.flush()
        grade_id = grade.id
        session.commit()
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(GradeRecord(**ids, run=1, **common, grade={}, evidence={}, timings={}))
        session.add(GradeRecord(**ids, run=2, **common, grade={}, evidence={}, timings={}))  # a regrade's run
        session.flush()
        doc = {"id": f"urn:uuid:{uuid.uuid4()}"}
        session.add(
            CredentialRecord(
                tenant_id=sub.tenant_id, submission_id=sub.id, grade_id=grade_id, credential_id=doc["id"], document=doc
            )
        )
        session.commit()
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(
                CredentialRecord(
                    tenant_id=sub.tenant_id,
                    submission_id=sub.id,
                    grade_id=grade_id,
                    credential_id=f"urn:uuid:{uuid.uuid4()}",
                    document={},
                )
            )


def test_history_events_and_stuck_submissions(
    factory: sessionmaker[Session], ledger_archive: tuple[bytes, str]
) -> None:
    with session_scope(factory) as session:
        result = published(session, tenant(session).id, ledger_archive)
        sub = submission(session, result)
        submissions.record_event(session, sub, SubmissionState.FETCHING, "fetch", "start", "")
        submissions.record_event(session, sub, SubmissionState.GRADED, "", "done", "passed")
        events = submissions.events_after(session, sub.tenant_id, sub.id, 0)
        assert [e.state for e in events] == ["queued", "fetching", "graded"]
        assert submissions.events_after(session, sub.tenant_id, sub.id, events[1].id)[0].state == "graded"
        assert submissions.events_after(session, "another-tenant", sub.id, 0) == []
        assert sub.finished_at is not None and sub.finished_at.tzinfo is not None
        open_one = submission(session, result, learner="bob")
        open_one.updated_at = datetime.now(UTC) - timedelta(hours=1)
        session.flush()
        stuck = {s.id for s in submissions.stuck_submissions(session, datetime.now(UTC) - timedelta(minutes=5))}
        assert open_one.id in stuck and sub.id not in stuck


def test_learner_history_counts(factory: sessionmaker[Session], ledger_archive: tuple[bytes, str]) -> None:
    with session_scope(factory) as session:
        result = published(session, tenant(session).id, ledger_archive)
        for _ in range(3):
            submission(session, result, learner="cara")
        submission(session, result, learner="dan")
        now = datetime.now(UTC)
        history = submissions.learner_history(session, result.assignment.tenant_id, result.assignment.id, "cara", now)
        assert history.attempts_used == 3 and history.learner_last_hour == 3 and history.tenant_last_minute == 4
        assert history.last_submitted_at is not None and now - history.last_submitted_at < timedelta(minutes=1)


def test_queries_never_cross_tenants(factory: sessionmaker[Session], ledger_archive: tuple[bytes, str]) -> None:
    with session_scope(factory) as session:
        mine = published(session, tenant(session).id, ledger_archive)
        theirs = tenant(session)
        sub = submission(session, mine, key="shared-key")
        assert submissions.get_submission(session, mine.assignment.tenant_id, sub.id) is not None
        assert submissions.get_submission(session, theirs.id, sub.id) is None
        assert submissions.submission_by_key(session, theirs.id, "shared-key") is None
        assert catalog.assignment_by_slug(session, theirs.id, "py-ledger") is None


def test_status_list_allocation_and_revocation(factory: sessionmaker[Session]) -> None:
    base = "https://grader.example"
    with session_scope(factory) as session:
        owner = tenant(session)
        first_list, first = status_lists.allocate_index(session, owner.id, base)
        second_list, second = status_lists.allocate_index(session, owner.id, base)
        assert first_list.id == second_list.id and first != second  # random, never reused
        assert first_list.size >= MIN_BITS and first_list.allocated_count == 2
        status_lists.revoke(session, first_list, second, base)
        list_id = first_list.id
    with session_scope(factory) as session:
        row = session.get(StatusList, list_id)
        assert row is not None
        assert status_lists.is_revoked(row, second, base) and not status_lists.is_revoked(row, first, base)
        published = status_lists.load(row, base).to_credential("did:web:grader.example")
        assert published["id"] == status_lists.list_url(base, list_id)
        entry = {
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(second),
            "statusListCredential": published["id"],
        }
        assert read_status(published, entry).state == "set"
        assert read_status(published, {**entry, "statusListIndex": str(first)}).state == "ok"


def test_webhook_events_are_queued_once_per_endpoint(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        owner = tenant(session)
        graded = WebhookEndpoint(
            tenant_id=owner.id, url="https://lms.example/h", secret="s" * 20, events=["submission.graded"]
        )
        revoked = WebhookEndpoint(
            tenant_id=owner.id, url="https://lms.example/r", secret="s" * 20, events=["credential.revoked"]
        )
        off = WebhookEndpoint(
            tenant_id=owner.id, url="https://x", secret="s" * 20, events=["submission.graded"], active=False
        )
        session.add_all([graded, revoked, off])
        session.flush()
        made = emit(session, owner.id, "submission.graded", "evt-1", {"score": 1})
        assert [d.endpoint_id for d in made] == [graded.id]
        assert made[0].payload["type"] == "submission.graded" and made[0].payload["data"] == {"score": 1}
        made[0].status = "delivered"
        assert emit(session, owner.id, "submission.graded", "evt-1", {"score": 1}) == []
        assert emit(session, "someone-else", "submission.graded", "evt-2", {}) == []


def test_datetimes_come_back_in_utc(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        owner = tenant(session)
        owner_id = owner.id
    with session_scope(factory) as session:
        row = session.get(Tenant, owner_id)
        assert row is not None and row.created_at.tzinfo is not None
        assert abs(row.created_at - datetime.now(UTC)) < timedelta(minutes=1)
        assert session.scalar(select(Tenant.id).where(Tenant.id == owner_id)) == owner_id
        assert session.execute(text("SELECT 1")).scalar() == 1
