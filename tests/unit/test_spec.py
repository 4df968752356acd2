from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from grader.core.spec import SpecError, load_assignment, parse_spec
from tests.conftest import LEDGER_DIR


def ledger_copy(tmp_path: Path, edit: dict | None = None) -> Path:
    target = tmp_path / "assignment"
    shutil.copytree(LEDGER_DIR, target, ignore=shutil.ignore_patterns("solutions", "__pycache__"))
    if edit is not None:
        data = yaml.safe_load((target / "assignment.yaml").read_text())
        edit_fn = edit.pop("__fn__", None)
        data.update(edit)
        if edit_fn:
            edit_fn(data)
        (target / "assignment.yaml").write_text(yaml.safe_dump(data))
    return target


def issues_of(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_assignment(path)
    return [str(i) for i in caught.value.issues]


def test_bundled_assignment_is_valid() -> None:
    loaded = load_assignment(LEDGER_DIR)
    assert loaded.spec.id == "py-ledger"
    assert sum(len(v) for v in loaded.test_ids.values()) >= 15
    assert loaded.spec_hash.startswith("sha256:")
    assert set(loaded.criterion_of.values()) == {c.id for c in loaded.spec.rubric.criteria}


def test_hash_changes_with_any_test_file(tmp_path: Path) -> None:
    copy = ledger_copy(tmp_path)
    before = load_assignment(copy).spec_hash
    test_file = next((copy / "tests" / "hidden").glob("test_*.py"))
    test_file.write_text(test_file.read_text() + "\n# changed\n")
    assert load_assignment(copy).spec_hash != before


def test_error_names_file_field_and_expectation() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec("id: x\nversion: one\n", file="courses/a/assignment.yaml")
    messages = [str(i) for i in caught.value.issues]
    assert any(m.startswith("courses/a/assignment.yaml: version: expected a semantic version") for m in messages)
    assert any("title: required field is missing" in m for m in messages)
    assert any(m.endswith("id: String should match pattern '^[a-z0-9][a-z0-9-]{1,62}$'") for m in messages)


def test_nested_field_paths_are_reported() -> None:
    text = (LEDGER_DIR / "assignment.yaml").read_text().replace("timeout_s: 60", "timeout_s: -5")
    text = text.replace("points: 25\n", "points: lots\n", 1)
    with pytest.raises(SpecError) as caught:
        parse_spec(text)
    fields = {i.field for i in caught.value.issues}
    assert "limits.timeout_s" in fields
    assert "rubric.criteria[1].points" in fields


def test_unknown_field_is_an_error_not_ignored() -> None:
    text = (LEDGER_DIR / "assignment.yaml").read_text() + "\ntimeout: 30\n"
    with pytest.raises(SpecError) as caught:
        parse_spec(text)
    assert [(i.field, i.message) for i in caught.value.issues] == [
        ("timeout", "unknown field (check its spelling against the spec reference)")
    ]


def test_invalid_yaml_reports_line() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec("id: [unclosed\n", file="a.yaml")
    assert "line" in caught.value.issues[0].field
    assert "not valid YAML" in caught.value.issues[0].message


def test_unknown_runner_is_an_error(tmp_path: Path) -> None:
    messages = issues_of(ledger_copy(tmp_path, {"runner": "cobol-85"}))
    assert any("runner: unknown runner 'cobol-85'" in m and "python-3.11" in m for m in messages)


def test_criterion_matching_no_test_is_an_error(tmp_path: Path) -> None:
    def add_criterion(data: dict) -> None:
        data["rubric"]["criteria"].append(
            {"id": "style", "title": "Style", "points": 5, "tests": ["test_style.py::*"], "levels": {"Good": 100}}
        )

    messages = issues_of(ledger_copy(tmp_path, {"__fn__": add_criterion}))
    assert any("criterion 'style'" in m and "match no test" in m for m in messages)


def test_test_matched_by_two_criteria_is_an_error(tmp_path: Path) -> None:
    def overlap(data: dict) -> None:
        data["rubric"]["criteria"][1]["tests"].append("test_core.py::*")

    messages = issues_of(ledger_copy(tmp_path, {"__fn__": overlap}))
    assert any("is already scored by criterion 'core'" in m for m in messages)


def test_unscored_test_is_an_error(tmp_path: Path) -> None:
    copy = ledger_copy(tmp_path)
    (copy / "tests" / "visible" / "test_extra.py").write_text("def test_orphan():\n    pass\n")
    assert any("test 'test_extra.py::test_orphan' matches no criterion" in m for m in issues_of(copy))


def test_duplicate_test_id_between_suites_is_an_error(tmp_path: Path) -> None:
    copy = ledger_copy(tmp_path)
    shutil.copy(copy / "tests" / "visible" / "test_core.py", copy / "tests" / "hidden" / "test_core.py")
    assert any("test ids repeat between suites" in m for m in issues_of(copy))


def test_required_criterion_must_exist(tmp_path: Path) -> None:
    def require_unknown(data: dict) -> None:
        data["rubric"]["pass"]["require"] = ["nonexistent"]

    messages = issues_of(ledger_copy(tmp_path, {"__fn__": require_unknown}))
    assert any("pass.require names unknown criteria ['nonexistent']" in m for m in messages)


def test_suite_folder_outside_the_assignment_is_refused(tmp_path: Path) -> None:
    messages = issues_of(ledger_copy(tmp_path, {"tests": {"visible": "../../etc"}}))
    assert any("tests.visible" in m and "is not a folder inside" in m for m in messages)


def test_syntax_error_in_author_tests_names_the_file_and_line(tmp_path: Path) -> None:
    copy = ledger_copy(tmp_path)
    (copy / "tests" / "visible" / "test_broken.py").write_text("def test_x(:\n")
    messages = issues_of(copy)
    assert any("test_broken.py: line 1: not valid Python" in m for m in messages)


@pytest.mark.parametrize("package", ["--index-url=http://evil", "pytest; os.system('x')", "git+https://x/y"])
def test_packages_must_be_plain_requirements(package: str) -> None:
    text = (LEDGER_DIR / "assignment.yaml").read_text().replace('packages: ["pytest==8.*"]', f"packages: [{package!r}]")
    with pytest.raises(SpecError) as caught:
        parse_spec(text)
    assert caught.value.issues[0].field == "packages"


def test_service_mode_needs_service_block() -> None:
    text = (LEDGER_DIR / "assignment.yaml").read_text().replace("mode: unit", "mode: service")
    with pytest.raises(SpecError) as caught:
        parse_spec(text)
    assert "needs a 'service' block" in caught.value.issues[0].message


def test_inprocess_mode_with_a_credential_block_is_refused(tmp_path: Path) -> None:
    copy = ledger_copy(tmp_path, {"mode": "unit-inprocess"})
    [issue] = issues_of(copy)
    assert "mode 'unit-inprocess' never issues a credential" in issue
    assert issue.startswith(str(copy / "assignment.yaml"))


def test_inprocess_mode_without_a_credential_block_is_a_practice_assignment(tmp_path: Path) -> None:
    def drop_credential(data: dict) -> None:
        del data["credential"]

    loaded = load_assignment(ledger_copy(tmp_path, {"mode": "unit-inprocess", "__fn__": drop_credential}))
    assert loaded.spec.mode.value == "unit-inprocess" and loaded.spec.credential is None
    assert not loaded.spec.mode.issues_credentials
