"""A pure builder of unsigned OpenBadgeCredentials from plain, generic inputs.

Nothing here knows about grading: an achievement with an optional rubric (criteria with levels and
points), a learner identity, the learner's level per criterion and total score, and evidence items.
The output is a JSON-ready dict that validates against the bundled OB 3.0 schema and whose every
term is defined by its contexts; sign it with :func:`credentials.proof.sign_credential`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from credentials.models import (
    IRI,
    Achievement,
    AchievementSubject,
    Alignment,
    BitstringStatusListEntry,
    Criteria,
    Evidence,
    IdentityObject,
    Image,
    OpenBadgeCredential,
    Profile,
    Result,
    ResultDescription,
    RubricCriterionLevel,
)
from credentials.proof import format_datetime

_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]*$")


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(f"{value!r} must be a slug (letters, digits, '.', '_', '~', '-')")
    return value


Slug = Annotated[str, AfterValidator(_slug)]


def _number(value: int | float) -> str:
    """Points and scores are strings in OB 3.0; write integers without a trailing '.0'."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


class AlignmentInput(_Input):
    """A link to a skill or competency in an external framework."""

    target_name: str
    target_url: IRI
    target_description: str | None = None
    target_code: str | None = None
    target_framework: str | None = None
    target_type: str | None = None

    def to_model(self) -> Alignment:
        return Alignment(
            targetName=self.target_name,
            targetUrl=self.target_url,
            targetDescription=self.target_description,
            targetCode=self.target_code,
            targetFramework=self.target_framework,
            targetType=self.target_type,
        )


class RubricLevelInput(_Input):
    id: Slug
    name: str
    points: int | float = Field(ge=0)
    description: str | None = None


class RubricCriterionInput(_Input):
    """One rubric row: a criterion and its ordered levels (lowest first)."""

    id: Slug
    name: str
    description: str | None = None
    levels: list[RubricLevelInput] = Field(min_length=1)
    alignments: list[AlignmentInput] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_levels(self) -> RubricCriterionInput:
        ids = [level.id for level in self.levels]
        if len(ids) != len(set(ids)):
            raise ValueError(f"criterion {self.id!r} has duplicate level ids")
        return self

    @property
    def max_points(self) -> int | float:
        return max(level.points for level in self.levels)


class AchievementInput(_Input):
    """What is achieved: name, description, criteria, skills, alignments and an optional rubric."""

    id: IRI
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    criteria_narrative: str = Field(min_length=1)
    criteria_url: IRI | None = None
    achievement_type: str = "Badge"
    skills: list[str] = Field(default_factory=list)
    alignments: list[AlignmentInput] = Field(default_factory=list)
    rubric: list[RubricCriterionInput] = Field(default_factory=list)
    passing_score: int | float | None = None
    version: str | None = None
    image: IRI | None = None
    human_code: str | None = None

    @model_validator(mode="after")
    def _unique_criteria(self) -> AchievementInput:
        ids = [c.id for c in self.rubric]
        if len(ids) != len(set(ids)):
            raise ValueError("rubric criteria ids must be unique")
        return self

    @property
    def max_score(self) -> int | float:
        return sum(c.max_points for c in self.rubric)

    def criterion_iri(self, criterion_id: str) -> str:
        return f"{self.id}#criterion-{criterion_id}"

    def level_iri(self, criterion_id: str, level_id: str) -> str:
        return f"{self.id}#criterion-{criterion_id}-level-{level_id}"

    @property
    def score_iri(self) -> str:
        return f"{self.id}#score"


class CriterionResultInput(_Input):
    criterion_id: str
    level_id: str


class ResultsInput(_Input):
    """The learner's level on each rubric criterion and the total score."""

    criteria: list[CriterionResultInput] = Field(default_factory=list)
    total_score: int | float = Field(ge=0)
    status: Literal["Completed", "Enrolled", "Failed", "InProgress", "OnHold", "Provisional", "Withdrew"] | None = (
        "Completed"
    )


class EvidenceInput(_Input):
    """Evidence of the achievement: at least an IRI (e.g. a repository pinned to a commit) or a narrative."""

    id: IRI | None = None
    name: str | None = None
    narrative: str | None = None
    description: str | None = None
    genre: str | None = None
    audience: str | None = None

    @model_validator(mode="after")
    def _has_content(self) -> EvidenceInput:
        if self.id is None and not self.narrative:
            raise ValueError("evidence needs an id (IRI) or a narrative")
        return self


