"""The fast JSON-LD-to-RDF path's cached conversion plans: whatever a document looks like, the fast
path either hands it to the reference path or produces what the reference path produces, with or
without its caches."""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credentials import canon, dataset, jsonld_context, nquads, verify
from credentials.contexts import PINNED_CONTEXTS, load_context
from credentials.did import did_key, did_key_verification_method
from credentials.errors import UndefinedTermError
from credentials.models import Profile
from credentials.proof import Ed25519Signer, sign_credential
from tests.unit.credentials.credsamples import sample_credential

EXAMPLES = int(os.environ.get("CREDENTIALS_HYPOTHESIS_EXAMPLES", "60"))


def _context_terms() -> list[str]:
    """Every key of the bundled contexts, scoped ones included."""
    terms: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                terms.add(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for url in PINNED_CONTEXTS:
        walk(load_context(url))
    return sorted(terms)


TERMS = [term for term in _context_terms() if term != "@context"]  # the document keeps its contexts
PLAIN_TERMS = [term for term in TERMS if not term.startswith("@")]
ODD_KEYS = ["@id", "@type", "@value", "@list", "@foo", "id", "type", "cred:issuer", "zzUndefined"]
ODD_VALUES: list[Any] = [
    None,
    [],
    [None],
    [["a"]],
    1,
    -3,
    2.5,
    1e22,
    True,
    "",
    "x",
    "urn:x",
    "_:b1",
    "relative/iri",
    "https://e.org/a b",
    "@id",
    "@type",
    'q"uote\\',
    "\u0001ctl",
    "é \u2028 😀",
    {},
    {"id": "urn:a"},
    {"id": "_:q"},
    {"id": "@type"},
    {"type": "Profile"},
    {"type": ["Achievement", "Profile"]},
    {"type": 3},
    {"@value": "x"},
    {"@context": {"a": "urn:a"}},
    {"type": "Alignment", "targetName": "t", "targetUrl": "https://e.org/x"},
    ["x", {"id": "urn:y"}],
]


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


SCALARS: list[Any] = ["Full", 'a "quoted" \\ name', "line1\nline2", "é 😀", 0, 7, -1.5, 1e21, True, None]


@st.composite
def mutated_credentials(draw: st.DrawFn) -> dict[str, Any]:
    """A sample credential with a few keys added, renamed, reordered, retyped, copied or given odd
    values (most changes keep it JSON-LD the fast path converts)."""
    doc = sample_credential()
    for _ in range(draw(st.integers(1, 3))):
        nodes = _nodes(doc)
        node = draw(st.sampled_from(nodes))
        key = draw(st.sampled_from(TERMS + ODD_KEYS))
        action = draw(st.sampled_from(["scalar", "scalar", "copy", "copy", "reorder", "rename", "type", "odd"]))
        if action == "scalar":
            # a key the node has (so defined where it is) or any term
            known = sorted(k for k in node if k not in ("id", "type", "@context")) or PLAIN_TERMS
            name = draw(st.sampled_from(known) | st.sampled_from(PLAIN_TERMS))
            node[name] = draw(st.sampled_from(SCALARS) | st.lists(st.sampled_from(SCALARS)))
        elif action == "copy":
            source = copy.deepcopy(draw(st.sampled_from(nodes[1:])))
            target = draw(st.sampled_from(sorted(node))) if node and draw(st.booleans()) else key.lstrip("@")
            existing = node.get(target)
            node[target] = [*existing, source] if isinstance(existing, list) else source
        elif action == "reorder":
            items = list(node.items())
            node.clear()
            node.update(reversed(items))
        elif action == "rename" and node:
            node[key] = node.pop(draw(st.sampled_from(sorted(node))))
        elif action == "type":
            node["type"] = draw(st.sampled_from([key, [key, "Profile"], ["Evidence"], "Achievement"]))
        else:
            node[key] = copy.deepcopy(draw(st.sampled_from([*ODD_VALUES, draw(st.sampled_from(TERMS))])))
    fresh: dict[str, Any] = json.loads(json.dumps(doc))  # fresh objects, as a verifier parses them
    return fresh


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_credentials())
def test_fast_path_agrees_with_reference_on_mutated_documents(doc: dict[str, Any]) -> None:
    fast = canon.canonicalize_fast_only(doc)
    if fast is None:
        return  # outside the fast path's subset: the reference path decides
    assert fast == canon._canonicalize_fallback(doc)
    assert canon.to_quads(doc) == canon.to_quads(copy.deepcopy(doc))  # planned once, then reused


