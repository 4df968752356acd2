"""The submission policy under concurrency, on SQLite (tests/integration/test_policy_races_postgres.py
runs the same tests on PostgreSQL by overriding `store_url`): many requests of one learner at once are
admitted as the policy allows and no more, with unique attempt numbers, through the API's own path
(grader.http.api.submissions.submit, its engine and its admission lock)."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.exc import IntegrityError

from grader.config import Settings
from grader.core.spec import load_assignment
from grader.http.api.submissions import submit
from grader.http.deps import for_requests
from grader.http.problems import ProblemError
from grader.http.schemas import SubmissionCreate
from grader.jobs.services import Services, build_services
from grader.store import catalog, tenancy
from grader.store.archive import pack_folder, sha256
from grader.store.db import normalize_url, session_scope, upgrade
from grader.store.models import Submission
from tests.conftest import LEDGER_DIR

CONCURRENT = 30


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('races') / 'grader.db'}"


@pytest.fixture(scope="module")
def services(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    upgrade(store_url)
    settings = Settings(
        home=tmp_path_factory.mktemp("home"),
        database_url=store_url,
        redis_url="redis://127.0.0.1:1/0",  # nothing listens: the reconciler would enqueue later
        allowed_hosts=["git.example"],
        # Generous: this test is about what is admitted, not about a lock wait running out under load.
        request_db_wait_s=30,
        learner_submissions_per_hour=1000,
        tenant_submissions_per_minute=1000,
    )
    built = for_requests(build_services(settings))
    yield built
    built.redis.close()


@dataclass
class Published:
    tenant_id: str
    slug: str


def publish(services: Services, tmp_path: Path, policy: dict[str, Any], per_minute: int | None = None) -> Published:
    folder = tmp_path / "assignment"
    shutil.copytree(LEDGER_DIR, folder, ignore=shutil.ignore_patterns("solutions", "__pycache__"))
    spec = yaml.safe_load((folder / "assignment.yaml").read_text())
    spec["submission"] = {**spec.get("submission", {}), "due": None, **policy}
    spec["submission"] = {k: v for k, v in spec["submission"].items() if v is not None}
    (folder / "assignment.yaml").write_text(yaml.safe_dump(spec))
    loaded = load_assignment(folder)
    archive = pack_folder(folder)
    with session_scope(services.factory) as session:
        tenant = tenancy.create_tenant(session, f"r-{uuid.uuid4().hex[:10]}", "Races")
        tenant.submissions_per_minute = per_minute
        result = catalog.publish_version(session, tenant.id, loaded, "", archive, sha256(archive))
        catalog.settle_check(result.version, None, [])
        return Published(tenant.id, loaded.spec.id)


Outcome = tuple[int, str, int | None]  # status, problem code (or ""), attempt


def at_once(services: Services, published: Published, learner: Callable[[int], str]) -> list[Outcome]:
    """CONCURRENT submissions released together, each on its own thread and session, as the API's threads are."""
    barrier = threading.Barrier(CONCURRENT)
    outcomes: list[Outcome] = []
    guard = threading.Lock()

    def one(index: int) -> None:
        body = SubmissionCreate(
            assignment=published.slug, learner=learner(index), repo_url=f"https://git.example/l/r{index}.git"
        )
        barrier.wait()
        with services.factory() as session:
            try:
                made, replayed = submit(session, services, published.tenant_id, body)
                result: Outcome = (200 if replayed else 201, "", made.attempt)
            except ProblemError as refused:
                result = (refused.status, refused.code, None)
        with guard:
            outcomes.append(result)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == CONCURRENT
    return outcomes


def stored_attempts(services: Services, published: Published) -> list[tuple[str, int]]:
    with session_scope(services.factory) as session:
        rows = session.execute(
            select(Submission.learner, Submission.attempt).where(Submission.tenant_id == published.tenant_id)
        ).all()
        return sorted((learner, attempt) for learner, attempt in rows)