class SubjectIdentity(_Input):
    """The learner: a DID (or other IRI), or a salted hash of an identifier such as an email address."""

    id: IRI | None = None
    identifier: IdentityObject | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SubjectIdentity:
        if (self.id is None) == (self.identifier is None):
            raise ValueError("give exactly one of id (a DID) or identifier (a hashed identity)")
        return self

    @classmethod
    def from_did(cls, did: str) -> SubjectIdentity:
        return cls(id=did)

    @classmethod
    def from_email(cls, email: str, salt: str | None = None) -> SubjectIdentity:
        return cls(identifier=hash_email(email, salt))


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased, so that a verifier re-hashing the address gets the same hash."""
    return email.strip().lower()


def hash_email(email: str, salt: str | None = None) -> IdentityObject:
    """A salted SHA-256 ``identityHash`` of an email address (``sha256$hex(email + salt)``)."""
    normalized = normalize_email(email)
    if "@" not in normalized:
        raise ValueError("not an email address")
    salt = salt if salt is not None else secrets.token_hex(16)
    digest = hashlib.sha256((normalized + salt).encode("utf-8")).hexdigest()
    return IdentityObject(hashed=True, identityHash=f"sha256${digest}", identityType="emailAddress", salt=salt)


def identity_matches(identity: IdentityObject | dict[str, Any], email: str) -> bool:
    """Whether ``email`` is the address hashed into ``identity`` (constant-time comparison)."""
    obj = identity if isinstance(identity, IdentityObject) else IdentityObject.model_validate(identity)
    if not obj.hashed or not obj.identityHash.startswith("sha256$"):
        return False
    expected = hash_email(email, obj.salt or "").identityHash
    return hmac.compare_digest(expected.lower(), obj.identityHash.lower())


def _result_descriptions(achievement: AchievementInput) -> list[ResultDescription]:
    descriptions = [
        ResultDescription(
            id=achievement.criterion_iri(c.id),
            name=c.name,
            resultType="RubricCriterionLevel",
            allowedValue=[level.name for level in c.levels],
            alignment=[a.to_model() for a in c.alignments] or None,
            rubricCriterionLevel=[
                RubricCriterionLevel(
                    id=achievement.level_iri(c.id, level.id),
                    name=level.name,
                    description=level.description,
                    level=level.name,
                    points=_number(level.points),
                )
                for level in c.levels
            ],
            valueMin="0",
            valueMax=_number(c.max_points),
        )
        for c in achievement.rubric
    ]
    if achievement.rubric:
        descriptions.append(
            ResultDescription(
                id=achievement.score_iri,
                name="Total score",
                resultType="RubricScore",
                valueMin="0",
                valueMax=_number(achievement.max_score),
                requiredValue=None if achievement.passing_score is None else _number(achievement.passing_score),
            )
        )
    return descriptions


def _results(achievement: AchievementInput, results: ResultsInput) -> list[Result]:
    criteria = {c.id: c for c in achievement.rubric}
    seen: set[str] = set()
    out: list[Result] = []
    for item in results.criteria:
        criterion = criteria.get(item.criterion_id)
        if criterion is None:
            raise ValueError(f"result for unknown criterion {item.criterion_id!r}")
        if item.criterion_id in seen:
            raise ValueError(f"two results for criterion {item.criterion_id!r}")
        seen.add(item.criterion_id)
        level = next((lv for lv in criterion.levels if lv.id == item.level_id), None)
        if level is None:
            raise ValueError(f"criterion {item.criterion_id!r} has no level {item.level_id!r}")
        out.append(
            Result(
                resultDescription=achievement.criterion_iri(criterion.id),
                achievedLevel=achievement.level_iri(criterion.id, level.id),
                value=level.name,
            )
        )
    missing = set(criteria) - seen
    if missing:
        raise ValueError(f"no result for criteria {sorted(missing)}")
    if achievement.rubric:
        if results.total_score > achievement.max_score:
            raise ValueError(f"total score {results.total_score} exceeds the maximum {achievement.max_score}")
        out.append(
            Result(
                resultDescription=achievement.score_iri,
                value=_number(results.total_score),
                status=results.status,
            )
        )
    return out


def build_achievement(achievement: AchievementInput, creator: Profile | None = None) -> Achievement:
    return Achievement(
        id=achievement.id,
        name=achievement.name,
        description=achievement.description,
        criteria=Criteria(id=achievement.criteria_url, narrative=achievement.criteria_narrative),
        achievementType=achievement.achievement_type,
        tag=list(achievement.skills) or None,
        alignment=[a.to_model() for a in achievement.alignments] or None,
        resultDescription=_result_descriptions(achievement) or None,
        image=Image(id=achievement.image) if achievement.image else None,
        creator=creator,
        version=achievement.version,
        humanCode=achievement.human_code,
    )


def build_credential(
    issuer: Profile,
    achievement: AchievementInput,
    subject: SubjectIdentity,
    results: ResultsInput | None,
    evidence: list[EvidenceInput],
    valid_from: datetime,
    valid_until: datetime | None,
    status: BitstringStatusListEntry | None,
    credential_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """An unsigned ``OpenBadgeCredential`` as a JSON-ready dict.

    ``results`` must give a level for every rubric criterion (or be None when there is no rubric);
    ``evidence`` must not be empty (a verifier checks that a credential carries evidence).
    """
    if not evidence:
        raise ValueError("a credential needs at least one evidence item")
    if valid_until is not None and valid_until <= valid_from:
        raise ValueError("valid_until must be after valid_from")
    if results is None and achievement.rubric:
        raise ValueError("the achievement has a rubric, so results are required")
    credential = OpenBadgeCredential(
        id=credential_id,
        issuer=issuer,
        name=name or achievement.name,
        description=description,
        validFrom=format_datetime(valid_from),
        validUntil=format_datetime(valid_until) if valid_until else None,
        credentialSubject=AchievementSubject(
            id=subject.id,
            identifier=[subject.identifier] if subject.identifier else None,
            achievement=build_achievement(achievement),
            result=_results(achievement, results) if results is not None else None,
        ),
        evidence=[
            Evidence(
                id=e.id,
                name=e.name,
                narrative=e.narrative,
                description=e.description,
                genre=e.genre,
                audience=e.audience,
            )
            for e in evidence
        ],
        credentialStatus=status,
    )
    return credential.to_json()
