"""Pydantic models of an Open Badges 3.0 ``OpenBadgeCredential`` (a W3C Verifiable Credential 2.0).

Field names are the JSON-LD terms themselves (camelCase), so ``to_json()`` is the document. The
models follow the bundled OB 3.0 JSON Schema: most ``type`` values are arrays, but ``Image.type`` and
``IdentityObject.type`` are plain strings. Unknown properties are kept (``extra="allow"``) so that a
credential issued elsewhere can be loaded and dumped again unchanged; whether those properties are
defined by the contexts is the verifier's ``terms`` check, not the model's.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from credentials.contexts import CREDENTIAL_CONTEXTS, VC_V2

_ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")


def _require_iri(value: str) -> str:
    if not _ABSOLUTE_IRI.match(value):
        raise ValueError(f"{value!r} is not an absolute IRI")
    return value


def _require_datetime(value: str) -> str:
    """A dateTime with an explicit timezone (the schema's DateTimeZ)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no timezone")
    return value


def _require_type(types: list[str], required: str) -> list[str]:
    if required not in types:
        raise ValueError(f"type must include {required!r}, got {types!r}")
    return types


IRI = Annotated[str, AfterValidator(_require_iri)]
DateTimeZ = Annotated[str, AfterValidator(_require_datetime)]


class OBModel(BaseModel):
    """Base of the document models: camelCase terms, extras kept, ``None`` fields omitted on output."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_assignment=True)

    # The type every instance's ``type`` array must contain (None: no array-typed ``type``).
    REQUIRED_TYPE: ClassVar[str | None] = None

    @model_validator(mode="after")
    def _required_type(self) -> OBModel:
        if self.REQUIRED_TYPE is not None:
            _require_type(getattr(self, "type", []), self.REQUIRED_TYPE)
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Image(OBModel):
    id: IRI
    type: Literal["Image"] = "Image"
    caption: str | None = None


class Alignment(OBModel):
    type: list[str] = Field(default_factory=lambda: ["Alignment"])
    targetName: str
    targetUrl: IRI
    targetDescription: str | None = None
    targetCode: str | None = None
    targetFramework: str | None = None
    targetType: str | None = None

    REQUIRED_TYPE: ClassVar[str | None] = "Alignment"


class IdentityObject(OBModel):
    """A recipient identifier; with ``hashed`` true, ``identityHash`` is ``sha256$<hex>`` of value+salt."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["IdentityObject"] = "IdentityObject"
    hashed: bool
    identityHash: str
    identityType: str
    salt: str | None = None

    @model_validator(mode="after")
    def _hash_format(self) -> IdentityObject:
        if self.hashed and not re.fullmatch(r"(sha256\$[0-9a-fA-F]{64}|md5\$[0-9a-fA-F]{32})", self.identityHash):
            raise ValueError("a hashed identityHash must be 'sha256$<64 hex>' or 'md5$<32 hex>'")
        return self


class Profile(OBModel):
    """The issuer (or creator) of a credential."""

    id: IRI
    type: list[str] = Field(default_factory=lambda: ["Profile"])
    name: str | None = None
    url: str | None = None
    email: str | None = None
    description: str | None = None
    image: Image | None = None

    REQUIRED_TYPE: ClassVar[str | None] = "Profile"


class Criteria(OBModel):
    id: str | None = None
    narrative: str | None = None


class RubricCriterionLevel(OBModel):
    id: IRI
    type: list[str] = Field(default_factory=lambda: ["RubricCriterionLevel"])
    name: str
    description: str | None = None
    level: str | None = None
    points: str | None = None
    alignment: list[Alignment] | None = None

    REQUIRED_TYPE: ClassVar[str | None] = "RubricCriterionLevel"


class ResultDescription(OBModel):
    id: IRI
    type: list[str] = Field(default_factory=lambda: ["ResultDescription"])
    name: str
    resultType: str
    alignment: list[Alignment] | None = None
    allowedValue: list[str] | None = None
    requiredLevel: str | None = None
    requiredValue: str | None = None
    rubricCriterionLevel: list[RubricCriterionLevel] | None = None
    valueMax: str | None = None
    valueMin: str | None = None

    REQUIRED_TYPE: ClassVar[str | None] = "ResultDescription"


class Achievement(OBModel):
    id: IRI
    type: list[str] = Field(default_factory=lambda: ["Achievement"])
    name: str
    description: str
    criteria: Criteria
    achievementType: str | None = None
    alignment: list[Alignment] | None = None
    tag: list[str] | None = None
    resultDescription: list[ResultDescription] | None = None
    image: Image | None = None
    creator: Profile | None = None
    version: str | None = None
    humanCode: str | None = None

    REQUIRED_TYPE: ClassVar[str | None] = "Achievement"


class Result(OBModel):
    type: list[str] = Field(default_factory=lambda: ["Result"])
    resultDescription: str | None = None
    achievedLevel: str | None = None
    value: str | None = None
    status: str | None = None
    alignment: list[Alignment] | None = None

    REQUIRED_TYPE: ClassVar[str | None] = "Result"


class AchievementSubject(OBModel):
    """The learner: identified by a DID/IRI ``id``, or by (hashed) ``identifier`` objects."""

    id: IRI | None = None
    type: list[str] = Field(default_factory=lambda: ["AchievementSubject"])
    achievement: Achievement
    identifier: list[IdentityObject] | None = None
    result: list[Result] | None = None

    REQUIRED_TYPE: ClassVar[str | None] = "AchievementSubject"

    @model_validator(mode="after")
    def _identified(self) -> AchievementSubject:
        if self.id is None and not self.identifier:
            raise ValueError("an AchievementSubject needs an id or at least one identifier")
        return self


class Evidence(OBModel):
    id: IRI | None = None
    type: list[str] = Field(default_factory=lambda: ["Evidence"])
    name: str | None = None
    narrative: str | None = None
    description: str | None = None
    genre: str | None = None
    audience: str | None = None

    REQUIRED_TYPE: ClassVar[str | None] = "Evidence"

    @model_validator(mode="after")
    def _has_content(self) -> Evidence:
        if self.id is None and not self.narrative:
            raise ValueError("evidence needs an id (IRI) or a narrative")
        return self


StatusPurpose = Literal["revocation", "suspension"]


class BitstringStatusListEntry(OBModel):
    """``credentialStatus``: position ``statusListIndex`` (a base-10 string) in a status list credential."""

    id: IRI
    type: Literal["BitstringStatusListEntry"] = "BitstringStatusListEntry"
    statusPurpose: StatusPurpose
    statusListIndex: str
    statusListCredential: IRI

    @field_validator("statusListIndex")
    @classmethod
    def _index(cls, value: str) -> str:
        if not value.isdigit():
            raise ValueError("statusListIndex must be a non-negative integer written in base 10")
        return value


class CredentialStatus(OBModel):
    """Any other ``credentialStatus`` (e.g. 1EdTech's revocation list), kept as-is."""

    id: IRI
    type: str


class DataIntegrityProof(OBModel):
    type: Literal["DataIntegrityProof"] = "DataIntegrityProof"
    cryptosuite: str = "eddsa-rdfc-2022"
    created: DateTimeZ
    verificationMethod: str
    proofPurpose: str = "assertionMethod"
    proofValue: str


class Proof(OBModel):
    """A proof of another kind, kept as-is (the verifier reports it as unsupported)."""

    type: str


def _default_contexts() -> list[str | dict[str, Any]]:
    return list(CREDENTIAL_CONTEXTS)


class OpenBadgeCredential(OBModel):
    context: list[str | dict[str, Any]] = Field(default_factory=_default_contexts, alias="@context")
    id: IRI
    type: list[str] = Field(default_factory=lambda: ["VerifiableCredential", "OpenBadgeCredential"])
    issuer: Profile
    name: str
    description: str | None = None
    image: Image | None = None
    validFrom: DateTimeZ
    validUntil: DateTimeZ | None = None
    awardedDate: DateTimeZ | None = None
    credentialSubject: AchievementSubject
    evidence: list[Evidence] | None = None
    credentialStatus: BitstringStatusListEntry | CredentialStatus | None = Field(
        default=None, union_mode="left_to_right"
    )
    proof: list[DataIntegrityProof | Proof] | None = None

    @field_validator("context")
    @classmethod
    def _vc_first(cls, value: list[str | dict[str, Any]]) -> list[str | dict[str, Any]]:
        if not value or value[0] != VC_V2:
            raise ValueError(f"@context must start with {VC_V2}")
        return value

    REQUIRED_TYPE: ClassVar[str | None] = "VerifiableCredential"

    @field_validator("type")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        if not {"OpenBadgeCredential", "AchievementCredential"} & set(value):
            raise ValueError("type must include OpenBadgeCredential or AchievementCredential")
        return value
