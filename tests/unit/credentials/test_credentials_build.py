"""The builder and the models: schema-valid documents, rubric results, hashed identities."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from pydantic import ValidationError

from credentials.build import (
    AchievementInput,
    CriterionResultInput,
    EvidenceInput,
    ResultsInput,
    RubricCriterionInput,
    SubjectIdentity,
    build_credential,
    hash_email,
    identity_matches,
)
from credentials.models import IdentityObject, OpenBadgeCredential, Profile
from credentials.schema_check import schema_errors
from tests.data.credentials import INTEROP
from tests.unit.credentials.credsamples import (
    ACHIEVEMENT,
    EVIDENCE,
    ISSUER,
    LEVELS,
    RESULTS,
    VALID_FROM,
    sample_credential,
)


def test_builder_output_is_schema_valid_with_string_typed_image_and_identity() -> None:
    doc = sample_credential(subject=SubjectIdentity.from_email("Learner@Example.org", salt="s"))
    assert schema_errors(doc) == []
    identity = doc["credentialSubject"]["identifier"][0]
    assert identity["type"] == "IdentityObject" and identity["hashed"] is True
    assert identity["identityType"] == "emailAddress"
    assert doc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert doc["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    with_image = build_credential(
        ISSUER,
        ACHIEVEMENT.model_copy(update={"image": "https://grader.example.edu/badges/ledger.png"}),
        SubjectIdentity.from_did("did:example:learner"),
        RESULTS,
        EVIDENCE,
        VALID_FROM,
        None,
        None,
        "urn:uuid:1b7d8a6c-2b7e-4a3b-9a39-2f3a1f6f0a55",
    )
    assert with_image["credentialSubject"]["achievement"]["image"] == {
        "id": "https://grader.example.edu/badges/ledger.png",
        "type": "Image",
    }
    assert schema_errors(with_image) == []


def test_rubric_becomes_result_descriptions_and_results() -> None:
    doc = sample_credential()
    achievement = doc["credentialSubject"]["achievement"]
    descriptions = achievement["resultDescription"]
    assert [d["resultType"] for d in descriptions] == ["RubricCriterionLevel", "RubricCriterionLevel", "RubricScore"]
    correctness = descriptions[0]
    assert [lv["points"] for lv in correctness["rubricCriterionLevel"]] == ["0", "5", "10"]
    assert correctness["valueMax"] == "10"
    assert descriptions[2]["valueMax"] == "20" and descriptions[2]["requiredValue"] == "14"
    results = doc["credentialSubject"]["result"]
    level_ids = {lv["id"] for d in descriptions[:2] for lv in d["rubricCriterionLevel"]}
    assert results[0]["resultDescription"] == correctness["id"]
    assert results[0]["achievedLevel"] in level_ids and results[0]["achievedLevel"].endswith("level-full")
    assert results[1]["achievedLevel"].endswith("criterion-style-level-partial")
    assert results[2] == {
        "type": ["Result"],
        "resultDescription": descriptions[2]["id"],
        "value": "15",
        "status": "Completed",
    }
    assert achievement["tag"] == ["python", "testing"]
    assert achievement["alignment"][0]["targetUrl"] == "https://example.org/skills/unit-testing"


def _build(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "issuer": ISSUER,
        "achievement": ACHIEVEMENT,
        "subject": SubjectIdentity.from_did("did:example:learner"),
        "results": RESULTS,
        "evidence": EVIDENCE,
        "valid_from": VALID_FROM,
        "valid_until": None,
        "status": None,
        "credential_id": "urn:uuid:1b7d8a6c-2b7e-4a3b-9a39-2f3a1f6f0a55",
    }
    args.update(changes)
    return build_credential(**args)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"evidence": []}, "evidence"),
        ({"valid_until": VALID_FROM}, "valid_until"),
        ({"results": None}, "results are required"),
        (
            {
                "results": ResultsInput(
                    criteria=[CriterionResultInput(criterion_id="correctness", level_id="full")], total_score=10
                )
            },
            "no result for criteria",
        ),
        (
            {
                "results": ResultsInput(
                    criteria=[
                        CriterionResultInput(criterion_id="correctness", level_id="excellent"),
                        CriterionResultInput(criterion_id="style", level_id="full"),
                    ],
                    total_score=10,
                )
            },
            "no level 'excellent'",
        ),
        (
            {
                "results": ResultsInput(
                    criteria=[
                        CriterionResultInput(criterion_id="correctness", level_id="full"),
                        CriterionResultInput(criterion_id="style", level_id="full"),
                    ],
                    total_score=21,
                )
            },
            "exceeds the maximum",
        ),
        ({"credential_id": "not an iri"}, "absolute IRI"),
    ],
)
def test_builder_rejects_inconsistent_input(changes: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, ValidationError), match=message):
        _build(**changes)


def test_input_models_validate() -> None:
    with pytest.raises(ValidationError):
        RubricCriterionInput(id="has space", name="x", levels=LEVELS)
    with pytest.raises(ValidationError):
        RubricCriterionInput(id="c", name="x", levels=[])
    with pytest.raises(ValidationError):
        EvidenceInput(name="no id and no narrative")
    with pytest.raises(ValidationError):
        SubjectIdentity()
    with pytest.raises(ValidationError):
        AchievementInput(
            id="urn:x",
            name="n",
            description="d",
            criteria_narrative="c",
            rubric=[
                RubricCriterionInput(id="a", name="a", levels=LEVELS),
                RubricCriterionInput(id="a", name="b", levels=LEVELS),
            ],
        )


def test_email_hash_is_salted_sha256_and_matches() -> None:
    identity = hash_email("  Ada@Example.ORG ", salt="pepper")
    expected = hashlib.sha256(b"ada@example.orgpepper").hexdigest()
    assert identity.identityHash == f"sha256${expected}"
    assert identity.salt == "pepper"
    assert identity_matches(identity, "ada@example.org")
    assert identity_matches(identity.model_dump(), "ADA@example.org")
    assert not identity_matches(identity, "eve@example.org")
    one, two = hash_email("ada@example.org"), hash_email("ada@example.org")
    assert one.salt != two.salt and one.identityHash != two.identityHash  # random salt by default
    with pytest.raises(ValueError):
        hash_email("not-an-email")
    with pytest.raises(ValidationError):
        IdentityObject(hashed=True, identityHash="sha256$xyz", identityType="emailAddress")


@pytest.mark.parametrize("name", ["simple.json", "complete.json", "simple-did-key-method.json"])
def test_models_load_credentials_from_others_and_dump_them_unchanged(name: str) -> None:
    raw = json.loads((INTEROP / name).read_text())
    if isinstance(raw.get("proof"), dict):
        raw["proof"] = [raw["proof"]]
    model = OpenBadgeCredential.model_validate(raw)
    assert model.to_json() == raw


def test_models_reject_wrong_types() -> None:
    raw = json.loads((INTEROP / "simple-err-issuer-type.json").read_text())
    with pytest.raises(ValidationError, match="Profile"):
        Profile.model_validate(raw["issuer"])
    doc = sample_credential()
    doc["@context"] = list(reversed(doc["@context"]))
    with pytest.raises(ValidationError, match="must start with"):
        OpenBadgeCredential.model_validate(doc)
