"""Credentials from grades: the mapping from a passing Grade to an Open Badges 3.0 credential, and the
local (did:key) issuer the CLI uses.

The mapping is pure (spec + grade + evidence in, credential inputs out) and shared with the
service's per-tenant issuer (grader.issuing.tenant). The local issuer keeps its keystore under
`<home>/keys` and its status list under `<home>/status`.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

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
from credentials.keys import METADATA_FILE, Keystore
from credentials.models import BitstringStatusListEntry, IdentityObject, Profile
from credentials.proof import sign_document
from credentials.status import StatusList, StatusListState
from credentials.verify import VerificationReport, verify_credential
from grader.config import Settings, key_passphrase
from grader.core.grade import NOT_YET, Grade
from grader.core.issuance_rule import IssuanceRefused, require_issuable
from grader.core.spec import AssignmentSpec, IsoDuration, LoadedAssignment
from grader.grading.pipeline import Evidence

# --- the pure mapping -------------------------------------------------------------------------


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


def achievement_input(spec: AssignmentSpec, achievement_id: str) -> AchievementInput:
    """The spec's credential block and rubric as an OB 3.0 achievement with a rubric."""
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
        image=achievement.image,
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
) -> dict[str, Any]:
    require_issuable(grade, spec)
    assert spec.credential is not None  # checked by require_issuable
    return build_credential(
        issuer=issuer,
        achievement=achievement_input(spec, achievement_id),
        subject=subject_for(learner),
        results=results_input(grade),
        evidence=evidence_inputs(evidence),
        valid_from=now,
        valid_until=valid_until(now, spec.credential.valid_for),
        status=status,
        credential_id=credential_id,
    )


# --- the local issuer (CLI) -------------------------------------------------------------------


class IssuedRecord(BaseModel):
    credential_id: str
    status_index: int
    revoked: bool = False
    reason: str = ""


class LocalIssuer:
    """Signs with the keystore in `<keys dir>` (did:key unless initialised with did:web) and keeps one
    revocation status list in `<home>/status`. Created on first use with embedded defaults."""

    def __init__(self, settings: Settings, keystore: Keystore, learner: str | None = None) -> None:
        self.settings = settings
        self.keystore = keystore
        self.learner = learner
        self.status_dir = settings.home / "status"
        self.status_dir.mkdir(parents=True, exist_ok=True)

    @property
    def status_url(self) -> str:
        return f"{self.settings.public_url.rstrip('/')}/status/local"

    @property
    def status_state_file(self) -> Path:
        return self.status_dir / "local-state.json"

    @property
    def status_credential_file(self) -> Path:
        return self.status_dir / "local-status-list.json"

    @property
    def registry_file(self) -> Path:
        return self.status_dir / "issued.json"

    def _status_list(self) -> StatusList:
        if self.status_state_file.is_file():
            return StatusList.from_state(StatusListState.model_validate_json(self.status_state_file.read_text()))
        return StatusList.create(self.status_url, "revocation")

    def _save_status(self, status_list: StatusList) -> None:
        self.status_state_file.write_text(status_list.to_state().model_dump_json())
        signed = status_list.issue_credential(self.keystore.issuer_id(), self.keystore.signer())
        self.status_credential_file.write_text(json.dumps(signed, indent=2))

    def _registry(self) -> dict[str, IssuedRecord]:
        if not self.registry_file.is_file():
            return {}
        raw = json.loads(self.registry_file.read_text())
        return {key: IssuedRecord.model_validate(value) for key, value in raw.items()}

    def _save_registry(self, registry: dict[str, IssuedRecord]) -> None:
        self.registry_file.write_text(json.dumps({k: v.model_dump() for k, v in registry.items()}, indent=2))

    def issue(self, grade: Grade, evidence: Evidence, assignment: LoadedAssignment) -> dict[str, Any]:
        require_issuable(grade, assignment.spec)
        status_list = self._status_list()
        entry = status_list.allocate_entry()
        credential_id = f"urn:uuid:{uuid.uuid4()}"
        base = self.settings.public_url.rstrip("/")
        spec = assignment.spec
        unsigned = unsigned_credential(
            issuer=Profile(id=self.keystore.issuer_id(), name=self.settings.issuer_name, url=base),
            spec=spec,
            achievement_id=f"{base}/achievements/{spec.id}/{spec.version}",
            learner=self.learner or evidence.repository,
            grade=grade,
            evidence=evidence,
            status=entry,
            credential_id=credential_id,
            now=datetime.now(UTC).replace(microsecond=0),
        )
        signed = sign_document(unsigned, self.keystore.signer())
        self._save_status(status_list)
        registry = self._registry()
        registry[credential_id] = IssuedRecord(credential_id=credential_id, status_index=int(entry.statusListIndex))
        self._save_registry(registry)
        return signed

    def revoke(self, credential_id: str, reason: str) -> IssuedRecord:
        """Set the credential's bit in the status list; the reason stays here, not in the list."""
        registry = self._registry()
        record = registry.get(credential_id)
        if record is None:
            raise KeyError(f"no credential {credential_id!r} was issued by the local issuer")
        status_list = self._status_list()
        status_list.revoke(record.status_index)
        self._save_status(status_list)
        registry[credential_id] = record.model_copy(update={"revoked": True, "reason": reason})
        self._save_registry(registry)
        return registry[credential_id]

    def status_list_credential(self) -> dict[str, Any] | None:
        if not self.status_credential_file.is_file():
            return None
        loaded: dict[str, Any] = json.loads(self.status_credential_file.read_text())
        return loaded

    def verify(self, credential: dict[str, Any]) -> VerificationReport:
        return verify_credential(
            credential,
            status_list=self.status_list_credential(),
            key_resolver=self.keystore.resolve,
            require_evidence=True,
        )


def open_local_keystore(settings: Settings) -> Keystore:
    directory = settings.resolved_keys_dir
    passphrase = key_passphrase(settings)
    if not (directory / METADATA_FILE).is_file():
        return Keystore.init(directory, passphrase)
    return Keystore.open(directory, passphrase)


def local_issuer(settings: Settings, learner: str | None = None) -> LocalIssuer:
    return LocalIssuer(settings, open_local_keystore(settings), learner)


def verify_issued(credential: dict[str, Any], settings: Settings) -> VerificationReport:
    """Verify a credential of the local issuer with its keys and current status list."""
    return local_issuer(settings).verify(credential)


def report_summary(report: VerificationReport) -> str:
    return ", ".join(f"{c.name}:{c.outcome}" for c in report.checks)
