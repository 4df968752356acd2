"""Spec bounds: every number and duration has a sane maximum, and `grader assignment validate` refuses a
value past it with the field named (a cooldown past the calendar, an infinite score or a century-long
validity would otherwise pass and break a later stage)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from grader.cli.main import app
from grader.core.spec import MAX_ATTEMPTS, MAX_COOLDOWN_S, MAX_POINTS, SpecError, load_assignment
from tests.conftest import LEDGER_DIR

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    def edit(spec: dict[str, Any]) -> None:
        node: Any = spec
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[last] = value

    return edit


def ledger_with(tmp_path: Path, edit: Edit, raw: str | None = None) -> Path:
    target = tmp_path / "assignment"
    shutil.copytree(LEDGER_DIR, target, ignore=shutil.ignore_patterns("solutions", "__pycache__"))
    spec = yaml.safe_load((target / "assignment.yaml").read_text())
    edit(spec)
    text = yaml.safe_dump(spec)
    if raw is not None:  # a YAML spelling safe_dump would not write (e.g. `.inf`)
        text = text.replace("__RAW__", raw)
    (target / "assignment.yaml").write_text(text)
    return target


REFUSED = [
    ("submission.cooldown_s", _set("submission.cooldown_s", 10**17), None),
    ("submission.cooldown_s", _set("submission.cooldown_s", MAX_COOLDOWN_S + 1), None),
    ("submission.max_attempts", _set("submission.max_attempts", MAX_ATTEMPTS + 1), None),
    ("submission.due", _set("submission.due", "9999-12-31T00:00:00Z"), None),
    ("submission.due", _set("submission.due", "2027-01-31T23:59:00"), None),
    ("credential.valid_for", _set("credential.valid_for", "P9000Y"), None),
    ("credential.valid_for", _set("credential.valid_for", "PT9999999H"), None),
    ("rubric.criteria[0].points", _set("rubric.criteria.0.points", "__RAW__"), ".inf"),
    ("rubric.criteria[0].points", _set("rubric.criteria.0.points", "__RAW__"), ".nan"),
    ("rubric.criteria[0].points", _set("rubric.criteria.0.points", MAX_POINTS + 1), None),
    ("rubric.criteria[0].levels.Exemplary", _set("rubric.criteria.0.levels.Exemplary", "__RAW__"), ".inf"),
    ("rubric.pass.min_percent", _set("rubric.pass.min_percent", "__RAW__"), ".nan"),
    ("limits.cpus", _set("limits.cpus", "__RAW__"), ".inf"),
    ("limits.timeout_s", _set("limits.timeout_s", 10**12), None),
    ("limits.call_timeout_s", _set("limits.call_timeout_s", "__RAW__"), ".inf"),
]


@pytest.mark.parametrize(("field", "edit", "raw"), REFUSED, ids=[f"{f}={r or i}" for i, (f, _, r) in enumerate(REFUSED)])
def test_a_value_past_its_bound_is_refused_with_the_field_named(tmp_path: Path, field: str, edit: Edit, raw: str | None) -> None:
    with pytest.raises(SpecError) as caught:
        load_assignment(ledger_with(tmp_path, edit, raw))
    assert field in [issue.field for issue in caught.value.issues], caught.value.issues


def test_values_at_their_bounds_are_taken(tmp_path: Path) -> None:
    def at_bounds(spec: dict[str, Any]) -> None:
        spec["submission"].update(max_attempts=MAX_ATTEMPTS, cooldown_s=MAX_COOLDOWN_S, due="2030-06-30T12:00:00+02:00")
        spec["credential"]["valid_for"] = "P100Y"

    loaded = load_assignment(ledger_with(tmp_path, at_bounds))
    assert loaded.spec.submission.cooldown_s == MAX_COOLDOWN_S
    assert loaded.spec.submission.max_attempts == MAX_ATTEMPTS
    assert loaded.spec.submission.due is not None and loaded.spec.submission.due.utcoffset() is not None


def test_validate_command_names_the_field_and_exits_1(tmp_path: Path) -> None:
    folder = ledger_with(tmp_path, _set("submission.cooldown_s", 10**17))
    run = CliRunner().invoke(app, ["assignment", "validate", str(folder)], env={"COLUMNS": "300"})
    assert run.exit_code == 1, run.output
    assert "submission.cooldown_s" in run.output
    assert "less than or equal to" in run.output
