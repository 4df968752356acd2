"""The assignment spec: pydantic models, the YAML loader and the checks that need the spec's files.

A spec error always names the file, the field path and what was expected, so a course author can fix
it without reading our code.
"""

from __future__ import annotations

import ast
import calendar
import fnmatch
import hashlib
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from grader.core.errors import AuthorFault
from grader.core.manifest import MANIFEST_FILE, Manifest, ManifestProblem, disagreements, read_manifest
from grader.core.ownership import DEFAULT_CLAIM_FILE, OwnershipFailure, OwnershipMethod, claim_path_problem
from grader.core.similarity import SimilarityPolicy
from grader.core.testids import discover_test_ids

SPEC_FILE = "assignment.yaml"
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_DURATION = re.compile(
    r"^P(?!$)(?:(\d{1,7})Y)?(?:(\d{1,7})M)?(?:(\d{1,7})W)?(?:(\d{1,7})D)?"
    r"(?:T(?=\d)(?:(\d{1,7})H)?(?:(\d{1,7})M)?(?:(\d{1,7})S)?)?$"
)
_DURATION_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)  # where a duration's length is measured
_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?\s*([<>=!~]=?\s*[0-9A-Za-z.*+-]+\s*,?\s*)*$")


# Sane maxima: a spec value past them is an author's slip that would break a later stage (a cooldown
# past the calendar's end, an infinite score), so `validate` refuses it and names the field.
MAX_POINTS = 10_000
MAX_ATTEMPTS = 10_000
MAX_COOLDOWN_S = 30 * 24 * 3600
_LATEST_DUE = datetime(9000, 1, 1, tzinfo=UTC)


