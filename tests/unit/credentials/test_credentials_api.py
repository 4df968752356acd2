"""The package's public API, end to end, as the grading pipeline would use it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import credentials
from credentials import (
    AchievementInput,
    CriterionResultInput,
    EvidenceInput,
    Keystore,
    Profile,
    ResultsInput,
    RubricCriterionInput,
    RubricLevelInput,
    StatusList,
    SubjectIdentity,
    bake_credential,
    build_credential,
    extract_credential,
    sign_credential,
    verify_credential,
)


def test_every_exported_name_resolves() -> None:
    assert all(getattr(credentials, name) is not None for name in credentials.__all__)


def test_issue_verify_revoke_bake(tmp_path: Path) -> None:
    keystore = Keystore.init(tmp_path / "keys", "passphrase", controller="did:web:grader.example.edu")
    status_list = StatusList.create("https://grader.example.edu/status/1")
    levels = [RubricLevelInput(id="no", name="No", points=0), RubricLevelInput(id="yes", name="Yes", points=1)]
    now = datetime.now(UTC)
    unsigned = build_credential(
        issuer=Profile(id=keystore.issuer_id(), name="Example Grader"),
        achievement=AchievementInput(
            id="https://grader.example.edu/achievements/hello/1.0.0",
            name="Hello, world",
            description="Prints a greeting.",
            criteria_narrative="All tests pass.",
            rubric=[RubricCriterionInput(id="tests", name="Tests", levels=levels)],
        ),
        subject=SubjectIdentity.from_email("learner@example.org"),
        results=ResultsInput(criteria=[CriterionResultInput(criterion_id="tests", level_id="yes")], total_score=1),
        evidence=[EvidenceInput(id="https://git.example.edu/l/hello/commit/abc123", name="Repository")],
        valid_from=now - timedelta(minutes=1),
        valid_until=None,
        status=status_list.allocate_entry(),
        credential_id="urn:uuid:3f0d2f7e-8a1c-4b8e-9d2a-5c6b7a8e9f01",
    )
    signed = sign_credential(unsigned, keystore.signer())
    did_document = keystore.did_document()
    published = status_list.issue_credential(keystore.issuer_id(), keystore.signer())

    report = verify_credential(signed, status_list=published, did_documents=[did_document])
    assert report.valid, report.errors
    assert report.check("status").outcome == "passed"

    status_list.revoke(int(signed["credentialStatus"]["statusListIndex"]))
    republished = status_list.issue_credential(keystore.issuer_id(), keystore.signer())
    revoked = verify_credential(signed, status_list=republished, did_documents=[did_document])
    assert [c.name for c in revoked.failed] == ["status"]

    baked = extract_credential(bake_credential(signed))
    assert baked == signed
    assert verify_credential(baked, did_documents=[did_document]).valid
