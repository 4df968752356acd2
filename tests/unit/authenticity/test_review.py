"""The pure review rules: which findings hold a credential, decisions, and what the learner is told."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from grader.core.ownership import OwnershipMethod, OwnershipProof
from grader.core.review import (
    Decision,
    EarlierWork,
    FlagKind,
    ReviewConflict,
    ReviewState,
    decide,
    duplicate_flags,
    learner_message,
    needs_review,
    ownership_flags,
    similarity_flags,
)
from grader.core.similarity import (
    Match,
    SimilarityOutcome,
    SimilarityPolicy,
    line_spans,
    pair_score,
    select_sources,
    top_matches,
)
from grader.core.spec import SpecError, parse_spec
from tests.conftest import LEDGER_DIR


def work(sid: str, learner: str, commit: str, tree: str | None) -> EarlierWork:
    return EarlierWork(submission_id=sid, learner=learner, commit=commit, tree=tree)


def test_the_same_commit_or_tree_from_another_learner_is_flagged_but_not_ones_own() -> None:
    earlier = [
        work("s1", "bob", "c" * 40, "t" * 40),
        work("s2", "cat", "d" * 40, "t" * 40),
        work("s3", "ann", "c" * 40, "t" * 40),
        work("s4", "dan", "e" * 40, "u" * 40),
    ]
    flags = duplicate_flags("c" * 40, "t" * 40, "ann", earlier)
    assert [(f.kind, f.other_submission_id) for f in flags] == [
        (FlagKind.DUPLICATE_COMMIT, "s1"),
        (FlagKind.DUPLICATE_TREE, "s2"),
    ]
    assert all("another learner" in f.detail and "bob" not in f.detail for f in flags)


def test_only_a_failed_ownership_proof_is_a_flag() -> None:
    assert ownership_flags(None) == []
    assert ownership_flags(OwnershipProof(method=OwnershipMethod.CLAIM, verified=True)) == []
    failed = OwnershipProof(method=OwnershipMethod.SIGNED, verified=False, rule="unsigned", detail="not signed")
    assert [f.kind for f in ownership_flags(failed)] == [FlagKind.OWNERSHIP]


def test_similarity_flags_are_the_matches_at_or_above_the_threshold() -> None:
    matches = top_matches({"a": 0.9, "b": 0.6, "c": 0.59, "d": 0.0, "e": 0.75}, 0.6, limit=4)
    assert [(m.other_submission_id, m.flagged) for m in matches] == [("a", True), ("e", True), ("b", True), ("c", False)]
    outcome = SimilarityOutcome(
        checked_at=datetime(2026, 1, 1, tzinfo=UTC), compared=4, candidates=4, complete=True, files=1, matches=matches
    )
    assert outcome.flagged
    assert [f.other_submission_id for f in similarity_flags(outcome)] == ["a", "e", "b"]
    assert similarity_flags(None) == []


def test_pair_score_is_the_larger_containment() -> None:
    assert pair_score(50, 100, 60) == round(50 / 60, 4)
    assert pair_score(0, 100, 60) == 0.0
    assert pair_score(5, 0, 60) == 0.0


def test_nothing_waits_without_a_flag_or_without_a_credential_to_issue() -> None:
    flag = ownership_flags(OwnershipProof(method=OwnershipMethod.CLAIM, verified=False, rule="r", detail="d"))
    assert needs_review(True, flag)
    assert not needs_review(True, [])
    assert not needs_review(False, flag)


def test_a_decision_moves_a_pending_review_once() -> None:
    assert decide(ReviewState.PENDING, True) is ReviewState.APPROVED
    assert decide(ReviewState.PENDING, False) is ReviewState.REJECTED
    assert decide(ReviewState.APPROVED, True) is ReviewState.APPROVED  # a retried approval
    with pytest.raises(ReviewConflict, match="already approved"):
        decide(ReviewState.APPROVED, False)
    with pytest.raises(ReviewConflict, match="already rejected"):
        decide(ReviewState.REJECTED, True)


def test_a_rejection_needs_a_reason_and_the_learner_reads_it() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        Decision(approve=False, reason="   ").checked_reason()
    assert Decision(approve=True).checked_reason() == ""
    assert "copied from elsewhere" in learner_message(ReviewState.REJECTED, "copied from elsewhere")
    assert "waits" in learner_message(ReviewState.PENDING, "")


def test_line_spans_merge_touching_slices() -> None:
    text = "a\nbb\nccc\ndddd\n"
    spans = line_spans("f.py", text, [(0, 1), (2, 4), (10, 12)])
    assert [(s.start, s.end) for s in spans] == [(1, 2), (4, 4)]


def test_sources_leave_out_the_skeleton_binaries_and_other_files() -> None:
    policy = SimilarityPolicy(skeleton=["ledger/__init__.py"])
    chosen = select_sources(
        [
            ("ledger/__init__.py", b"from .x import *\n"),
            ("ledger/book.py", b"x = 1\n"),
            ("ledger/blob.py", b"\0\1\2"),
            ("ledger/latin.py", b"\xe9\n"),
            ("README.md", b"# hi\n"),
        ],
        policy,
    )
    assert [f.path for f in chosen] == ["ledger/book.py"]


def spec_with(submission: dict[str, object]) -> str:
    data = yaml.safe_load((LEDGER_DIR / "assignment.yaml").read_text())
    data["submission"] = {**data.get("submission", {}), **submission}
    return yaml.safe_dump(data)


def test_the_spec_names_the_method_the_claim_file_and_the_similarity_policy() -> None:
    spec = parse_spec(
        spec_with(
            {
                "ownership": "signed",
                "ownership_failure": "review",
                "claim_file": "CLAIM.txt",
                "similarity": {"threshold": 0.7, "skeleton": ["ledger/__init__.py"]},
            }
        )
    )
    policy = spec.submission
    assert policy.ownership is OwnershipMethod.SIGNED and policy.ownership_failure.value == "review"
    assert policy.claim_file == "CLAIM.txt" and policy.similarity.threshold == 0.7
    default = parse_spec(spec_with({})).submission
    assert default.ownership is OwnershipMethod.NONE and default.claim_file == ".grader-claim"
    assert default.similarity.enabled


@pytest.mark.parametrize(
    ("submission", "field", "words"),
    [
        ({"ownership": "maybe"}, "submission.ownership", "'none', 'claim' or 'signed'"),
        ({"claim_file": "../x"}, "submission.claim_file", "plain relative path"),
        ({"similarity": {"threshold": 0}}, "submission.similarity.threshold", "greater than 0"),
        ({"similarity": {"treshold": 0.5}}, "submission.similarity.treshold", "unknown field"),
        ({"ownership_failure": "ignore"}, "submission.ownership_failure", "'refuse' or 'review'"),
    ],
)
def test_a_bad_authenticity_field_is_named(submission: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(spec_with(submission))
    assert any(i.field == field and words in i.message for i in raised.value.issues), raised.value.issues


def test_a_match_keeps_no_learner_data_but_the_submission_id() -> None:
    assert set(Match.model_fields) == {"other_submission_id", "score", "flagged", "regions"}
