"""A real SQLite store with one LMS placement of py-ledger (registration, course, resource link,
platform users) and a hand on its submissions and grades, for the passback, roster and gradebook
tests. A fake AGS/NRPS platform answers through httpx.MockTransport: a token endpoint, a line items
container, a score endpoint that can be down for a while, and a paged roster."""

from __future__ import annotations

import atexit
import json
import shutil
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from grader.config import Settings
from grader.core.spec import load_assignment
from grader.lti.keys import signing_key
from grader.lti.token import AGS_LINEITEM, AGS_SCORE
from grader.store import catalog, tenancy
from grader.store import lti as lti_store
from grader.store.archive import pack_folder, sha256
from grader.store.db import make_engine, session_factory, session_scope, upgrade
from grader.store.models import (
    AssignmentVersion,
    CredentialRecord,
    GradeRecord,
    LtiContext,
    LtiResourceLink,
    Submission,
    SubmissionState,
)

LEDGER = Path(__file__).resolve().parents[3] / "assignments" / "py-ledger"
LMS = "https://lms.example.edu"
TOKEN_URL = f"{LMS}/token"
LINEITEMS_URL = f"{LMS}/courses/7/lineitems"
MEMBERSHIPS_URL = f"{LMS}/courses/7/memberships"


def settings_for(tmp_path: Path) -> Settings:
    settings = Settings(
        home=tmp_path,
        key_passphrase=SecretStr("lms test passphrase"),
        redis_url="redis://127.0.0.1:1/0",
        public_url="https://grader.example",
        lti_passback_retries=3,
        lti_passback_max_tries=10,
    )
    upgrade(settings.resolved_database_url())
    return settings


@dataclass
class Placement:
    factory: sessionmaker[Session]
    settings: Settings
    tenant_id: str
    assignment_id: str
    version_id: str
    registration_id: str
    context_id: str
    link_id: str
    attempts: dict[str, int] = field(default_factory=dict)
    clock: datetime = field(default_factory=lambda: datetime(2026, 11, 1, 9, 0, tzinfo=UTC))

    def user(self, learner: str, sub: str) -> str:
        with session_scope(self.factory) as session:
            registration = lti_store.registration_by_id(session, self.registration_id)
            assert registration is not None
            row = lti_store.upsert_user(
                session, registration, sub, learner=learner, name=learner, email=learner, roles=[]
            )
            return row.id

    def grade(
        self,
        learner: str,
        score: float | None,
        *,
        max_score: float = 100.0,
        passed: bool | None = None,
        late: bool = False,
        state: str = SubmissionState.GRADED.value,
        credential: bool = False,
    ) -> Submission:
        """A submission of `learner`, one minute after the previous one, with a grade unless `score` is None."""
        self.attempts[learner] = self.attempts.get(learner, 0) + 1
        self.clock += timedelta(minutes=1)
        with session_scope(self.factory) as session:
            row = Submission(
                tenant_id=self.tenant_id,
                assignment_id=self.assignment_id,
                assignment_version_id=self.version_id,
                learner=learner,
                repo_url="https://git.example/r.git",
                attempt=self.attempts[learner],
                request_hash=uuid.uuid4().hex,
                state=state,
                late=late,
                created_at=self.clock,
                updated_at=self.clock,
            )
            session.add(row)
            session.flush()
            if score is not None:
                grade = GradeRecord(
                    tenant_id=self.tenant_id,
                    submission_id=row.id,
                    assignment_version_id=self.version_id,
                    run=1,
                    score=score,
                    max_score=max_score,
                    percent=100 * score / max_score,
                    passed=score >= 80 if passed is None else passed,
                    tampered=False,
                    grade={},
                    evidence={},
                    timings={},
                )
                session.add(grade)
                session.flush()
                if credential:
                    session.add(
                        CredentialRecord(
                            tenant_id=self.tenant_id,
                            submission_id=row.id,
                            grade_id=grade.id,
                            credential_id=f"urn:uuid:{uuid.uuid4()}",
                            document={},
                        )
                    )
            session.expunge(row)
            return row

    def set_counts(self, counts: str) -> None:
        with session_scope(self.factory) as session:
            version = session.get(AssignmentVersion, self.version_id)
            assert version is not None
            spec = dict(version.spec)
            spec["submission"] = {**spec.get("submission", {}), "counts": counts}
            version.spec = spec