def test_a_cooldown_admits_exactly_one_of_many_concurrent_submissions(services: Services, tmp_path: Path) -> None:
    published = publish(services, tmp_path, {"cooldown_s": 60, "max_attempts": None})
    outcomes = at_once(services, published, lambda _: "ann@example.org")
    accepted = [o for o in outcomes if o[0] == 201]
    assert len(accepted) == 1, outcomes
    assert accepted[0][2] == 1
    assert sorted({(status, code) for status, code, _ in outcomes if status != 201}) == [(429, "cooldown")]
    assert stored_attempts(services, published) == [("ann@example.org", 1)]


def test_an_attempt_limit_admits_exactly_that_many_numbered_one_to_n(services: Services, tmp_path: Path) -> None:
    published = publish(services, tmp_path, {"cooldown_s": 0, "max_attempts": 3})
    outcomes = at_once(services, published, lambda _: "bea@example.org")
    assert sorted(a for status, _, a in outcomes if status == 201 and a is not None) == [1, 2, 3], outcomes
    assert {(status, code) for status, code, _ in outcomes if status != 201} == {(409, "attempts-exhausted")}
    assert stored_attempts(services, published) == [("bea@example.org", n) for n in (1, 2, 3)]


def test_a_tenant_rate_limit_holds_across_learners(services: Services, tmp_path: Path) -> None:
    published = publish(services, tmp_path, {"cooldown_s": 0, "max_attempts": None}, per_minute=5)
    outcomes = at_once(services, published, lambda i: f"learner-{i}@example.org")
    assert sum(1 for status, _, _ in outcomes if status == 201) == 5, outcomes
    assert {(status, code) for status, code, _ in outcomes if status != 201} == {(429, "rate-limited")}
    assert len(stored_attempts(services, published)) == 5


def test_the_database_refuses_a_repeated_attempt_number(services: Services, tmp_path: Path) -> None:
    """The backstop under the lock: whatever path inserts a row, one learner's number is never given twice."""
    published = publish(services, tmp_path, {"cooldown_s": 0, "max_attempts": None})
    with session_scope(services.factory) as session:
        version = catalog.pick_version(session, catalog.assignment_by_slug(session, published.tenant_id, published.slug), None)  # type: ignore[arg-type]
        assert version is not None
        for _ in range(2):
            session.add(
                Submission(
                    tenant_id=published.tenant_id,
                    assignment_id=version.assignment_id,
                    assignment_version_id=version.id,
                    learner="cy@example.org",
                    repo_url="https://git.example/c/r.git",
                    attempt=1,
                    request_hash="h",
                )
            )
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


@contextmanager
def store_locked(url: str) -> Iterator[None]:
    """Another connection holding the whole store: SQLite's write lock, or PostgreSQL's lock on the table."""
    if url.startswith("sqlite"):
        holder = sqlite3.connect(url.split("///", 1)[1], isolation_level=None, timeout=30)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_engine(normalize_url(url))
    with engine.connect() as connection:
        connection.exec_driver_sql("LOCK TABLE submissions IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            connection.rollback()
    engine.dispose()


def test_a_locked_store_is_refused_at_once_with_nothing_written(services: Services, tmp_path: Path) -> None:
    published = publish(services, tmp_path, {"cooldown_s": 0, "max_attempts": None})
    settings = services.settings.model_copy(update={"request_db_wait_s": 0.5})
    impatient = for_requests(build_services(settings))
    body = SubmissionCreate(assignment=published.slug, learner="dee@example.org", repo_url="https://git.example/d/r.git")
    with (
        store_locked(services.settings.resolved_database_url()),
        impatient.factory() as session,
        pytest.raises(ProblemError) as refused,
    ):
        submit(session, impatient, published.tenant_id, body, "locked-key")
    assert refused.value.status == 503 and refused.value.code == "database-busy"
    assert refused.value.headers["Retry-After"] == "1"
    assert stored_attempts(services, published) == []
    with impatient.factory() as session:  # the same request once the lock is gone: accepted, once
        made, replayed = submit(session, impatient, published.tenant_id, body, "locked-key")
    with impatient.factory() as session:
        again, replayed_again = submit(session, impatient, published.tenant_id, body, "locked-key")
    assert (replayed, replayed_again, again.id) == (False, True, made.id)
    assert stored_attempts(services, published) == [("dee@example.org", 1)]
    impatient.redis.close()
