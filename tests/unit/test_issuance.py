"""The issuance rule and the mapping from a Grade to a credential; the local issuer on a temp home."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from credentials.models import Profile
from credentials.verify import verify_credential
from grader.config import Settings
from grader.core.credential_mapping import results_input, subject_for, unsigned_credential, valid_until
from grader.core.evidence import Evidence
from grader.core.grade import NOT_YET, CriterionGrade, Flag, Grade
from grader.core.issuance_rule import IssuanceRefused, issuable
from grader.core.spec import LoadedAssignment, load_assignment
from grader.issuing.local import LocalIssuer, local_issuer
from tests.conftest import LEDGER_DIR

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def ledger_spec() -> LoadedAssignment:
    return load_assignment(LEDGER_DIR)


def make_grade(passed: bool = True, flags: list[Flag] | None = None, level: str = "Exemplary") -> Grade:
    return Grade(
        assignment_id="py-ledger",
        assignment_version="1.0.0",
        spec_hash="sha256:abc",
        mode="unit",
        commit=COMMIT,
        score=90.0 if passed else 10.0,
        max_score=100.0,
        percent=90.0 if passed else 10.0,
        passed=passed,
        criteria=[
            CriterionGrade(
                id=cid,
                title=cid,
                points=10,
                max_points=10,
                percent=100,
                level=level,
                required=False,
                meets_pass_level=True,
                tests_passed=1,
                tests_total=1,
            )
            for cid in ("core", "validation", "history", "reports")
        ],
        tests=[],
        flags=flags or [],
    )


EVIDENCE = Evidence(
    repository="https://git.example.edu/ada/ledger.git",
    commit=COMMIT,
    ref=None,
    assignment_id="py-ledger",
    assignment_version="1.0.0",
    spec_hash="sha256:abc",
    image="grader-assignment/py-ledger:1",
    image_id="sha256:feed",
    runtime="runsc",
    mode="unit",
)


@pytest.fixture
def issuer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalIssuer:
    monkeypatch.delenv("GRADER_KEY_PASSPHRASE", raising=False)
    return local_issuer(Settings(home=tmp_path), learner="ada@example.org")


def test_valid_until_adds_years_months_weeks_days() -> None:
    start = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    assert valid_until(start, "P2Y") == datetime(2028, 1, 31, 12, 0, tzinfo=UTC)  # calendar years keep the 31st
    assert valid_until(start, "P1M") == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    assert valid_until(start, "P10D") == datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
    assert valid_until(start, None) is None


def test_levels_map_to_rubric_level_ids() -> None:
    results = results_input(make_grade(level=NOT_YET))
    assert {r.level_id for r in results.criteria} == {"not-yet"}
    assert results.total_score == 90.0


def test_email_is_hashed_never_shown() -> None:
    identity = subject_for("ada@example.org")
    assert identity.id is None and identity.identifier is not None
    dumped = identity.identifier.model_dump_json()  # hex digits can spell "ada": look for the address
    assert "ada@example.org" not in dumped and "example.org" not in dumped
    assert subject_for("did:example:123").id == "did:example:123"


@pytest.mark.parametrize(
    "grade",
    [make_grade(passed=False), make_grade(flags=[Flag(code="canary-passed", detail="x")])],
    ids=["failing", "tampered"],
)
def test_no_credential_for_a_grade_that_did_not_pass(grade: Grade, issuer: LocalIssuer, ledger_spec) -> None:
    with pytest.raises(IssuanceRefused):
        issuer.issue(grade, EVIDENCE, ledger_spec.spec)
    with pytest.raises(IssuanceRefused):
        unsigned_credential(
            issuer=Profile(id="did:example:issuer"),
            spec=ledger_spec.spec,
            achievement_id="https://e.org/a",
            learner="x@y.z",
            grade=grade,
            evidence=EVIDENCE,
            status=None,
            credential_id="urn:uuid:1",
            now=datetime.now(UTC),
        )


def test_issued_credential_verifies_and_pins_the_evidence(issuer: LocalIssuer, ledger_spec) -> None:
    credential = issuer.issue(make_grade(), EVIDENCE, ledger_spec.spec)
    report = issuer.verify(credential)
    assert report.valid, report.errors
    evidence = credential["evidence"][0]
    assert evidence["id"] == f"{EVIDENCE.repository}#commit={COMMIT}"
    for fact in ("py-ledger 1.0.0", "sha256:abc", "sha256:feed", "unit mode"):
        assert fact in evidence["narrative"]
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["name"] == ledger_spec.spec.credential.achievement.name
    rubric_rows = [d for d in achievement["resultDescription"] if d["resultType"] == "RubricCriterionLevel"]
    assert len(rubric_rows) == len(ledger_spec.spec.rubric.criteria)
    assert credential["validUntil"] > credential["validFrom"]  # valid_for: P2Y


def test_tampering_with_an_issued_credential_is_detected(issuer: LocalIssuer, ledger_spec) -> None:
    credential = issuer.issue(make_grade(), EVIDENCE, ledger_spec.spec)
    credential["credentialSubject"]["result"][0]["achievedLevel"] = credential["credentialSubject"]["result"][0][
        "achievedLevel"
    ].replace("exemplary", "not-yet")
    credential["evidence"][0]["id"] = "https://git.example.edu/mallory/ledger.git#commit=" + COMMIT
    assert issuer.verify(credential).check("proof").outcome == "failed"


def test_revoked_credential_fails_its_status_check(issuer: LocalIssuer, ledger_spec) -> None:
    first = issuer.issue(make_grade(), EVIDENCE, ledger_spec.spec)
    second = issuer.issue(make_grade(), EVIDENCE, ledger_spec.spec)
    assert first["credentialStatus"]["statusListIndex"] != second["credentialStatus"]["statusListIndex"]
    record = issuer.revoke(first["id"], "academic misconduct")
    assert record.revoked and record.reason == "academic misconduct"
    assert issuer.verify(first).check("status").outcome == "failed"
    assert issuer.verify(second).valid
    # The published list says nothing of the reason.
    assert "misconduct" not in str(issuer.status_list_credential())
    with pytest.raises(KeyError):
        issuer.revoke("urn:uuid:never-issued", "x")


def test_after_rotation_old_credentials_verify_and_a_retired_key_cannot_sign(issuer: LocalIssuer, ledger_spec) -> None:
    old = issuer.issue(make_grade(), EVIDENCE, ledger_spec.spec)
    old_key = issuer.keystore.active_key().key_id
    issuer.keystore.rotate()
    assert issuer.verify(old).valid
    with pytest.raises(Exception, match="retired"):
        issuer.keystore.signer(old_key)
    # A fresh verifier that knows only the issuer's did:key still verifies the old credential.
    assert verify_credential(old).check("proof").outcome == "passed"


def test_no_credential_from_the_inprocess_mode(issuer: LocalIssuer, ledger_spec) -> None:
    """Even a passing grade is refused when its mode shares the interpreter with the tests; no issuer and
    no pipeline path gets around the rule, which every one of them calls."""
    grade = make_grade().model_copy(update={"mode": "unit-inprocess"})
    assert not issuable(grade, ledger_spec.spec)
    with pytest.raises(IssuanceRefused, match="unit-inprocess"):
        issuer.issue(grade, EVIDENCE, ledger_spec.spec)
    assert issuable(make_grade(), ledger_spec.spec)


def test_no_credential_for_a_spec_without_a_credential_block(issuer: LocalIssuer, ledger_spec) -> None:
    practice = ledger_spec.spec.model_copy(update={"credential": None})
    assert not issuable(make_grade(), practice)
    with pytest.raises(IssuanceRefused, match="no 'credential' block"):
        issuer.issue(make_grade(), EVIDENCE, practice)


def test_the_evidence_says_the_mode() -> None:
    from grader.core.credential_mapping import evidence_inputs

    [unit] = evidence_inputs(EVIDENCE)
    assert "isolated unit mode" in (unit.narrative or "")
    [service] = evidence_inputs(EVIDENCE.model_copy(update={"mode": "service"}))
    assert "service mode" in (service.narrative or "")


def test_the_local_list_expires_so_a_copy_from_before_a_revocation_stops_verifying(
    issuer: LocalIssuer, ledger_spec: LoadedAssignment
) -> None:
    credential = issuer.issue(make_grade(), EVIDENCE, ledger_spec.spec)
    before_revocation = issuer.status_list_credential()
    assert before_revocation is not None and "validUntil" in before_revocation
    issuer.revoke(credential["id"], "copied work")
    # A verifier handed the old list while it is still current is fooled, which is why it expires:
    replay_now = verify_credential(credential, status_list=before_revocation, key_resolver=issuer.keystore.resolve)
    assert replay_now.check("status").outcome == "passed"
    later = datetime.fromisoformat(before_revocation["validUntil"].replace("Z", "+00:00")) + timedelta(seconds=1)
    replay_later = verify_credential(
        credential, status_list=before_revocation, key_resolver=issuer.keystore.resolve, now=later
    )
    assert not replay_later.valid
    assert replay_later.check("status").outcome == "failed"


def test_the_local_issuer_signs_its_list_anew_before_it_expires(
    issuer: LocalIssuer, ledger_spec: LoadedAssignment
) -> None:
    issuer.issue(make_grade(), EVIDENCE, ledger_spec.spec)
    published = issuer.status_list_credential()
    assert published is not None
    published["validUntil"] = "2000-01-01T00:00:00Z"  # as if the file were a day old
    issuer.status_credential_file.write_text(json.dumps(published))
    fresh = issuer.status_list_credential()
    assert fresh is not None
    until = datetime.fromisoformat(fresh["validUntil"].replace("Z", "+00:00"))
    assert until > datetime.now(UTC)
