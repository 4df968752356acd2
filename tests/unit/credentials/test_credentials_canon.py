"""Canonicalization: the fast path equals pyld (and pyoxigraph); safe mode; pinned contexts."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credentials import canon, contexts
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
from credentials.errors import ContextIntegrityError, JsonLdProcessingError, UndefinedTermError, UnknownContextError
from credentials.models import BitstringStatusListEntry, Profile
from credentials.schema_check import schema_errors
from tests.data.credentials import INTEROP
from tests.unit.credentials.credsamples import ACHIEVEMENT, ISSUER, sample_credential

# More examples for a deeper run: CREDENTIALS_HYPOTHESIS_EXAMPLES=1000 pytest ...
EXAMPLES = int(os.environ.get("CREDENTIALS_HYPOTHESIS_EXAMPLES", "60"))

# Text that exercises N-Quads escaping: quotes, backslashes, tabs, newlines, non-ASCII.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=30,
) | st.sampled_from(['a "quoted" \\ name', "line1\nline2\ttab\rcr", "é 😀 ∑", "Full", "Partial"])
SLUG = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
IRI = st.builds(lambda s: f"https://example.org/{s}", SLUG) | st.builds(lambda s: f"urn:uuid:{s}", SLUG)


@st.composite
def credentials(draw: st.DrawFn) -> dict[str, Any]:
    level_names = draw(st.lists(st.sampled_from(["Missing", "Partial", "Full", "Exemplary"]), min_size=1, max_size=3))
    criteria = []
    for index in range(draw(st.integers(0, 4))):
        levels = [
            RubricLevelInput(id=f"l{i}", name=name, points=draw(st.integers(0, 20) | st.floats(0, 20, width=32)))
            for i, name in enumerate(level_names)
        ]
        alignment = AlignmentInput(target_name="Skill", target_url="https://example.org/skill")
        criteria.append(
            RubricCriterionInput(
                id=f"c{index}",
                name=draw(TEXT),
                levels=levels,
                # identical alignment blank nodes across criteria force the n-degree step
                alignments=draw(st.sampled_from([[], [alignment], [alignment, alignment]])),
            )
        )
    achievement = AchievementInput(
        id=draw(IRI),
        name=draw(TEXT),
        description=draw(TEXT),
        criteria_narrative=draw(TEXT),
        skills=draw(st.lists(TEXT, max_size=3)),
        alignments=draw(
            st.lists(
                st.builds(AlignmentInput, target_name=TEXT, target_url=IRI, target_code=st.none() | TEXT), max_size=3
            )
        ),
        rubric=criteria,
        passing_score=draw(st.none() | st.integers(0, 5)),
    )
    results = ResultsInput(
        criteria=[
            CriterionResultInput(criterion_id=c.id, level_id=draw(st.sampled_from([lv.id for lv in c.levels])))
            for c in criteria
        ],
        total_score=0,
    )
    subject = draw(
        st.builds(SubjectIdentity.from_did, st.builds(lambda s: f"did:example:{s}", SLUG))
        | st.builds(SubjectIdentity.from_email, st.builds(lambda s: f"{s}@example.org", SLUG), st.none() | SLUG)
    )
    evidence = draw(
        st.lists(
            st.builds(EvidenceInput, id=IRI, name=st.none() | TEXT, narrative=st.none() | TEXT)
            | st.builds(EvidenceInput, narrative=TEXT),
            min_size=1,
            max_size=3,
        )
    )
    status = draw(
        st.none()
        | st.builds(
            lambda i: BitstringStatusListEntry(
                id=f"https://example.org/status/1#{i}",
                statusPurpose="revocation",
                statusListIndex=str(i),
                statusListCredential="https://example.org/status/1",
            ),
            st.integers(0, 200000),
        )
    )
    from datetime import UTC, datetime, timedelta

    valid_from = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 10**8)))
    return build_credential(
        issuer=Profile(id=draw(IRI), name=draw(st.none() | TEXT)),
        achievement=achievement,
        subject=subject,
        results=results if criteria else None,
        evidence=evidence,
        valid_from=valid_from,
        valid_until=draw(st.none() | st.just(valid_from + timedelta(days=365))),
        status=status,
        credential_id=draw(IRI),
    )


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(credentials())
def test_fast_path_equals_pyld_and_pyoxigraph(doc: dict[str, Any]) -> None:
    assert schema_errors(doc) == [], "builder output must be schema-valid"
    fast = canon.canonicalize_fast_only(doc)
    assert fast is not None, "builder output must stay on the fast path"
    # pyoxigraph's RDFC-1.0 on the same quads, and pyld's JSON-LD-to-RDF with our RDFC-1.0
    assert canon.canonicalize_oxigraph_only(doc) == fast
    assert canon._canonicalize_fallback(doc) == fast
    if not _pyld_escapes_differ(doc):
        assert canon.canonicalize_reference(doc) == fast


def _pyld_escapes_differ(doc: Any) -> bool:
    """pyld leaves control characters other than \\t \\n \\r unescaped, unlike RDFC-1.0."""
    if isinstance(doc, dict):
        return any(_pyld_escapes_differ(k) or _pyld_escapes_differ(v) for k, v in doc.items())
    if isinstance(doc, list):
        return any(_pyld_escapes_differ(v) for v in doc)
    return isinstance(doc, str) and re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", doc) is not None


# Extra JSON values put under terms the contexts define (numbers, booleans, nulls, nested nodes,
# lists) to exercise value conversion beyond what the builder emits.
JSON_SCALAR = (
    st.none() | st.booleans() | st.integers(-(10**22), 10**22) | st.floats(allow_nan=False, allow_infinity=False) | TEXT
)
EXTRA_FIELDS = {
    "credentialSubject": ["creditsEarned", "narrative", "role", "term", "licenseNumber"],
    "achievement": ["creditsAvailable", "fieldOfStudy", "humanCode", "specialization", "version", "inLanguage"],
    "issuer": ["phone", "email", "official", "description"],
}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    credentials(),
    st.sampled_from(sorted(EXTRA_FIELDS)),
    st.data(),
)
def test_fast_path_equals_pyld_on_varied_values(doc: dict[str, Any], where: str, data: st.DataObject) -> None:
    target = {
        "credentialSubject": doc["credentialSubject"],
        "achievement": doc["credentialSubject"]["achievement"],
        "issuer": doc["issuer"],
    }[where]
    key = data.draw(st.sampled_from(EXTRA_FIELDS[where]))
    target[key] = data.draw(JSON_SCALAR | st.lists(JSON_SCALAR, max_size=3))
    target.setdefault("alignment", []).extend(
        data.draw(
            st.lists(st.just({"type": ["Alignment"], "targetName": "x", "targetUrl": "https://e.org/x"}), max_size=2)
        )
    )
    fast = canon.canonicalize_fast_only(doc)
    assert fast is not None
    assert fast == canon._canonicalize_fallback(doc)
    if not _pyld_escapes_differ(doc):
        assert fast == canon.canonicalize_reference(doc)


def _nodes(doc: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(doc, dict):
        out.append(doc)
        for value in doc.values():
            out.extend(_nodes(value))
    elif isinstance(doc, list):
        for item in doc:
            out.extend(_nodes(item))
    return out


@settings(max_examples=max(EXAMPLES // 2, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(credentials(), st.data(), st.from_regex(r"[a-z][A-Za-z]{2,12}", fullmatch=True))
def test_undefined_property_anywhere_is_refused_by_name(doc: dict[str, Any], data: st.DataObject, key: str) -> None:
    nodes = [n for n in _nodes(doc) if "type" in n]
    node = data.draw(st.sampled_from(nodes))
    undefined = f"zz{key}"  # no context defines zz-prefixed terms and there is no @vocab
    node[undefined] = "value"
    assert canon.canonicalize_fast_only(doc) is None
    with pytest.raises(UndefinedTermError) as err:
        canon.canonicalize(doc)
    assert err.value.term == undefined
    assert undefined in str(err.value)


def test_undefined_type_is_refused_by_name() -> None:
    doc = sample_credential()
    doc["issuer"]["type"] = ["Profile", "Organisation"]
    with pytest.raises(UndefinedTermError, match="Organisation"):
        canon.canonicalize(doc)


def test_relative_identifier_is_refused() -> None:
    doc = sample_credential()
    doc["id"] = "credentials/42"
    with pytest.raises(UndefinedTermError, match="credentials/42"):
        canon.canonicalize(doc)


def test_unknown_context_is_an_error_naming_it() -> None:
    doc = sample_credential()
    doc["@context"] = [*doc["@context"], "https://example.org/my-context.jsonld"]
    with pytest.raises(UnknownContextError, match=r"https://example\.org/my-context\.jsonld"):
        canon.canonicalize(doc)
    with pytest.raises(UnknownContextError):
        canon.canonicalize_reference(doc)


def test_vc_v1_context_is_not_bundled() -> None:
    doc = json.loads((INTEROP / "simple_v1.json").read_text())
    with pytest.raises(UnknownContextError, match="2018/credentials/v1"):
        canon.canonicalize(doc)


def test_document_loader_serves_only_pinned_contexts() -> None:
    remote = contexts.document_loader(contexts.VC_V2)
    assert remote["documentUrl"] == contexts.VC_V2
    assert "@context" in remote["document"]
    with pytest.raises(UnknownContextError):
        contexts.document_loader("https://schema.org/")


def test_context_hash_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, _ in contexts.PINNED_CONTEXTS.values():
        data = (contexts._CONTEXT_DIR / name).read_bytes()
        (tmp_path / name).write_bytes(data.replace(b"https://schema.org/name", b"https://evil.example/name"))
    monkeypatch.setattr(contexts, "_CONTEXT_DIR", tmp_path)
    contexts._verified_bytes.cache_clear()
    try:
        with pytest.raises(ContextIntegrityError, match="sha256"):
            contexts.context_bytes(contexts.VC_V2)
    finally:
        monkeypatch.undo()
        contexts._verified_bytes.cache_clear()
    assert contexts.context_bytes(contexts.VC_V2)


def test_inline_context_goes_to_reference_path_and_agrees() -> None:
    doc = sample_credential()
    doc["@context"] = [*doc["@context"], {"grader": "https://grader.example.edu/vocab#"}]
    doc["credentialSubject"]["grader:runnerImage"] = "sha256:abc"
    assert canon.canonicalize_fast_only(doc) is None
    out = canon.canonicalize(doc)
    assert "<https://grader.example.edu/vocab#runnerImage>" in out


def test_control_characters_are_escaped_as_rdfc_1_0() -> None:
    doc = sample_credential()
    doc["name"] = "bell\x07 backspace\x08 formfeed\x0c tab\t del\x7f"
    out = canon.canonicalize(doc)
    assert '"bell\\u0007 backspace\\b formfeed\\f tab\\t del\\u007F"' in out
    assert out == canon.canonicalize_oxigraph_only(doc)


def test_null_values_and_empty_lists_match_reference() -> None:
    doc = sample_credential()
    doc["description"] = None
    doc["credentialSubject"]["achievement"]["tag"] = []
    doc["credentialSubject"]["achievement"]["resultDescription"][0]["allowedValue"] = []
    fast = canon.canonicalize_fast_only(doc)
    assert fast is not None
    assert fast == canon.canonicalize_reference(doc)
    assert "rdf-syntax-ns#nil" in fast


def test_interop_credentials_agree_between_paths() -> None:
    """Credentials written by others, including embedded signed credentials (named graphs)."""
    checked_fast = checked_fallback = 0
    for path in sorted(INTEROP.glob("*.json")):
        doc = json.loads(path.read_text())
        if doc.get("@context", [None])[0] != contexts.VC_V2:
            continue
        unsecured = {k: v for k, v in doc.items() if k != "proof"}
        try:
            reference = canon.canonicalize_reference(unsecured)
        except (UndefinedTermError, UnknownContextError) as exc:
            with pytest.raises(type(exc)):
                canon.canonicalize(unsecured)
            continue
        assert canon._canonicalize_fallback(unsecured) == reference, path.name
        checked_fallback += 1
        fast = canon.canonicalize_fast_only(unsecured)
        if fast is not None:
            assert fast == reference, path.name
            checked_fast += 1
    assert checked_fast >= 5 and checked_fallback > checked_fast  # complete.json needs named graphs


def _twin_results(alignments: int) -> dict[str, Any]:
    """Two identical blank Results, each with identical blank Alignments: nothing tells them apart."""
    doc = sample_credential()
    alignment = {"type": ["Alignment"], "targetName": "x", "targetUrl": "https://example.org/x"}
    result = {"type": ["Result"], "value": "1", "alignment": [dict(alignment) for _ in range(alignments)]}
    doc["credentialSubject"]["result"] = [copy.deepcopy(result), copy.deepcopy(result)]
    return doc


def test_symmetric_blank_nodes_match_pyoxigraph_and_pyld() -> None:
    doc = _twin_results(3)
    out = canon.canonicalize(doc)
    assert out == canon.canonicalize_oxigraph_only(doc) == canon.canonicalize_reference(doc)


def test_poison_dataset_is_refused_quickly() -> None:
    # RDFC-1.0's n-degree step would try 10! orderings of each Result's alignments; canonicalization
    # gives up with an error instead of hanging the verifier.
    with pytest.raises(JsonLdProcessingError, match="too complex"):
        canon.canonicalize(_twin_results(10))


def test_builder_output_is_unchanged_by_canonicalization() -> None:
    doc = sample_credential()
    before = copy.deepcopy(doc)
    canon.canonicalize(doc)
    canon.canonicalize_reference(doc)
    assert doc == before
    assert ACHIEVEMENT.id in json.dumps(doc) and ISSUER.id in json.dumps(doc)
