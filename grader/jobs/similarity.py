"""The worker's authenticity step, after the grade stage and before the issue stage.

`record_work` keeps what a graded run's checks need (commit, tree, ownership proof, the learner's
source files and their fingerprints) beside its grade. `hold_for_review` then runs the duplicate
check (same commit or tree from another learner of the tenant) and the similarity check (bounded in
time and in candidates), writes what they found, puts the similarity check's date into the grade's
evidence, and opens a review when a passing submission is flagged: the issue stage is skipped until
an instructor approves it (grader.jobs.review).

Fingerprints are `copydetect`'s: its tokeniser normalises the code (names become V/F/O, strings S,
comments and layout dropped) and its robust winnowing picks fingerprints from k-grams of that text.
The k-grams are hashed here with a stable hash (copydetect's use Python's per-process `hash`), so a
submission's fingerprints are computed once and compared with later submissions from the store.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from grader.config import Settings, claim_secret
from grader.core.evidence import SimilarityCheck
from grader.core.grade import Grade
from grader.core.issuance_rule import issuable
from grader.core.ownership import OwnershipMethod, OwnershipProof, OwnershipRequirement, expectation
from grader.core.result import GradingResult
from grader.core.review import ReviewState, duplicate_flags, needs_review, ownership_flags, similarity_flags
from grader.core.similarity import (
    TOP_MATCHES,
    Fingerprinter,
    Match,
    Region,
    SimilarityOutcome,
    SimilarityPolicy,
    SourceFile,
    line_spans,
    pair_score,
    top_matches,
)
from grader.core.spec import AssignmentSpec
from grader.jobs.context import Context
from grader.jobs.history import event
from grader.store import authenticity
from grader.store.db import session_scope
from grader.store.models import (
    AssignmentVersion,
    GradeRecord,
    Submission,
    SubmissionState,
    SubmissionWork,
    Tenant,
    utcnow,
)

log = logging.getLogger(__name__)

NOISE = 25  # k: matches shorter than this many normalised characters are ignored
GUARANTEE = 30  # matches at least this long are always found
WINDOW = GUARANTEE - NOISE + 1
MAX_REGION_PAIRS = 20


@lru_cache(maxsize=1)
def _copydetect() -> ModuleType:
    # Imported on first use: it brings numpy and pygments, which `grader --help` and the API never need.
    from copydetect import utils

    module: ModuleType = utils
    return module


def _stable_kgram_hashes(text: str, k: int) -> NDArray[np.int64]:
    if len(text) < k:
        return np.array([], dtype=np.int64)
    data = text.encode("utf-8", "surrogatepass")
    if len(data) == len(text):  # ASCII: byte k-grams are the character k-grams
        grams = (data[i : i + k] for i in range(len(data) - k + 1))
    else:
        grams = (text[i : i + k].encode("utf-8", "surrogatepass") for i in range(len(text) - k + 1))
    values = [int.from_bytes(hashlib.blake2b(g, digest_size=8).digest(), "little", signed=True) for g in grams]
    return np.array(values, dtype=np.int64)


def _normalised(file: SourceFile) -> tuple[str, NDArray[Any]]:
    """copydetect's normalised token text of a file and its offsets back into the original."""
    return _normalised_text(file.path, file.text)


@lru_cache(maxsize=256)
def _normalised_text(path: str, text: str) -> tuple[str, NDArray[Any]]:
    # Cached: the regions of several matches share this submission's files (tokenising is the cost).
    filtered, offsets = _copydetect().filter_code(text, path)
    return str(filtered), offsets