def _build(home: Path) -> Placement:
    settings = settings_for(home)
    factory = session_factory(make_engine(settings.resolved_database_url()))
    archive = pack_folder(LEDGER)
    with session_scope(factory) as session:
        tenant = tenancy.create_tenant(session, f"t-{uuid.uuid4().hex[:8]}", "LMS test")
        uploaded = catalog.publish_version(session, tenant.id, load_assignment(LEDGER), "", archive, sha256(archive))
        catalog.settle_check(uploaded.version, None, [])
        registration = lti_store.create_registration(
            session,
            tenant.id,
            lti_store.RegistrationIn(
                issuer=LMS,
                client_id=f"client-{uuid.uuid4().hex[:6]}",
                auth_login_url=f"{LMS}/auth",
                token_url=TOKEN_URL,
                jwks_url=f"{LMS}/jwks",
                deployments=["dep-1"],
            ),
        )
        context = lti_store.upsert_context(
            session,
            registration,
            lti_store.ContextIn(
                context_id="course-7",
                deployment_id="dep-1",
                title="Course 7",
                ags_lineitems_url=LINEITEMS_URL,
                ags_scopes=[AGS_LINEITEM, AGS_SCORE],
                nrps_memberships_url=MEMBERSHIPS_URL,
            ),
        )
        link = lti_store.upsert_resource_link(
            session, context, "link-1", assignment_id=uploaded.assignment.id, title="Ledger", lineitem_url=None
        )
        signing_key(session, settings, tenant.id)  # the tool's key, made once here rather than in every test
        return Placement(
            factory=factory,
            settings=settings,
            tenant_id=tenant.id,
            assignment_id=uploaded.assignment.id,
            version_id=uploaded.version.id,
            registration_id=registration.id,
            context_id=context.id,
            link_id=link.id,
        )


_TEMPLATE: list[Placement] = []


def placement(tmp_path: Path, *, lineitem_url: str | None = None, scopes: list[str] | None = None) -> Placement:
    """A fresh store with the placement: a copy of one built once per test process (migrating, publishing
    and making the tool's key take a second or two; copying the file, milliseconds)."""
    if not _TEMPLATE:
        home = tempfile.mkdtemp(prefix="lms-store-")
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        _TEMPLATE.append(_build(Path(home)))
    template = _TEMPLATE[0]
    # SQLite's backup API: a consistent copy even of what still sits in the template's write-ahead log.
    with sqlite3.connect(template.settings.home / "grader.db") as source, sqlite3.connect(tmp_path / "grader.db") as copy:
        source.backup(copy)
    settings = template.settings.model_copy(update={"home": tmp_path})
    factory = session_factory(make_engine(settings.resolved_database_url()))
    with session_scope(factory) as session:
        link = session.get(LtiResourceLink, template.link_id)
        context = session.get(LtiContext, template.context_id)
        assert link is not None and context is not None
        link.ags_lineitem_url = lineitem_url
        if scopes is not None:
            context.ags_scopes = scopes
    return Placement(
        factory=factory,
        settings=settings,
        tenant_id=template.tenant_id,
        assignment_id=template.assignment_id,
        version_id=template.version_id,
        registration_id=template.registration_id,
        context_id=template.context_id,
        link_id=template.link_id,
    )


@dataclass
class FakePlatform:
    """Token, line items and scores of one course. `score_down` answers that many score POSTs with
    `down_status` (503) before it takes them; `scores` is what it took, `posts` every score POST it saw."""

    score_down: int = 0
    down_status: int = 503
    token_requests: int = 0
    lineitems: list[dict[str, Any]] = field(default_factory=list)
    lineitem_posts: list[dict[str, Any]] = field(default_factory=list)
    lineitem_gets: int = 0
    posts: list[httpx.Request] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2

    def handler(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url).split("?", 1)[0]
        if url == TOKEN_URL and request.method == "POST":
            self.token_requests += 1
            form = parse_qs(request.content.decode())
            return httpx.Response(
                200,
                json={
                    "access_token": f"tok-{self.token_requests}",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "scope": form["scope"][0],
                },
            )
        if not request.headers.get("authorization", "").startswith("Bearer tok-"):
            return httpx.Response(401, json={"error": "no token"})
        if url == LINEITEMS_URL and request.method == "GET":
            self.lineitem_gets += 1
            return httpx.Response(200, json=self.lineitems)
        if url == LINEITEMS_URL and request.method == "POST":
            body = json.loads(request.content)
            self.lineitem_posts.append(body)
            item = {**body, "id": f"{LINEITEMS_URL}/{len(self.lineitems) + 1}"}
            self.lineitems.append(item)
            return httpx.Response(201, json=item)
        if url.startswith(LINEITEMS_URL) and url.endswith("/scores") and request.method == "POST":
            self.posts.append(request)
            if self.score_down > 0:
                self.score_down -= 1
                return httpx.Response(self.down_status, text="maintenance" if self.down_status >= 500 else "no such user")
            self.scores.append({"lineitem": url.removesuffix("/scores"), **json.loads(request.content)})
            return httpx.Response(200, json={})
        if url == MEMBERSHIPS_URL:
            start = int(request.url.params.get("offset", "0"))
            page = self.members[start : start + self.page_size]
            headers = {}
            if start + self.page_size < len(self.members):
                headers["Link"] = f'<{MEMBERSHIPS_URL}?offset={start + self.page_size}>; rel="next"'
            return httpx.Response(200, json={"id": url, "members": page}, headers=headers)
        return httpx.Response(404, json={"error": "not here"})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler))

