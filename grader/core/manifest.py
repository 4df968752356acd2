"""The test manifest of an assignment version: the exact test ids a grade is computed over.

Static discovery (grader/core/testids.py) finds each test function by reading the author's files; it cannot
know how many parameter sets a test has, and a test module that fails to import in a learner's run
reports nothing at all. So the ids a grade counts, parameter sets included, are fixed once, when the
assignment is checked against its reference solution (`grader assignment check --write-manifest`),
and written to `manifest.json` beside `assignment.yaml`, where they become part of the version's
content hash. The judge then counts exactly these: one that does not report is a failed test, so
nothing a learner does can shrink the denominator. Pure: data in, data out.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.core.errors import AuthorFault
from grader.core.testids import base_id

MANIFEST_FILE = "manifest.json"
FORMAT = 1


class Manifest(BaseModel):
    """Suite name -> the test ids of that suite (pytest node ids relative to it, parameters included)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT, ge=FORMAT, le=FORMAT)
    tests: dict[str, list[str]]

    def dumps(self) -> str:
        return json.dumps(self.model_dump(), indent=2, sort_keys=True) + "\n"


class ManifestProblem(AuthorFault, ValueError):
    """The manifest is malformed or disagrees with the tests the author's files define."""


def read_manifest(root: Path) -> Manifest | None:
    """The manifest beside the spec, or None when there is none. Raises ManifestProblem when malformed."""
    path = root / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError) as exc:
        raise ManifestProblem(f"not a test manifest: {str(exc).splitlines()[0]}") from None


def disagreements(manifest: Manifest, static_ids: dict[str, list[str]]) -> list[str]:
    """How the manifest differs from the tests statically found in the author's files (empty if not)."""
    problems = []
    for suite in sorted(set(manifest.tests) | set(static_ids)):
        listed = manifest.tests.get(suite, [])
        bases = {base_id(test_id) for test_id in listed}
        found = set(static_ids.get(suite, []))
        if len(set(listed)) != len(listed):
            problems.append(f"{suite}: test ids repeat")
        if bases - found:
            problems.append(f"{suite}: lists tests the files no longer define: {sorted(bases - found)[:5]}")
        if found - bases:
            problems.append(f"{suite}: lacks tests the files define: {sorted(found - bases)[:5]}")
    return problems


def manifest_from_results(reported: dict[str, list[str]]) -> Manifest:
    """The manifest of a reference run: every test id each suite reported, sorted."""
    return Manifest(tests={suite: sorted(set(ids)) for suite, ids in sorted(reported.items())})