class CopydetectFingerprinter:
    """grader.core.similarity.Fingerprinter over copydetect: fingerprints and matching regions."""

    def fingerprint(self, files: Sequence[SourceFile]) -> frozenset[int]:
        utils = _copydetect()
        chosen: set[int] = set()
        for file in files:
            filtered, _ = _normalised(file)
            hashes = _stable_kgram_hashes(filtered, NOISE)
            if len(hashes) == 0:
                continue
            selected, _ = utils.winnow(hashes, WINDOW, remove_duplicates=True)
            chosen.update(int(h) for h in selected)
        return frozenset(chosen)

    def regions(self, left: Sequence[SourceFile], right: Sequence[SourceFile]) -> list[Region]:
        """The file pairs that share code, with the shared lines on each side, largest first."""
        utils = _copydetect()
        prints = {}
        for side, files in (("L", left), ("R", right)):
            for file in files:
                filtered, offsets = _normalised(file)
                hashes, index = utils.get_document_fingerprints(filtered, NOISE, WINDOW, None)
                prints[(side, file.path)] = (file, offsets, hashes, index)
        found: list[tuple[int, Region]] = []
        for lfile in left:
            _, loffsets, lhashes, lindex = prints[("L", lfile.path)]
            for rfile in right:
                _, roffsets, rhashes, rindex = prints[("R", rfile.path)]
                lidx, ridx = utils.find_fingerprint_overlap(lhashes, rhashes, lindex, rindex)
                if len(lidx) == 0:
                    continue
                lslices = _raw_slices(utils.get_copied_slices(lidx, NOISE), loffsets)
                rslices = _raw_slices(utils.get_copied_slices(ridx, NOISE), roffsets)
                size = sum(end - start for start, end in lslices)
                found.append(
                    (
                        size,
                        Region(
                            left_path=lfile.path,
                            right_path=rfile.path,
                            left=line_spans(lfile.path, lfile.text, lslices),
                            right=line_spans(rfile.path, rfile.text, rslices),
                        ),
                    )
                )
        found.sort(key=lambda item: (-item[0], item[1].left_path, item[1].right_path))
        return [region for _, region in found[:MAX_REGION_PAIRS]]


def _raw_slices(slices: NDArray[Any], offsets: NDArray[Any]) -> list[tuple[int, int]]:
    """Slices of the normalised text as slices of the original file (copydetect's own mapping)."""
    if slices.shape[1] == 0:
        return []
    mapped = np.array(slices, dtype=np.int64)
    if len(offsets) > 0:
        where = np.clip(np.searchsorted(offsets[:, 0], mapped), 0, offsets.shape[0] - 1)
        mapped = mapped + offsets[:, 1][where]
    return [(int(start), int(end)) for start, end in zip(mapped[0], mapped[1], strict=True)]


def pack(fingerprints: frozenset[int]) -> bytes:
    return np.array(sorted(fingerprints), dtype="<i8").tobytes()


def unpack(data: bytes) -> NDArray[np.int64]:
    return np.frombuffer(data, dtype="<i8")


ENGINE: Fingerprinter = CopydetectFingerprinter()


# The worker step -------------------------------------------------------------------------------------


def record_work(session: Session, submission: Submission, result: GradingResult) -> None:
    """Keep the run's work beside its grade (in the grade stage's transaction): commit, tree, ownership
    proof, the learner's source files and their fingerprints."""
    evidence = result.evidence
    files = result.sources
    fingerprints = ENGINE.fingerprint(files) if files else frozenset()
    session.add(
        SubmissionWork(
            tenant_id=submission.tenant_id,
            submission_id=submission.id,
            run=submission.run,
            assignment_id=submission.assignment_id,
            learner=submission.learner,
            commit=evidence.commit,
            tree=evidence.tree,
            ownership=evidence.ownership.model_dump(mode="json") if evidence.ownership else None,
            sources=[f.model_dump() for f in files],
            fingerprints=pack(fingerprints),
        )
    )


def compare(
    session: Session, work: SubmissionWork, policy: SimilarityPolicy, timeout_s: float, max_candidates: int
) -> SimilarityOutcome:
    """Compare one run's fingerprints with other learners' earlier work on the assignment, newest first,
    until done or `timeout_s` has passed; the top matches keep their matching regions."""
    started = time.monotonic()
    mine = unpack(work.fingerprints)
    total = authenticity.count_candidates(session, work)
    scores: dict[str, float] = {}
    compared = 0
    complete = True
    if len(mine):
        for other_id, data in authenticity.similarity_candidates(session, work, max_candidates):
            if time.monotonic() - started > timeout_s:
                complete = False
                break
            theirs = unpack(data)
            compared += 1
            if len(theirs) == 0:
                continue
            common = len(np.intersect1d(mine, theirs, assume_unique=True))
            if common:
                scores[other_id] = pair_score(common, len(mine), len(theirs))
    else:
        compared = min(total, max_candidates)
    complete = complete and compared >= total
    # The regions share the time bound: past it, the remaining matches keep their scores only.
    matches = _with_regions(session, work, top_matches(scores, policy.threshold, TOP_MATCHES), started + timeout_s)
    return SimilarityOutcome(
        checked_at=utcnow(),
        compared=compared,
        candidates=total,
        complete=complete,
        files=len(work.sources),
        matches=matches,
    )