def _zoned_due(value: datetime) -> datetime:
    """A due date must name its zone (a bare one cannot be compared with the clock) and lie within the calendar."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()} has no time zone; write it with one, such as 2027-01-31T23:59:00Z")
    if value > _LATEST_DUE:
        raise ValueError(f"{value.isoformat()} is later than the latest allowed, {_LATEST_DUE.isoformat()}")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class IsoDuration:
    """An ISO-8601 duration (PnYnMnWnDTnHnMnS, whole numbers), parsed once: what validates a spec's
    duration field is what computes dates from it.

    `after` is calendar arithmetic: years and months move the calendar date, clamped to the end of a
    shorter month (P1M from 31 January is the last day of February; P2Y from 29 February 2024 is 28
    February 2026); then weeks, days and the time part are added as elapsed time (PT12H is 12 hours).
    In a spec it is written, stored and serialized as its text.
    """

    text: str
    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @classmethod
    def parse(cls, text: str) -> IsoDuration:
        """Raises ValueError when `text` is not a positive ISO-8601 duration of whole numbers."""
        match = _DURATION.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"expected an ISO-8601 duration such as P2Y, P18M or PT12H, not {text!r}")
        numbers = [int(group) if group else 0 for group in match.groups()]
        duration = cls(text, *numbers)
        if not any(numbers):
            raise ValueError(f"{text!r} is a duration of zero; it must be longer than that")
        return duration

    def after(self, start: datetime) -> datetime:
        """`start` plus this duration. Raises OverflowError past the year 9999."""
        total = start.month - 1 + self.months + 12 * self.years
        year, month = start.year + total // 12, total % 12 + 1
        if not 1 <= year <= 9999:
            raise OverflowError(f"{self.text} after {start.isoformat()} is past the year 9999")
        day = min(start.day, calendar.monthrange(year, month)[1])
        elapsed = timedelta(
            weeks=self.weeks, days=self.days, hours=self.hours, minutes=self.minutes, seconds=self.seconds
        )
        return start.replace(year=year, month=month, day=day) + elapsed

    def longer_than(self, other: IsoDuration) -> bool:
        """Whether this duration reaches further than `other` from a fixed reference date."""
        return self.after(_DURATION_REFERENCE) > other.after(_DURATION_REFERENCE)

    def __str__(self) -> str:
        return self.text

    @classmethod
    def _validate(cls, value: object) -> IsoDuration:
        if isinstance(value, IsoDuration):
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected an ISO-8601 duration string such as P2Y, not {type(value).__name__}")
        return cls.parse(value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "duration", "pattern": _DURATION.pattern, "examples": ["P2Y", "PT12H"]}


def _at_most(maximum: str) -> AfterValidator:
    limit = IsoDuration.parse(maximum)

    def check(value: IsoDuration) -> IsoDuration:
        try:
            too_long = value.longer_than(limit)
        except OverflowError:  # past the calendar: certainly longer
            too_long = True
        if too_long:
            raise ValueError(f"{value} is longer than the most allowed, {maximum}")
        return value

    return AfterValidator(check)


# A credential's validity: at most a century (and never zero).
ValidFor = Annotated[IsoDuration, _at_most("P100Y")]


class Mode(StrEnum):
    """How learner code meets the author's tests (DESIGN.md "Sandbox modes").

    `unit` and `service` keep the author's tests and the verdict in a container learner code never
    enters, so they can lead to a credential; `unit-inprocess` runs both in one interpreter and never
    does (practice and quick feedback only).
    """

    UNIT = "unit"
    SERVICE = "service"
    UNIT_INPROCESS = "unit-inprocess"

    @property
    def issues_credentials(self) -> bool:
        return self is not Mode.UNIT_INPROCESS


class Visibility(StrEnum):
    NONE = "none"
    SUMMARY = "summary"
    NAMES = "names"
    FULL = "full"


class Limits(Strict):
    timeout_s: Annotated[int, Field(gt=0, le=3600)] = 120
    memory_mb: Annotated[int, Field(ge=32, le=16384)] = 512
    cpus: Annotated[float, Field(gt=0, le=16)] = 1.0
    pids: Annotated[int, Field(ge=8, le=4096)] = 128
    output_kb: Annotated[int, Field(ge=1, le=65536)] = 256
    disk_mb: Annotated[int, Field(ge=1, le=10240)] = 64
    # Isolated unit mode: how long one operation on the learner's code may take before the test fails.
    call_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10
    # Optional: one test (setup, call and teardown) running past this fails alone, "timed out after N s".
    test_timeout_s: Annotated[float | None, Field(gt=0, le=3600)] = None


class Isolation(StrEnum):
    """Isolated unit mode: one learner process for the whole run, or a fresh one for every test."""

    PER_RUN = "per-run"
    PER_TEST = "per-test"


class Suites(Strict):
    visible: str
    hidden: str | None = None


class PassRule(Strict):
    min_percent: Annotated[float, Field(ge=0, le=100)] = 80
    require: list[str] = []


class Criterion(Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")]
    title: str
    points: Annotated[float, Field(gt=0, le=MAX_POINTS, allow_inf_nan=False)]
    tests: Annotated[list[str], Field(min_length=1)]
    levels: dict[str, Annotated[float, Field(ge=0, le=100)]] = Field(min_length=1)
    pass_level: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _pass_level_is_a_level(self) -> Criterion:
        if self.pass_level is not None and self.pass_level not in self.levels:
            raise ValueError(f"pass_level {self.pass_level!r} is not one of the levels {sorted(self.levels)}")
        return self

    def ordered_levels(self) -> list[tuple[str, float]]:
        """Levels from the highest threshold to the lowest."""
        return sorted(self.levels.items(), key=lambda item: item[1], reverse=True)

    def pass_threshold(self) -> float:
        if self.pass_level is not None:
            return self.levels[self.pass_level]
        return min(self.levels.values())


class Rubric(Strict):
    pass_rule: PassRule = Field(default_factory=PassRule, alias="pass")
    criteria: Annotated[list[Criterion], Field(min_length=1)]
    # Shown to a learner beside a failing test whose id matches the glob (fnmatch, like criterion tests).
    hints: dict[str, Annotated[str, Field(min_length=1)]] = {}

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _ids_unique_and_required_known(self) -> Rubric:
        ids = [c.id for c in self.criteria]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"criterion ids must be unique; repeated: {dupes}")
        unknown = [r for r in self.pass_rule.require if r not in ids]
        if unknown:
            raise ValueError(f"pass.require names unknown criteria {unknown}; known: {ids}")
        return self

    @property
    def max_points(self) -> float:
        return round(sum(c.points for c in self.criteria), 2)


class Alignment(Strict):
    targetName: str
    targetUrl: str
    targetDescription: str | None = None
    targetFramework: str | None = None
    targetCode: str | None = None


class AchievementSpec(Strict):
    name: str
    description: str
    criteria: str
    skills: list[str] = []
    alignments: list[Alignment] = []
    image: str | None = None


class CredentialSpec(Strict):
    achievement: AchievementSpec
    valid_for: ValidFor | None = None


def _claim_path(value: str) -> str:
    problem = claim_path_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class SubmissionPolicy(Strict):
    max_attempts: Annotated[int, Field(ge=1, le=MAX_ATTEMPTS)] | None = None
    cooldown_s: Annotated[int, Field(ge=0, le=MAX_COOLDOWN_S)] = 0
    due: Annotated[datetime, AfterValidator(_zoned_due)] | None = None
    late: Literal["reject", "accept", "flag"] = "reject"
    # Which graded attempt stands for the learner in the gradebook and in LMS passback.
    counts: Literal["best", "last"] = "best"
    # Proof that the learner controls the repository (grader/core/ownership.py, docs/authenticity.md).
    ownership: OwnershipMethod = OwnershipMethod.NONE
    claim_file: Annotated[str, AfterValidator(_claim_path)] = DEFAULT_CLAIM_FILE
    ownership_failure: OwnershipFailure = OwnershipFailure.REFUSE
    similarity: SimilarityPolicy = Field(default_factory=SimilarityPolicy)


class FeedbackPolicy(Strict):
    visible_tests: Visibility = Visibility.FULL
    hidden_tests: Visibility = Visibility.SUMMARY


class ReadinessProbe(Strict):
    path: str = "/"
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 30


class ServiceSpec(Strict):
    """How the learner's project is built and started in service mode."""

    build: str | None = None
    start: str
    port: Annotated[int, Field(ge=1, le=65535)]
    ready: ReadinessProbe = Field(default_factory=ReadinessProbe)


