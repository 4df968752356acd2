"""Benchmark: the similarity check of one submission against 1,000 earlier ones of the same assignment,
beside the time of grading that submission.

The store (SQLite, as on one machine) holds 1,000 earlier submissions of other learners: each is one of
the corpus's solutions (py-ledger's bundled ones and tests/data/similarity) with a share of its fingerprints replaced at random, so
no two are alike and every set has the size real code gives. Measured, per round:

- fingerprinting the new submission (what the grade stage adds: copydetect's tokeniser and winnowing);
- the check itself (grader.jobs.similarity.compare): reading the candidates' fingerprints from the
  store, intersecting, ranking, and computing the matching regions of the top matches.

The grading time is one real grade of the same solution (py-ledger's reference: the loopback git
server, the Docker sandbox in isolated unit mode, the judge), unless `--no-grade`, which reads the
isolated grade's median from docs/benchmarks/grading.json instead (a 10-test suite, `make bench`).

    .venv/bin/python bench/bench_similarity.py [--earlier 1000] [--rounds 5] [--out docs/benchmarks]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.config import Settings  # noqa: E402
from grader.core.similarity import SimilarityPolicy, SourceFile, select_sources  # noqa: E402
from grader.core.spec import load_assignment  # noqa: E402
from grader.jobs.similarity import ENGINE, _normalised_text, compare, pack  # noqa: E402
from grader.store import catalog, tenancy  # noqa: E402
from grader.store.archive import pack_folder, sha256  # noqa: E402
from grader.store.db import make_engine, session_factory, session_scope, upgrade  # noqa: E402
from grader.store.models import Submission, SubmissionWork  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "similarity"
LEDGER = ROOT / "assignments" / "py-ledger"
REPLACED = 0.2  # the share of an earlier submission's fingerprints replaced by random ones


def corpus_dirs() -> list[Path]:
    bundled = [LEDGER / "solutions" / name for name in ("reference", "partial", "failing")]
    return bundled + [d for d in sorted(CORPUS.iterdir()) if d.is_dir()]


def corpus_sources(root: Path) -> list[SourceFile]:
    return select_sources([(p.relative_to(root).as_posix(), p.read_bytes()) for p in root.rglob("*") if p.is_file()], SimilarityPolicy())


def populate(url: str, earlier: int, rng: random.Random) -> tuple[str, str]:
    """A store with `earlier` submissions of other learners and one new one; returns (tenant, new work id)."""
    upgrade(url)
    factory = session_factory(make_engine(url))
    bases = {d.name: corpus_sources(d) for d in corpus_dirs()}
    prints = {name: sorted(ENGINE.fingerprint(files)) for name, files in bases.items()}
    archive = pack_folder(LEDGER)
    with session_scope(factory) as session:
        tenant = tenancy.create_tenant(session, f"bench-{uuid.uuid4().hex[:6]}", "Bench")
        published = catalog.publish_version(session, tenant.id, load_assignment(LEDGER), "", archive, sha256(archive))
        assignment_id, version_id = published.assignment.id, published.version.id
        names = sorted(n for n in bases if n != "renamed")  # "renamed" is the new submission
        for index in range(earlier + 1):
            new = index == earlier
            name = "renamed" if new else names[index % len(names)]
            row = Submission(
                tenant_id=tenant.id,
                assignment_id=assignment_id,
                assignment_version_id=version_id,
                learner=f"learner-{index}@example.org",
                repo_url=f"https://git.example/{index}.git",
                attempt=1,
                request_hash="bench",
            )
            session.add(row)
            session.flush()
            fingerprints = set(prints[name])
            if not new:
                for value in rng.sample(sorted(fingerprints), int(len(fingerprints) * REPLACED)):
                    fingerprints.discard(value)
                    fingerprints.add(rng.getrandbits(63))
            work = SubmissionWork(
                tenant_id=tenant.id,
                submission_id=row.id,
                run=1,
                assignment_id=assignment_id,
                learner=row.learner,
                commit=f"{index:040x}",
                tree=f"{index:040x}",
                # A line of its own in every file: no two submissions' files are the same text (so none is
                # tokenised once for several), while their normalised tokens stay those of the base.
                sources=[{"path": f.path, "text": f"{f.text}\n# submission {index}\n"} for f in bases[name]],
                fingerprints=pack(frozenset(fingerprints)),
            )
            session.add(work)
            session.flush()
            new_id = work.id
    return tenant.id, new_id


def measure(url: str, work_id: str, rounds: int) -> dict[str, Any]:
    factory = session_factory(make_engine(url))
    files = corpus_sources(CORPUS / "renamed")
    policy = SimilarityPolicy()
    fingerprint_s, check_s, outcome = [], [], None
    for _ in range(rounds):
        _normalised_text.cache_clear()  # every round tokenises afresh, as a worker does for a new submission
        started = time.perf_counter()
        ENGINE.fingerprint(files)
        fingerprint_s.append(time.perf_counter() - started)
        with session_scope(factory) as session:
            work = session.get(SubmissionWork, work_id)
            assert work is not None
            _normalised_text.cache_clear()
            started = time.perf_counter()
            outcome = compare(session, work, policy, timeout_s=600, max_candidates=100_000)
            check_s.append(time.perf_counter() - started)
    assert outcome is not None
    return {
        "compared": outcome.compared,
        "flagged": sum(m.flagged for m in outcome.matches),
        "kept": len(outcome.matches),
        "fingerprint_s": statistics.median(fingerprint_s),
        "check_s": statistics.median(check_s),
        "samples_check_s": check_s,
    }


def grading_time(no_grade: bool) -> tuple[float, str]:
    """The time of one real grade of the reference solution, or the recorded isolated grade's median."""
    if no_grade:
        recorded = json.loads((ROOT / "docs" / "benchmarks" / "grading.json").read_text())
        median = float(recorded[0]["medians_s"]["isolated grade"])
        return median, f"isolated grade of a 10-test suite, {recorded[0]['runtime']} (docs/benchmarks/grading.json)"
    from grader.demo.gitserver import LoopbackGitServer
    from grader.grading.pipeline import grade_repository

    ledger = load_assignment(LEDGER)
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp, LoopbackGitServer(Path(tmp) / "git") as server:
        url = server.publish("reference", LEDGER / "solutions" / "reference")
        settings = Settings(home=Path(tmp) / "home", allowed_hosts=[server.host], allowed_schemes=["http", "https"])
        grade_repository(url, ledger, settings)  # builds (or finds) the image: not part of a grade's time
        started = time.perf_counter()
        result = grade_repository(url, ledger, settings)
        elapsed = time.perf_counter() - started
    return elapsed, f"one grade of py-ledger's reference ({len(result.grade.tests)} tests, {result.evidence.runtime})"


