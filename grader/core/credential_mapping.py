"""The mapping from a passing Grade to an Open Badges 3.0 credential: spec + grade + evidence in,
credential inputs and the unsigned document out. Shared by the local issuer (grader.issuing.local)
and the service's per-tenant issuer (grader.issuing.tenant). Raises IssuanceRefused (from
grader.core.issuance_rule) for a grade that may not be issued.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
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
    hash_email,
)
from credentials.models import BitstringStatusListEntry, IdentityObject, Profile
from grader.core.evidence import Evidence
from grader.core.grade import NOT_YET, Grade
from grader.core.issuance_rule import IssuanceRefused, require_issuable
from grader.core.ownership import KeyKind, OwnershipMethod
from grader.core.spec import AssignmentSpec, IsoDuration


def slug(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9._~-]+", "-", text).strip("-")
    return value if value and value[0].isalnum() else f"x{value}"


def valid_until(start: datetime, duration: IsoDuration | str | None) -> datetime | None:
    """`start` plus the spec's `valid_for`, by the same parsed duration the spec was validated with
    (calendar months and years, then weeks, days and the time part). Raises ValueError for a string that
    is not an ISO-8601 duration."""
    if duration is None or duration == "":
        return None
    parsed = duration if isinstance(duration, IsoDuration) else IsoDuration.parse(duration)
    return parsed.after(start)


def achievement_input(spec: AssignmentSpec, achievement_id: str, default_image: str | None = None) -> AchievementInput:
    """The spec's credential block and rubric as an OB 3.0 achievement with a rubric. Its image is the
    spec's `achievement.image`, else `default_image` (the issuer's generated badge, when it serves one)."""
    if spec.credential is None:
        raise IssuanceRefused(f"{spec.id} {spec.version} has no 'credential' block")
    achievement = spec.credential.achievement
    rubric = []
    for criterion in spec.rubric.criteria:
        levels = [RubricLevelInput(id="not-yet", name=NOT_YET, points=0)]
        for name, percent in sorted(criterion.levels.items(), key=lambda item: item[1]):
            levels.append(RubricLevelInput(id=slug(name), name=name, points=round(criterion.points * percent / 100, 2)))
        rubric.append(
            RubricCriterionInput(
                id=slug(criterion.id), name=criterion.title, description=criterion.description or None, levels=levels
            )
        )
    return AchievementInput(
        id=achievement_id,
        name=achievement.name,
        description=achievement.description,
        criteria_narrative=achievement.criteria,
        skills=list(achievement.skills),
        alignments=[
            AlignmentInput(
                target_name=a.targetName,
                target_url=a.targetUrl,
                target_description=a.targetDescription,
                target_code=a.targetCode,
                target_framework=a.targetFramework,
            )
            for a in achievement.alignments
        ],
        rubric=rubric,
        passing_score=round(spec.rubric.max_points * spec.rubric.pass_rule.min_percent / 100, 2),
        version=spec.version,
        image=achievement.image or default_image,
    )


def results_input(grade: Grade) -> ResultsInput:
    return ResultsInput(
        criteria=[
            CriterionResultInput(criterion_id=slug(c.id), level_id="not-yet" if c.level == NOT_YET else slug(c.level))
            for c in grade.criteria
        ],
        total_score=grade.score,
    )


def subject_for(learner: str) -> SubjectIdentity:
    """A DID is named as is; an email or any other learner id is salted and hashed, never shown."""
    if learner.startswith("did:"):
        return SubjectIdentity.from_did(learner)
    if "@" in learner:
        return SubjectIdentity(identifier=hash_email(learner))
    salt = secrets.token_hex(16)
    digest = hashlib.sha256((learner + salt).encode()).hexdigest()
    return SubjectIdentity(
        identifier=IdentityObject(hashed=True, identityHash=f"sha256${digest}", identityType="identifier", salt=salt)
    )


MODE_WORDS = {
    "unit": "isolated unit mode (the learner's code and the tests in separate containers)",
    "service": "service mode (the learner's service and the tests in separate containers)",
}


def authenticity_narrative(evidence: Evidence) -> str:
    """How the work was shown to be the learner's (ownership method, signing key, similarity check), as
    sentences for the evidence; empty when nothing was checked. Names no other learner or submission."""
    sentences = []
    proof = evidence.ownership
    if proof is not None and proof.verified:
        if proof.method is OwnershipMethod.SIGNED and proof.key_fingerprint:
            kind = "OpenPGP" if proof.key_kind is KeyKind.OPENPGP else "SSH"
            sentences.append(
                f"Ownership: the commit is signed by the learner's registered {kind} key {proof.key_fingerprint}."
            )
        elif proof.method is OwnershipMethod.CLAIM:
            sentences.append("Ownership: the commit holds the learner's claim token for this assignment.")
    elif proof is not None:
        sentences.append(f"Ownership: not proven by {proof.method.value}; an instructor reviewed and approved it.")
    check = evidence.similarity
    if check is not None:
        extent = "" if check.complete else " (stopped at its time bound)"
        sentences.append(
            f"Similarity: compared with {check.compared} earlier submissions of the assignment on "
            f"{check.checked_at.date().isoformat()}{extent}."
        )
    return "".join(" " + s for s in sentences)


def evidence_inputs(evidence: Evidence) -> list[EvidenceInput]:
    """The repository pinned to the commit, with what it was graded against and how."""
    return [
        EvidenceInput(
            id=f"{evidence.repository}#commit={evidence.commit}",
            name="Graded repository, pinned to a commit",
            narrative=(
                f"Commit {evidence.commit} of {evidence.repository} was graded against assignment "
                f"{evidence.assignment_id} {evidence.assignment_version} (spec hash {evidence.spec_hash}) "
                f"in {MODE_WORDS.get(evidence.mode, evidence.mode + ' mode')}, runner image {evidence.image_id}, "
                f"runtime {evidence.runtime}."
                + authenticity_narrative(evidence)
            ),
            genre="Source code",
        )
    ]


def unsigned_credential(
    *,
    issuer: Profile,
    spec: AssignmentSpec,
    achievement_id: str,
    learner: str,
    grade: Grade,
    evidence: Evidence,
    status: BitstringStatusListEntry | None,
    credential_id: str,
    now: datetime,
    default_image: str | None = None,
) -> dict[str, Any]:
    require_issuable(grade, spec)
    assert spec.credential is not None  # checked by require_issuable
    return build_credential(
        issuer=issuer,
        achievement=achievement_input(spec, achievement_id, default_image),
        subject=subject_for(learner),
        results=results_input(grade),
        evidence=evidence_inputs(evidence),
        valid_from=now,
        valid_until=valid_until(now, spec.credential.valid_for),
        status=status,
        credential_id=credential_id,
    )
