"""Evidence: what a grade was measured against (repository, commit, assignment version and hash,
image, runtime, mode), pinned so that a credential can name it."""

from __future__ import annotations

from pydantic import BaseModel


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