def _with_regions(session: Session, work: SubmissionWork, matches: list[Match], deadline: float) -> list[Match]:
    mine = [SourceFile.model_validate(f) for f in work.sources]
    out = []
    for match in matches:
        if time.monotonic() > deadline:
            out.append(match)
            continue
        other = authenticity.work_of(session, work.tenant_id, match.other_submission_id)
        theirs = [SourceFile.model_validate(f) for f in other.sources] if other is not None else []
        regions = ENGINE.regions(mine, theirs) if theirs else []
        out.append(match.model_copy(update={"regions": regions}))
    return out


def hold_for_review(ctx: Context, submission_id: str, grade_id: str) -> bool:
    """Run the duplicate and similarity checks of this run (once) and hold a flagged passing submission
    for review. Returns whether the issue stage must wait (a pending or rejected review)."""
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        record = session.get(GradeRecord, grade_id)
        assert submission is not None and record is not None
        existing = authenticity.review_of_submission(session, submission.tenant_id, submission_id)
        if existing is not None:
            return existing.state != ReviewState.APPROVED.value
        work = authenticity.work_of(session, submission.tenant_id, submission_id, submission.run)
        if work is None:  # graded before this step existed: nothing to compare
            return False
        version = session.get(AssignmentVersion, record.assignment_version_id)
        assert version is not None
        spec = AssignmentSpec.model_validate(version.spec)
        policy = spec.submission.similarity
        outcome: SimilarityOutcome | None = None
        if work.similarity is not None:
            outcome = SimilarityOutcome.model_validate(work.similarity)
        elif policy.enabled:
            outcome = compare(session, work, policy, ctx.settings.similarity_timeout_s, ctx.settings.similarity_max_candidates)
            work.similarity = outcome.model_dump(mode="json")
        if outcome is not None:
            check = SimilarityCheck(checked_at=outcome.checked_at, compared=outcome.compared, complete=outcome.complete)
            record.evidence = {**record.evidence, "similarity": check.model_dump(mode="json")}
        proof = OwnershipProof.model_validate(work.ownership) if work.ownership else None
        flags = [
            *ownership_flags(proof),
            *duplicate_flags(work.commit, work.tree, work.learner, authenticity.duplicate_candidates(session, work)),
            *similarity_flags(outcome),
        ]
        grade = Grade.model_validate(record.grade)
        if not needs_review(issuable(grade, spec), flags):
            return False
        authenticity.open_review(
            session, submission.tenant_id, submission_id, grade_id, [f.model_dump(mode="json") for f in flags]
        )
    kinds = sorted({f.kind.value for f in flags})
    event(ctx, submission_id, SubmissionState.ISSUING, "review", "held", "credential held for review: " + ", ".join(kinds))
    return True


class Checks:
    """What the grade stage asks of the fetch (the ownership requirement) and keeps (the sources)."""

    def __init__(self, ownership: OwnershipRequirement | None, sources: SimilarityPolicy | None) -> None:
        self.ownership = ownership
        self.sources = sources


def requirements(session: Session, settings: Settings, submission: Submission, spec: AssignmentSpec) -> Checks:
    """The ownership requirement of this submission under its spec (its claim token, or the learner's
    registered keys) and the similarity policy whose files the grade stage keeps."""
    policy = spec.submission
    ownership: OwnershipRequirement | None = None
    if policy.ownership is OwnershipMethod.CLAIM:
        tenant = session.get(Tenant, submission.tenant_id)
        assert tenant is not None
        ownership = OwnershipRequirement(
            method=policy.ownership,
            on_failure=policy.ownership_failure,
            claim_file=policy.claim_file,
            claim=expectation(claim_secret(settings), tenant.slug, spec.id, submission.learner),
        )
    elif policy.ownership is OwnershipMethod.SIGNED:
        ownership = OwnershipRequirement(
            method=policy.ownership,
            on_failure=policy.ownership_failure,
            keys=authenticity.registered_keys(session, submission.tenant_id, submission.learner),
        )
    return Checks(ownership, policy.similarity if policy.similarity.enabled else None)
