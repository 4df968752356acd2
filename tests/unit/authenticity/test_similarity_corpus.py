"""Similarity on a small corpus of solutions to py-ledger: the bundled reference, partial and failing
solutions (assignments/py-ledger/solutions) and, in tests/data/similarity, a copy of the reference with its names changed, one with
its functions and methods in another order, and three solutions written independently of it.

Copies are flagged against the original; independently written solutions are not flagged against
each other or against the bundled ones. The bundled partial solution was made by editing the
reference, and is flagged against it too.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest

from grader.core.similarity import SimilarityPolicy, SourceFile, pair_score, select_sources
from grader.jobs.similarity import ENGINE

CORPUS = Path(__file__).resolve().parents[2] / "data" / "similarity"
BUNDLED_SOLUTIONS = Path(__file__).resolve().parents[3] / "assignments" / "py-ledger" / "solutions"
THRESHOLD = SimilarityPolicy().threshold  # the default every assignment gets
INDEPENDENT = ["failing", "independent-a", "independent-b", "independent-c"]
BUNDLED = ["reference", "partial"]


def corpus_dirs() -> list[Path]:
    bundled = [BUNDLED_SOLUTIONS / name for name in ("reference", "partial", "failing")]
    return bundled + [d for d in CORPUS.iterdir() if d.is_dir()]


def sources(name: str) -> list[SourceFile]:
    root = next(d for d in corpus_dirs() if d.name == name)
    files = [(p.relative_to(root).as_posix(), p.read_bytes()) for p in root.rglob("*") if p.is_file()]
    return select_sources(files, SimilarityPolicy())


@pytest.fixture(scope="module")
def prints() -> dict[str, frozenset[int]]:
    return {d.name: ENGINE.fingerprint(sources(d.name)) for d in corpus_dirs()}


def score(prints: dict[str, frozenset[int]], a: str, b: str) -> float:
    return pair_score(len(prints[a] & prints[b]), len(prints[a]), len(prints[b]))


@pytest.mark.parametrize("copy", ["renamed", "reordered"])
def test_a_renamed_or_reordered_copy_is_flagged_against_the_original(prints: dict[str, frozenset[int]], copy: str) -> None:
    assert score(prints, copy, "reference") >= THRESHOLD


def test_the_copies_really_differ_from_the_original_in_text() -> None:
    for copy in ("renamed", "reordered"):
        original = {f.path: f.text for f in sources("reference")}
        changed = {f.path: f.text for f in sources(copy)}
        assert original.keys() == changed.keys()
        assert all(changed[p] != original[p] for p in ("ledger/book.py", "ledger/accounts.py"))


# Every pair but (reference, partial): partial was made from the reference (the test below).
PAIRS = [pair for pair in combinations(INDEPENDENT + BUNDLED, 2) if set(pair) != set(BUNDLED)]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_independent_solutions_are_not_flagged(prints: dict[str, frozenset[int]], a: str, b: str) -> None:
    assert score(prints, a, b) < THRESHOLD


def test_the_partial_solution_made_from_the_reference_is_flagged(prints: dict[str, frozenset[int]]) -> None:
    assert score(prints, "partial", "reference") >= THRESHOLD


def test_the_regions_of_a_copy_point_at_the_same_code_on_both_sides() -> None:
    regions = ENGINE.regions(sources("renamed"), sources("reference"))
    assert regions, "a renamed copy shares code with its original"
    paired = {(r.left_path, r.right_path) for r in regions}
    assert ("ledger/book.py", "ledger/book.py") in paired
    book = next(r for r in regions if r.left_path == r.right_path == "ledger/book.py")
    covered = sum(s.end - s.start + 1 for s in book.left)
    assert covered > 100  # most of book.py's lines (it has 179)
    left_lines = {f.path: f.text.splitlines() for f in sources("renamed")}["ledger/book.py"]
    assert all(1 <= s.start <= s.end <= len(left_lines) for s in book.left)
