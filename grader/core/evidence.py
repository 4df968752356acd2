"""Evidence: what a grade was measured against (repository, commit, assignment version and hash,
image, runtime, mode), pinned so that a credential can name it, and how the work was shown to be the
learner's own (grader/core/ownership.py, grader/core/similarity.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from grader.core.ownership import OwnershipProof


class SimilarityCheck(BaseModel):
    """That a similarity check ran, when, and against how many earlier submissions: never whom."""

    checked_at: datetime
    compared: int
    complete: bool


class Evidence(BaseModel):
    """What a grade was measured against: the exact inputs, pinned."""

    repository: str
    commit: str
    ref: str | None
    assignment_id: str
    assignment_version: str
    spec_hash: str
    image: str
    image_id: str
    runtime: str
    mode: str
    tree: str | None = None  # the commit's tree hash: the same files under another commit
    ownership: OwnershipProof | None = None  # None: the assignment asks for no proof
    similarity: SimilarityCheck | None = None  # filled in by the worker's check before issuing
