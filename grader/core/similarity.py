"""Similarity across submissions: the pure parts (which files count, how matches are scored and kept,
and when a submission is flagged).

A fingerprinter (grader.jobs.similarity wraps `copydetect`: winnowing over normalised tokens, as MOSS
and JPlag do) turns a submission's source files into a set of fingerprints once, when it is graded;
later submissions are compared with the stored sets. The score of a pair is the larger of the two
containments (the share of one side's fingerprints found in the other), so a copy padded with extra
code is still caught. Matching regions are computed for the top matches only, from the stored files.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_INCLUDE = ("*.py",)
MAX_SOURCE_FILES = 200
MAX_SOURCE_BYTES = 1024 * 1024  # per submission, all files together
MAX_FILE_BYTES = 256 * 1024
TOP_MATCHES = 5


class SimilarityPolicy(BaseModel):
    """`submission.similarity` in a spec: which files are compared, and the score that flags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # The share of fingerprints in common (0..1] from which a pair is flagged for review.
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.6
    # fnmatch globs over the repository's paths: the files compared (learner's source) ...
    include: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=50)] = list(
        DEFAULT_INCLUDE
    )
    # ... minus the author's provided skeleton (files every learner starts from).
    skeleton: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=200)] = []


class SourceFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    text: str


def selected(path: str, policy: SimilarityPolicy) -> bool:
    """Whether a repository path is learner source under the policy (included, not skeleton)."""
    if any(fnmatch.fnmatchcase(path, glob) for glob in policy.skeleton):
        return False
    return any(fnmatch.fnmatchcase(path, glob) for glob in policy.include)


def select_sources(files: Iterable[tuple[str, bytes]], policy: SimilarityPolicy) -> list[SourceFile]:
    """The learner's source files among (path, content), in path order, within the caps (files, bytes
    per file and in all); binary or non-UTF-8 files are left out."""
    chosen: list[SourceFile] = []
    total = 0
    for path, data in sorted(files):
        if not selected(path, policy) or len(data) > MAX_FILE_BYTES or b"\0" in data:
            continue
        if len(chosen) >= MAX_SOURCE_FILES or total + len(data) > MAX_SOURCE_BYTES:
            break
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        chosen.append(SourceFile(path=path, text=text))
        total += len(data)
    return chosen


class Span(BaseModel):
    """Lines [start, end] (1-based, inclusive) of one file."""

    model_config = ConfigDict(frozen=True)

    path: str
    start: int
    end: int


class Region(BaseModel):
    """Where a pair of files matches: the spans on this submission's side and on the earlier one's."""

    model_config = ConfigDict(frozen=True)

    left_path: str
    right_path: str
    left: list[Span]
    right: list[Span]


class Fingerprinter(Protocol):
    """The similarity engine: fingerprints of a submission, and the matching regions of two."""

    def fingerprint(self, files: Sequence[SourceFile]) -> frozenset[int]: ...

    def regions(self, left: Sequence[SourceFile], right: Sequence[SourceFile]) -> list[Region]: ...


def pair_score(common: int, left: int, right: int) -> float:
    """The larger containment of a pair with `common` fingerprints shared out of `left` and `right`:
    common / min(left, right), 0 when either side has none."""
    if left <= 0 or right <= 0:
        return 0.0
    return round(min(common, left, right) / min(left, right), 4)


class Match(BaseModel):
    """One earlier submission this one resembles. `other_submission_id` is for instructors only."""

    model_config = ConfigDict(frozen=True)

    other_submission_id: str
    score: float
    flagged: bool
    regions: list[Region] = []


class SimilarityOutcome(BaseModel):
    """What one run of the check found: enough for the review queue and (without other learners' data)
    for the credential's evidence."""

    model_config = ConfigDict(frozen=True)

    checked_at: datetime
    compared: int  # earlier submissions compared
    candidates: int  # earlier submissions there were
    complete: bool  # False when the time bound stopped it first
    files: int
    matches: list[Match] = []

    @property
    def flagged(self) -> bool:
        return any(m.flagged for m in self.matches)


def top_matches(scores: dict[str, float], threshold: float, limit: int = TOP_MATCHES) -> list[Match]:
    """The highest-scoring earlier submissions (ties broken by id, so the result is stable), flagged at or
    above `threshold`; pairs with nothing in common are not kept."""
    ranked = sorted(((s, i) for i, s in scores.items() if s > 0), key=lambda item: (-item[0], item[1]))[:limit]
    return [Match(other_submission_id=i, score=s, flagged=s >= threshold) for s, i in ranked]


def line_spans(path: str, text: str, slices: Sequence[tuple[int, int]]) -> list[Span]:
    """Character slices [start, end) of `text` as line spans, merged where they touch."""
    starts = [0]
    for index, char in enumerate(text):
        if char == "\n":
            starts.append(index + 1)

    def line_of(offset: int) -> int:
        low, high = 0, len(starts) - 1
        while low < high:  # the last line start at or before offset
            mid = (low + high + 1) // 2
            if starts[mid] <= offset:
                low = mid
            else:
                high = mid - 1
        return low + 1

    spans: list[Span] = []
    for start, end in sorted(slices):
        first, last = line_of(max(0, start)), line_of(max(start, end - 1))
        if spans and first <= spans[-1].end + 1:
            previous = spans.pop()
            spans.append(Span(path=path, start=previous.start, end=max(previous.end, last)))
        else:
            spans.append(Span(path=path, start=first, end=last))
    return spans
