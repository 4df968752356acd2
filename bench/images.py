"""Benchmark 5, images: a cold and a cached build of an assignment image by `grader assignment build`
(the runner image below it cached, as on any machine that has graded before). Cold: an assignment id
no image was built for yet, so its packages are downloaded and its image layer built (then removed,
for the next cold sample). Cached: the same command again, which finds the image by its content
hash. Beside them, `docker image inspect` of the same tag: the engine's own lookup, the floor of a
cached build.

    .venv/bin/python -m bench.images [--cold 3] [--cached 10] [--out DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.overhead import GRADER, TEN, import_profile, timed_command  # noqa: E402
from bench.report import Goal, Row, Section, interleaved, now_utc, print_section, write_section  # noqa: E402


def fresh_assignment(work: Path) -> Path:
    """py-ten under an id no image exists for: its assignment image must be built."""
    target = work / f"cold-{uuid.uuid4().hex[:8]}"
    shutil.copytree(TEN, target, ignore=shutil.ignore_patterns("solution", "__pycache__"))
    spec = yaml.safe_load((target / "assignment.yaml").read_text())
    spec["id"] = f"bench-cold-{target.name[5:]}"
    (target / "assignment.yaml").write_text(yaml.safe_dump(spec))
    return target


def build(folder: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([*GRADER, "assignment", "build", str(folder)], capture_output=True, text=True, env=env,
                          check=False)  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"grader assignment build failed: {done.stdout[-1000:]} {done.stderr[-1000:]}")
    match = re.search(r"ready (\S+)", done.stdout)
    if not match:
        raise SystemExit(f"no image tag in: {done.stdout[-500:]}")
    return elapsed, match.group(1)


def run(args: argparse.Namespace) -> Section:
    import os

    started = time.perf_counter()
    section = Section(
        name="images",
        title="5. Images: cold and cached build of an assignment image",
        command=f".venv/bin/python -m bench.images --cold {args.cold} --cached {args.cached}",
        started=now_utc(),
    )
    with tempfile.TemporaryDirectory(prefix="bench-images-") as folder:
        work = Path(folder)
        env = {**os.environ, "GRADER_HOME": str(work / "home")}
        build(TEN, env)  # the runner image (and py-ten's own) exist before anything is timed
        cold: list[float] = []
        for _ in range(args.cold):
            assignment = fresh_assignment(work)
            elapsed, tag = build(assignment, env)
            cold.append(elapsed)
            subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)
        _, tag = build(TEN, env)
        section.profile = [
            f"cached build, start-up: {row}" for row in import_profile([*GRADER, "assignment", "build", str(TEN)], env)
        ]
        samples = interleaved(
            {
                "inspect": lambda: timed_command(["docker", "image", "inspect", "--format", "{{.Id}}", tag]),
                "cached": lambda: build(TEN, env)[0],
            },
            args.cached,
        )
    section.rows += [
        Row(
            figure="`grader assignment build`, image cached",
            unit="s",
            samples=samples["cached"],
            baseline="`docker image inspect` of the tag",
            baseline_samples=samples["inspect"],
            goals=[Goal("value_max", 1.0, "under 1 s")],
        ),
        Row(
            figure="`grader assignment build`, cold (packages downloaded, image layer built)",
            unit="s",
            samples=cold,
            note="runner image cached",
        ),
    ]
    section.notes.append(
        "Cold: a fresh assignment id, so its wheels are downloaded from the package index and its layer built; "
        "the image is removed after each sample. Both through the CLI, so each includes the process's start-up."
    )
    section.seconds = time.perf_counter() - started
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cold", type=int, default=3)
    parser.add_argument("--cached", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args()
    section = run(args)
    write_section(section, args.out)
    print_section(section)


if __name__ == "__main__":
    main()