class AssignmentSpec(Strict):
    id: Annotated[str, Field(pattern=_SLUG.pattern)]
    version: str
    title: str
    runner: str
    mode: Mode = Mode.UNIT
    isolation: Isolation = Isolation.PER_RUN
    packages: list[str] = []
    limits: Limits = Field(default_factory=Limits)
    tests: Suites
    rubric: Rubric
    credential: CredentialSpec | None = None
    submission: SubmissionPolicy = Field(default_factory=SubmissionPolicy)
    feedback: FeedbackPolicy = Field(default_factory=FeedbackPolicy)
    service: ServiceSpec | None = None

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not _SEMVER.match(value):
            raise ValueError("expected a semantic version such as 1.0.0")
        return value

    @field_validator("packages")
    @classmethod
    def _requirements(cls, value: list[str]) -> list[str]:
        for package in value:
            if not _PACKAGE.match(package) or package.startswith("-"):
                raise ValueError(f"{package!r} is not a plain requirement such as 'pytest==8.*'")
        return value

    @model_validator(mode="after")
    def _service_block_matches_mode(self) -> AssignmentSpec:
        if self.mode is Mode.SERVICE and self.service is None:
            raise ValueError("mode 'service' needs a 'service' block (start, port, ready)")
        if self.mode is not Mode.SERVICE and self.service is not None:
            raise ValueError("a 'service' block is only allowed with mode 'service'")
        if self.credential is not None and not self.mode.issues_credentials:
            raise ValueError(
                f"mode {self.mode.value!r} never issues a credential (learner code shares the interpreter with "
                "the tests): remove the 'credential' block, or use mode 'unit' (isolated) or 'service'"
            )
        return self


