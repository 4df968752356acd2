"""Service issuance: a passing grade becomes a signed OB 3.0 credential of the tenant's did:web
issuer, with a status entry in the tenant's list; credentials.verify accepts it, and revocation shows.
(The grade-to-credential mapping itself is grader.issuing.local's and tested with it.)"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from credentials.verify import verify_credential
from grader.config import KEY_PASSPHRASE_ENV as PASSPHRASE_ENV
from grader.config import Settings
from grader.core.errors import IssuerUnavailable
from grader.core.evidence import Evidence
from grader.core.grade import NOT_YET, CriterionGrade, Grade
from grader.core.spec import load_assignment
from grader.issuing import status_lists
from grader.issuing import tenant as issuing
from grader.store import tenancy
from grader.store.db import make_engine, session_factory, session_scope, upgrade

LEDGER = Path(__file__).resolve().parents[3] / "assignments" / "py-ledger"
SPEC = load_assignment(LEDGER).spec


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv(PASSPHRASE_ENV, "test passphrase")
    monkeypatch.delenv("GRADER_KEYS_DIR", raising=False)
    return Settings(home=tmp_path, public_url="https://grader.example:8443")


@pytest.fixture
def factory(settings: Settings) -> sessionmaker[Session]:
    url = settings.resolved_database_url()
    upgrade(url)
    return session_factory(make_engine(url))


def grade(passed: bool = True) -> Grade:
    criteria = [
        CriterionGrade(
            id=c.id,
            title=c.title,
            points=c.points if passed else 0,
            max_points=c.points,
            percent=100 if passed else 0,
            level="Exemplary" if passed else NOT_YET,
            required=c.id in SPEC.rubric.pass_rule.require,
            meets_pass_level=passed,
            tests_passed=3 if passed else 0,
            tests_total=3,
        )
        for c in SPEC.rubric.criteria
    ]
    score = sum(c.points for c in criteria)
    return Grade(
        assignment_id=SPEC.id,
        assignment_version=SPEC.version,
        spec_hash="sha256:" + "a" * 64,
        mode="unit",
        commit="c" * 40,
        score=score,
        max_score=100,
        percent=score,
        passed=passed,
        criteria=criteria,
        tests=[],
    )


EVIDENCE = Evidence(
    repository="https://git.example/ann/ledger.git",
    commit="c" * 40,
    ref=None,
    assignment_id=SPEC.id,
    assignment_version=SPEC.version,
    spec_hash="sha256:" + "a" * 64,
    image="grader-assignment/py-ledger:x",
    image_id="sha256:" + "b" * 64,
    runtime="runc",
    mode="unit",
)


def test_without_keys_nothing_is_issued(settings: Settings, factory: sessionmaker[Session]) -> None:
    """A tenant whose keystore is not on this machine gets no credential, and the reason names the fix."""
    with session_scope(factory) as session:
        tenant = tenancy.create_tenant(session, "nokeys", "No keys")
        request = issuing.IssueRequest(tenant, "ann@example.org", SPEC, grade(), EVIDENCE, "urn:uuid:x")
        with pytest.raises(IssuerUnavailable, match="grader tenant keys nokeys"):
            issuing.issue(session, settings, request)


def test_issued_credential_verifies_and_revocation_shows(settings: Settings, factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        tenant = tenancy.create_tenant(session, "acme", "Acme Academy")
        keys = issuing.init_tenant_keys(session, settings, tenant)
        assert keys[0].did == "did:web:grader.example%3A8443:tenants:acme"
        request = issuing.IssueRequest(tenant, "ann@example.org", SPEC, grade(), EVIDENCE, f"urn:uuid:{uuid.uuid4()}")
        document, row, index = issuing.issue(session, settings, request)
        did_doc = issuing.did_document(session, tenant)
        listed = issuing.status_list_credential(session, settings, row)
    assert document["issuer"]["id"] == keys[0].did and document["id"] == request.credential_id
    assert document["credentialStatus"]["statusListIndex"] == str(index)
    assert document["credentialStatus"]["statusListCredential"] == listed["id"]
    assert EVIDENCE.commit in document["evidence"][0]["id"]
    report = verify_credential(document, status_list=listed, did_documents=[did_doc], require_evidence=True)
    assert report.verified, report.errors
    with session_scope(factory) as session:
        fresh = session.get(type(row), row.id)
        assert fresh is not None
        status_lists.revoke(session, fresh, index, settings.public_url)
        revoked_list = issuing.status_list_credential(session, settings, fresh)
    after = verify_credential(document, status_list=revoked_list, did_documents=[did_doc])
    assert not after.verified and after.check("status").outcome == "failed"
    tampered = {**document, "name": "Something else"}
    assert not grade(passed=False).passed
    assert not verify_credential(tampered, status_list=listed, did_documents=[did_doc]).verified


def test_keys_made_with_another_passphrase_do_not_sign(
    settings: Settings, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(factory) as session:
        tenant = tenancy.create_tenant(session, "acme", "Acme Academy")
        issuing.init_tenant_keys(session, settings, tenant)
    elsewhere = settings.model_copy(update={"key_passphrase": SecretStr("not the passphrase the keys were made with")})
    with session_scope(factory) as session:
        tenant = tenancy.tenant_by_slug(session, "acme")
        assert tenant is not None
        request = issuing.IssueRequest(tenant, "ann@example.org", SPEC, grade(), EVIDENCE, "urn:uuid:y")
        with pytest.raises(IssuerUnavailable, match="passphrase"):
            issuing.issue(session, elsewhere, request)
