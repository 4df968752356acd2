"""Sample inputs shared by the credentials tests (a realistic graded project credential)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from credentials.build import (
    AchievementInput,
    AlignmentInput,
    CriterionResultInput,
    EvidenceInput,
    ResultsInput,
    RubricCriterionInput,
    RubricLevelInput,
    SubjectIdentity,
    build_credential,
)
from credentials.models import BitstringStatusListEntry, Profile

ISSUER = Profile(id="did:web:grader.example.edu", name="Example Grader", url="https://grader.example.edu")
LEVELS = [
    RubricLevelInput(id="missing", name="Missing", points=0),
    RubricLevelInput(id="partial", name="Partial", points=5, description="Some tests pass"),
    RubricLevelInput(id="full", name="Full", points=10, description="All tests pass"),
]
ACHIEVEMENT = AchievementInput(
    id="https://grader.example.edu/achievements/py-ledger/1.0.0",
    name="Python Ledger Project",
    description="Implements a double-entry ledger in Python with tests.",
    criteria_narrative="Pass the visible and hidden test suites with a score of at least 14 of 20.",
    skills=["python", "testing"],
    alignments=[
        AlignmentInput(
            target_name="Unit testing",
            target_url="https://example.org/skills/unit-testing",
            target_framework="Example Skills",
        )
    ],
    rubric=[
        RubricCriterionInput(id="correctness", name="Correctness", levels=LEVELS),
        RubricCriterionInput(id="style", name="Code style", levels=LEVELS),
    ],
    passing_score=14,
    version="1.0.0",
)
RESULTS = ResultsInput(
    criteria=[
        CriterionResultInput(criterion_id="correctness", level_id="full"),
        CriterionResultInput(criterion_id="style", level_id="partial"),
    ],
    total_score=15,
)
EVIDENCE = [
    EvidenceInput(
        id="https://git.example.edu/learner/py-ledger/commit/0123456789abcdef0123456789abcdef01234567",
        name="Submitted repository at commit 0123456",
        narrative="Graded in a sandbox (mode: gvisor) with runner image sha256:abc.",
    ),
    EvidenceInput(narrative="Assignment spec py-ledger 1.0.0, sha256 deadbeef", name="Assignment specification"),
]
VALID_FROM = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def sample_credential(
    *,
    subject: SubjectIdentity | None = None,
    status: BitstringStatusListEntry | None = None,
    issuer: Profile = ISSUER,
    credential_id: str = "urn:uuid:9b2d6a3e-4f0e-4c55-9c1a-0d3c8a1f2b11",
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    return build_credential(
        issuer=issuer,
        achievement=ACHIEVEMENT,
        subject=subject or SubjectIdentity.from_did("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"),
        results=RESULTS,
        evidence=EVIDENCE,
        valid_from=VALID_FROM,
        valid_until=valid_until,
        status=status,
        credential_id=credential_id,
    )
