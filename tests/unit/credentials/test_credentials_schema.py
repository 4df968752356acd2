"""Compiled schema validation (jsonschema-rs) agrees with the reference validator (jsonschema).

Both are run over every 1EdTech validator case, over variants with broken dates, and over tricky
date strings; the verdicts must be the same. The schema is chosen by credential type.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from credentials.schema_check import (
    compiled_available,
    is_rfc3339_date,
    is_rfc3339_date_time,
    schema_errors,
    schema_kinds,
)
from tests.data.credentials import INTEROP


def test_the_compiled_validator_is_installed_for_the_tests() -> None:
    # It is a dev dependency: without it every comparison below would be skipped and prove nothing.
    assert compiled_available(), "jsonschema-rs is not installed: .venv/bin/pip install -e '.[dev]'"

DATE_TIMES = [
    "2010-01-01T00:00:00Z", "2010-01-01t00:00:00z", "2010-01-01T00:00:00.123456+05:30", "2016-12-31T23:59:60Z",
    "2016-12-31T22:59:60-01:00", "2010-01-01T00:00:60Z", "2010-13-01T00:00:00Z", "2010-02-30T00:00:00Z",
    "2012-02-29T00:00:00Z", "2011-02-29T00:00:00Z", "2010-01-01T24:00:00Z", "2010-01-01T00:60:00Z",
    "2010-01-01T00:00:00", "2010-01-01 00:00:00Z", "2010-01-01T00:00:00+24:00", "2010-01-01T00:00:00+01:60",
    "2010-01-01T00:00:00.Z", "10-01-01T00:00:00Z", "2010-01-01T00:00:00+0100", "", "2010-01-01",
    "\uff12\uff10\uff11\uff10-01-01T00:00:00Z", "2010-01-01T00:00:00Z ",
]  # fmt: skip
DATES = ["2010-01-01", "2010-02-30", "2012-02-29", "2010-1-01", "2010-01-01T00:00:00Z", "", "20100101", "0000-01-01"]


def _documents() -> list[tuple[str, Any]]:
    out = []
    for path in sorted(INTEROP.rglob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document.get("proof"), dict):
            document["proof"] = [document["proof"]]
        out.append((path.name, document))
        for value in ("2010-02-30T00:00:00Z", "2010-01-01 00:00:00Z", "2016-12-31T23:59:60Z", 20100101):
            broken = copy.deepcopy(document)
            broken["validFrom"] = value
            out.append((f"{path.name} validFrom={value}", broken))
    return out


@pytest.mark.parametrize(("name", "document"), _documents(), ids=[n for n, _ in _documents()])
def test_compiled_and_reference_agree_on_every_case(name: str, document: Any) -> None:
    kinds = schema_kinds(document.get("type", [])) or ["achievement"]
    for kind in kinds:
        compiled = schema_errors(document, kind)
        reference = schema_errors(document, kind, compiled=False)
        assert bool(compiled) == bool(reference), (name, kind, compiled, reference)


@pytest.mark.parametrize("value", DATE_TIMES)
def test_date_time_format_agrees(value: str) -> None:
    import jsonschema_rs

    native = jsonschema_rs.Draft201909Validator({"format": "date-time"}, validate_formats=True).is_valid(value)
    assert is_rfc3339_date_time(value) is native


@pytest.mark.parametrize("value", DATES)
def test_date_format_agrees(value: str) -> None:
    import jsonschema_rs

    native = jsonschema_rs.Draft201909Validator({"format": "date"}, validate_formats=True).is_valid(value)
    assert is_rfc3339_date(value) is native


def test_schema_is_chosen_by_type() -> None:
    assert schema_kinds(["VerifiableCredential", "OpenBadgeCredential"]) == ["achievement"]
    assert schema_kinds(["VerifiableCredential", "AchievementCredential", "OpenBadgeCredential"]) == ["achievement"]
    assert schema_kinds(["VerifiableCredential", "EndorsementCredential"]) == ["endorsement"]
    assert schema_kinds(["VerifiableCredential", "BitstringStatusListCredential"]) == []
    endorsement = json.loads((INTEROP / "endorsement-valid.json").read_text())
    assert schema_errors(endorsement, "endorsement") == []
    assert schema_errors(endorsement, "achievement")  # the reason it failed before