class SpecIssue(BaseModel):
    """One problem with a spec: where it is and what was expected."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


class SpecError(AuthorFault):
    """The assignment's files do not make a valid spec; each issue names the file and the field."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class LoadedAssignment(BaseModel):
    """A validated spec together with where it lives, its test ids and its content hash."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    spec: AssignmentSpec
    root: Path
    spec_hash: str
    test_ids: dict[str, list[str]]  # suite name -> test ids (without parameter suffixes)
    criterion_of: dict[str, str]  # test id -> criterion id
    # suite name -> the exact ids a grade counts, parameter sets included (grader/core/manifest.py), once checked
    manifest: dict[str, list[str]] | None = None

    @property
    def visible_dir(self) -> Path:
        return self.root / self.spec.tests.visible

    @property
    def hidden_dir(self) -> Path | None:
        return self.root / self.spec.tests.hidden if self.spec.tests.hidden else None

    def suite_dirs(self) -> dict[str, Path]:
        dirs = {"visible": self.visible_dir}
        if self.hidden_dir is not None:
            dirs["hidden"] = self.hidden_dir
        return dirs

    def all_test_ids(self) -> list[str]:
        return [tid for ids in self.test_ids.values() for tid in ids]


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def _issues_from_validation(error: ValidationError, file: str) -> list[SpecIssue]:
    issues = []
    for err in error.errors():
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-after")))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (check its spelling against the spec reference)"
        elif err["type"] == "missing":
            message = "required field is missing"
        issues.append(SpecIssue(file=file, field=_field_path(loc), message=message))
    return issues


def parse_spec(text: str, file: str = SPEC_FILE) -> AssignmentSpec:
    """Parse and validate spec YAML. Raises SpecError naming the file and every bad field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        raise SpecError([SpecIssue(file=file, field=where, message=f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise SpecError([SpecIssue(file=file, field="(top level)", message="expected a mapping of fields")])
    try:
        return AssignmentSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_issues_from_validation(exc, file)) from exc


def hash_assignment(root: Path, spec: AssignmentSpec) -> str:
    """Content hash over the spec file and every test file: what a grade was measured against."""
    digest = hashlib.sha256()
    files = [root / SPEC_FILE]
    if (root / MANIFEST_FILE).is_file():
        files.append(root / MANIFEST_FILE)
    for rel in (spec.tests.visible, spec.tests.hidden):
        if rel:
            files.extend(sorted(p for p in (root / rel).rglob("*") if p.is_file() and "__pycache__" not in p.parts))
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


def map_tests_to_criteria(
    criteria: list[Criterion], test_ids: list[str], file: str
) -> tuple[dict[str, str], list[SpecIssue]]:
    """Each test belongs to exactly one criterion; a criterion with no test is an error, not a silent zero."""
    issues: list[SpecIssue] = []
    criterion_of: dict[str, str] = {}
    for index, criterion in enumerate(criteria):
        matched = [t for t in test_ids if any(fnmatch.fnmatchcase(t, g) for g in criterion.tests)]
        if not matched:
            issues.append(
                SpecIssue(
                    file=file,
                    field=f"rubric.criteria[{index}].tests",
                    message=f"criterion {criterion.id!r}: the globs {criterion.tests} match no test",
                )
            )
        for test_id in matched:
            if test_id in criterion_of:
                issues.append(
                    SpecIssue(
                        file=file,
                        field=f"rubric.criteria[{index}].tests",
                        message=f"test {test_id!r} is already scored by criterion {criterion_of[test_id]!r}",
                    )
                )
            else:
                criterion_of[test_id] = criterion.id
    for test_id in test_ids:
        if test_id not in criterion_of:
            issues.append(
                SpecIssue(file=file, field="rubric.criteria", message=f"test {test_id!r} matches no criterion")
            )
    return criterion_of, issues


def known_runners(runners_dir: Path) -> list[str]:
    return sorted(p.name for p in runners_dir.iterdir() if (p / "Dockerfile").is_file()) if runners_dir.is_dir() else []


def default_runners_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "runners"


def load_assignment(path: Path, runners_dir: Path | None = None) -> LoadedAssignment:
    """Load a spec directory (or its assignment.yaml) and check everything that needs its files."""
    root = path.parent if path.is_file() else path
    spec_path = root / SPEC_FILE
    file = str(spec_path)
    if not spec_path.is_file():
        raise SpecError([SpecIssue(file=file, field="(file)", message="no assignment.yaml here")])
    spec = parse_spec(spec_path.read_text(encoding="utf-8"), file)
    issues: list[SpecIssue] = []

    runners = known_runners(runners_dir or default_runners_dir())
    if spec.runner not in runners:
        issues.append(SpecIssue(file=file, field="runner", message=f"unknown runner {spec.runner!r}; known: {runners}"))

    test_ids: dict[str, list[str]] = {}
    for suite, rel in (("visible", spec.tests.visible), ("hidden", spec.tests.hidden)):
        if rel is None:
            continue
        suite_dir = (root / rel).resolve()
        if not suite_dir.is_dir() or not suite_dir.is_relative_to(root.resolve()):
            issues.append(
                SpecIssue(file=file, field=f"tests.{suite}", message=f"{rel!r} is not a folder inside {root}")
            )
            continue
        ids, problems = discover_test_ids(suite_dir)
        issues.extend(SpecIssue(file=p.file, field=p.where, message=p.message) for p in problems)
        if not ids:
            issues.append(SpecIssue(file=file, field=f"tests.{suite}", message=f"no tests found in {rel!r}"))
        test_ids[suite] = ids

    every_id = [t for ids in test_ids.values() for t in ids]
    repeated = sorted({t for t in every_id if every_id.count(t) > 1})
    if repeated:
        issues.append(SpecIssue(file=file, field="tests", message=f"test ids repeat between suites: {repeated}"))
    criterion_of, mapping_issues = map_tests_to_criteria(spec.rubric.criteria, every_id, file)
    if every_id:
        issues.extend(mapping_issues)
    manifest = _checked_manifest(root, test_ids, issues)
    if spec.mode is Mode.UNIT_INPROCESS:
        issues.extend(_inprocess_conftest_issues(root, spec))
    if issues:
        raise SpecError(issues)
    return LoadedAssignment(
        spec=spec,
        root=root.resolve(),
        spec_hash=hash_assignment(root, spec),
        test_ids=test_ids,
        criterion_of=criterion_of,
        manifest=manifest.tests if manifest is not None else None,
    )


_TOOLS = {"pytest", "_pytest", "pluggy", "hypothesis"}


def _inprocess_conftest_issues(root: Path, spec: AssignmentSpec) -> list[SpecIssue]:
    """In the in-process mode a suite's conftest.py loads before the learner's folder joins sys.path, so a
    top-level import of the learner's package fails the whole run: say so, with the file and line."""
    packages = {re.split(r"[<>=!~\[ ;]", p, maxsplit=1)[0].lower().replace("-", "_") for p in spec.packages}
    issues = []
    for rel in (spec.tests.visible, spec.tests.hidden):
        if rel is None:
            continue
        suite = root / rel
        for conftest in sorted(suite.rglob("conftest.py")):
            try:
                tree = ast.parse(conftest.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError):
                continue
            local = {p.stem for p in conftest.parent.glob("*.py")} | {p.name for p in conftest.parent.iterdir() if p.is_dir()}
            for node in tree.body:
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in _TOOLS or top in local or top.lower() in packages:
                        continue
                    issues.append(SpecIssue(
                        file=str(conftest), field=f"line {node.lineno}",
                        message=f"imports {top!r} at top level, which in mode 'unit-inprocess' loads before the "
                        "learner's folder is importable: import it inside the fixtures, or use mode 'unit'",
                    ))
    return issues


def _checked_manifest(root: Path, test_ids: dict[str, list[str]], issues: list[SpecIssue]) -> Manifest | None:
    """The manifest beside the spec, when it is well formed and agrees with the author's files."""
    file = str(root / MANIFEST_FILE)
    try:
        manifest = read_manifest(root)
    except ManifestProblem as exc:
        issues.append(SpecIssue(file=file, field="(file)", message=str(exc)))
        return None
    if manifest is None:
        return None
    for problem in disagreements(manifest, test_ids):
        issues.append(
            SpecIssue(
                file=file,
                field="tests",
                message=f"out of date ({problem}); run 'grader assignment check --write-manifest'",
            )
        )
    return manifest


def spec_as_dict(spec: AssignmentSpec) -> dict[str, Any]:
    """The spec as the store keeps it (JSON, field aliases, no nulls); AssignmentSpec.model_validate reads it back."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)
