"""The review before issuing: which findings hold a passing submission's credential, and the decisions
an instructor can make. Pure; grader.jobs.review applies them to the store.

A submission is held when its grade would earn a credential and at least one flag was raised: the
ownership check failed (for a spec that sends failures to review), another learner of the tenant
submitted the same commit or the same tree first, or its similarity to an earlier submission reached
the assignment's threshold. Without flags nothing waits. An approval issues the credential (once); a
rejection issues none and gives the learner its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from grader.core.ownership import OwnershipProof
from grader.core.similarity import SimilarityOutcome

MAX_REASON = 2000


class FlagKind(StrEnum):
    OWNERSHIP = "ownership"
    DUPLICATE_COMMIT = "duplicate-commit"
    DUPLICATE_TREE = "duplicate-tree"
    SIMILARITY = "similarity"


class ReviewState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Flag(BaseModel):
    """One finding. `other_submission_id` names the earlier submission for the instructor; the learner
    sees only `kind` and never who else is involved."""

    model_config = ConfigDict(frozen=True)

    kind: FlagKind
    detail: str
    other_submission_id: str | None = None
    score: float | None = None


class EarlierWork(BaseModel):
    """An earlier submission of the tenant, as the duplicate check sees it."""

    model_config = ConfigDict(frozen=True)

    submission_id: str
    learner: str
    commit: str | None
    tree: str | None


def duplicate_flags(commit: str, tree: str | None, learner: str, earlier: Iterable[EarlierWork]) -> list[Flag]:
    """Flags for the same commit (or else the same tree) submitted earlier by another learner: one per
    earlier submission, the commit taking precedence. A learner's own resubmission is never flagged."""
    flags: list[Flag] = []
    for work in earlier:
        if work.learner == learner:
            continue
        if work.commit == commit:
            flags.append(
                Flag(
                    kind=FlagKind.DUPLICATE_COMMIT,
                    detail=f"another learner submitted the same commit {commit[:12]} earlier",
                    other_submission_id=work.submission_id,
                )
            )
        elif tree is not None and work.tree == tree:
            flags.append(
                Flag(
                    kind=FlagKind.DUPLICATE_TREE,
                    detail=f"another learner submitted a commit with the same files (tree {tree[:12]}) earlier",
                    other_submission_id=work.submission_id,
                )
            )
    return flags


def ownership_flags(proof: OwnershipProof | None) -> list[Flag]:
    """A failed ownership check that the spec sent to review (a refused one never reaches here)."""
    if proof is None or proof.verified:
        return []
    return [Flag(kind=FlagKind.OWNERSHIP, detail=f"{proof.rule}: {proof.detail}")]


def similarity_flags(outcome: SimilarityOutcome | None) -> list[Flag]:
    if outcome is None:
        return []
    return [
        Flag(
            kind=FlagKind.SIMILARITY,
            detail=f"{m.score:.0%} of fingerprints in common with an earlier submission",
            other_submission_id=m.other_submission_id,
            score=m.score,
        )
        for m in outcome.matches
        if m.flagged
    ]


def needs_review(issuable: bool, flags: Sequence[Flag]) -> bool:
    """Whether the credential waits for an instructor: only one that would be issued, and only with a flag."""
    return issuable and bool(flags)


class Decision(BaseModel):
    """An instructor's decision; a rejection needs a reason (the learner reads it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approve: bool
    reason: Annotated[str, Field(max_length=MAX_REASON)] = ""

    def checked_reason(self) -> str:
        """The reason, stripped. Raises ValueError when a rejection has none."""
        reason = self.reason.strip()
        if not self.approve and not reason:
            raise ValueError("a rejection needs a reason: the learner reads it")
        return reason


class ReviewConflict(ValueError):
    """A decision on a review that was already decided."""


def decide(state: ReviewState, approve: bool) -> ReviewState:
    """The state after a decision. Raises ReviewConflict unless the review is pending (deciding twice the
    same way is allowed, so a retried request is harmless)."""
    target = ReviewState.APPROVED if approve else ReviewState.REJECTED
    if state is ReviewState.PENDING or state is target:
        return target
    raise ReviewConflict(f"this review was already {state.value}; it cannot be {target.value} now")


def learner_message(state: ReviewState, reason: str) -> str:
    """What the learner is told about a held credential (never the flags' other submissions)."""
    if state is ReviewState.PENDING:
        return "Your submission passed; its credential waits for an instructor's review of its authenticity."
    if state is ReviewState.APPROVED:
        return "An instructor reviewed your submission and approved it; its credential was issued."
    return f"An instructor reviewed your submission and did not issue a credential: {reason}"