@settings(max_examples=max(EXAMPLES // 3, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_credentials())
def test_conversion_is_the_same_without_plan_caches(doc: dict[str, Any]) -> None:
    cached = canon.to_quads(doc)
    with pytest.MonkeyPatch.context() as patch:
        # fresh contexts (their plans start empty) that keep no plan
        patch.setattr(jsonld_context, "_PLAN_LIMIT", 0)
        patch.setattr(jsonld_context, "_TOP_CONTEXTS", {})
        patch.setattr(jsonld_context, "_INITIAL", jsonld_context.Context({}, None, None))
        assert canon.to_quads(copy.deepcopy(doc)) == cached


def test_plans_stay_within_their_budget() -> None:
    """With room for a few plans only, they are dropped and made again: same quads, bounded memory;
    plans of long keys are not kept at all."""
    doc = json.loads(json.dumps(sample_credential()))
    expected = canon.to_quads(doc)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsonld_context, "_TOP_CONTEXTS", {})
        patch.setattr(jsonld_context, "_INITIAL", jsonld_context.Context({}, None, None))
        patch.setattr(jsonld_context, "_PLAN_LIMIT", 5)
        for _ in range(3):
            assert canon.to_quads(copy.deepcopy(doc)) == expected
            assert jsonld_context._plans_kept <= 5
        patch.setattr(jsonld_context, "_PLAN_LIMIT", 10_000)
        assert canon.to_quads(copy.deepcopy(doc)) == expected
        kept = jsonld_context._plans_kept
        long_key = {**copy.deepcopy(doc), "x" * (jsonld_context._PLAN_KEY_CHARS + 1): "value"}
        assert canon.to_quads(long_key) is None  # an undefined term: planned, refused, not kept
        assert jsonld_context._plans_kept == kept


@given(st.text())
def test_plain_text_needs_no_escaping(text: str) -> None:
    if nquads.is_plain(text):
        assert nquads.escape_literal(text) == text


def test_keyword_as_identifier_is_refused() -> None:
    doc = sample_credential()
    doc["credentialSubject"]["achievement"]["criteria"]["id"] = "@type"
    assert canon.canonicalize_fast_only(doc) is None
    with pytest.raises(UndefinedTermError):
        canon.canonicalize(doc)


def test_verification_derives_the_signed_dataset_once() -> None:
    """The terms check converts the credential once; the proof check reuses its canonical form and
    the facts are read from the same quads (only the proof configuration is converted besides)."""
    key = Ed25519PrivateKey.generate()
    signer = Ed25519Signer(key, did_key_verification_method(key.public_key()))
    text = json.dumps(
        sign_credential(sample_credential(issuer=Profile(id=did_key(key.public_key()), name="G")), signer)
    )
    converted: list[dict[str, Any]] = []
    derived: list[list[canon.Quad]] = []
    read: list[Any] = []
    to_quads, canonical_form = canon.to_quads, canon.canonical_form

    def counting_to_quads(doc: dict[str, Any]) -> list[canon.Quad] | None:
        converted.append(doc)
        return to_quads(doc)

    def recording_canonical_form(doc: dict[str, Any]) -> tuple[str, list[canon.Quad]]:
        result = canonical_form(doc)
        derived.append(result[1])
        return result

    def recording_view(data: Any, json_id: str | None = None) -> Any:
        read.append(data)
        return dataset.credential_view(data, json_id)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(canon, "to_quads", counting_to_quads)
        patch.setattr(canon, "canonical_form", recording_canonical_form)
        patch.setattr(verify, "credential_view", recording_view)
        assert verify.verify_credential(text, now=datetime(2025, 1, 1, tzinfo=UTC)).valid
    assert ["credentialSubject" in doc for doc in converted] == [True, False]  # the credential, the proof options
    assert "proofPurpose" in converted[1]
    assert len(derived) == 1 and len(read) == 1 and read[0] is derived[0]
