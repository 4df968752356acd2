"""Benchmark 4, credentials: sign and full verification (`verify_credential`: JSON limits, schema,
contexts and terms, RDFC-1.0, proof, key, validity, evidence) per second per core, beside the pyld
way of doing the same (bench/bench_credentials.py has both sides and checks they agree first).

Each round measures every operation once, ours then pyld's, for `--seconds` of CPU time each, pinned
to one core; the figures are medians over the rounds and the ratios ratios of medians. (The stage
costs and the profile of one verification are bench_credentials.py's report, credentials.md.)

    .venv/bin/python -m bench.credential_rates [--rounds 5] [--seconds 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_credentials import (  # noqa: E402
    _rate_once,
    baseline_full_verify,
    baseline_sign,
    check_same_results,
    make_setup,
)
from bench.report import Goal, Row, Section, interleaved, now_utc, print_section, write_section  # noqa: E402


def run(args: argparse.Namespace) -> Section:
    from credentials.proof import sign_document
    from credentials.verify import verify_credential

    started = time.perf_counter()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    setup = make_setup(4)
    check_same_results(setup)
    actions: dict[str, Callable[[], float]] = {
        "sign": lambda: _rate_once(lambda: sign_document(setup.doc, setup.signer, created=setup.created), args.seconds),
        "sign pyld": lambda: _rate_once(lambda: baseline_sign(setup.doc, setup.key, setup.vm, "x"), args.seconds),
        "verify": lambda: _rate_once(lambda: verify_credential(setup.ours_pool.next()), args.seconds),
        "verify pyld": lambda: _rate_once(
            lambda: baseline_full_verify(setup.theirs_pool.next(), setup.public), args.seconds
        ),
    }
    samples = interleaved(actions, args.rounds)
    section = Section(
        name="credentials",
        title="4. Credentials: sign and full verify per second per core",
        command=f".venv/bin/python -m bench.credential_rates --rounds {args.rounds} --seconds {args.seconds:g}",
        started=now_utc(),
        rows=[
            Row(
                figure="sign per second per core",
                unit="per s",
                samples=samples["sign"],
                baseline="pyld (URDNA2015) signing",
                baseline_samples=samples["sign pyld"],
                higher_is_better=True,
            ),
            Row(
                figure="full verify_credential per second per core",
                unit="per s",
                samples=samples["verify"],
                baseline="pyld-based full verification",
                baseline_samples=samples["verify pyld"],
                goals=[Goal("value_min", 1000, ">= 1,000 per s per core")],
                higher_is_better=True,
            ),
        ],
    )
    section.notes.append(
        "Rates per CPU second of this process pinned to one core (CPU time, so other processes on the machine do "
        "not count against either side); 64 distinct credentials verified round robin; 4 rubric criteria. "
        "The cost of each stage of a verification and cProfile's top costs: [credentials.md](credentials.md)."
    )
    section.seconds = time.perf_counter() - started
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per sample")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args()
    section = run(args)
    write_section(section, args.out)
    print_section(section)


if __name__ == "__main__":
    main()