def report(figures: dict[str, Any], grade_s: float, grade_what: str, earlier: int) -> str:
    share = figures["check_s"] / grade_s
    return "\n".join(
        [
            f"# Similarity benchmark: one submission against {earlier:,} earlier ones",
            "",
            "Command: `.venv/bin/python bench/bench_similarity.py` (part of `make bench`).",
            "",
            "| step | median |",
            "|---|---|",
            f"| fingerprinting the submission (in the grade stage) | {figures['fingerprint_s'] * 1000:.0f} ms |",
            f"| the check: {figures['compared']:,} earlier submissions compared, top {figures['kept']} kept with regions "
            f"({figures['flagged']} flagged) | "
            f"{figures['check_s'] * 1000:.0f} ms |",
            f"| grading: {grade_what} | {grade_s:.2f} s |",
            "",
            f"The check takes {share:.1%} of the grading time.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--earlier", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--no-grade", action="store_true", help="read the grading time from docs/benchmarks")
    parser.add_argument("--out", type=Path, default=None, help="write similarity.md and similarity.json here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-similarity-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        _, work_id = populate(url, args.earlier, random.Random(args.seed))
        figures = measure(url, work_id, args.rounds)
    grade_s, grade_what = grading_time(args.no_grade)
    text = report(figures, grade_s, grade_what, args.earlier)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "similarity.md").write_text(text)
        (args.out / "similarity.json").write_text(
            json.dumps({**figures, "earlier": args.earlier, "grading_s": grade_s, "grading": grade_what}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
