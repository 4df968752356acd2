"""Validation against the bundled Open Badges 3.0 JSON Schemas (draft 2019-09), chosen by credential type.

The 1EdTech AchievementCredential schema file also defines ``EndorsementCredential`` in its
``$defs``; an EndorsementCredential is validated against that definition (its own OB 3.0 schema),
an ``OpenBadgeCredential``/``AchievementCredential`` against the whole file.

Validation is compiled (``jsonschema-rs``) when that package is installed, with the same format
checks as the reference validator (``jsonschema``, used otherwise): ``date`` and ``date-time``
(RFC 3339). A test runs both over the 1EdTech validator cases and requires the same verdicts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

from jsonschema import Draft201909Validator, FormatChecker

jsonschema_rs: Any
try:  # compiled validation; optional so that the package works without the wheel
    import jsonschema_rs
except ImportError:  # pragma: no cover - exercised only where jsonschema-rs is not installed
    jsonschema_rs = None

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "ob_v3p0_achievementcredential_schema.json"
SchemaKind = Literal["achievement", "endorsement"]
KIND_BY_TYPE: Final[dict[str, SchemaKind]] = {
    "OpenBadgeCredential": "achievement",
    "AchievementCredential": "achievement",
    "EndorsementCredential": "endorsement",
}
SCHEMA_TITLES: Final[dict[SchemaKind, str]] = {
    "achievement": "Open Badges 3.0 AchievementCredential JSON Schema",
    "endorsement": "Open Badges 3.0 EndorsementCredential JSON Schema",
}

_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$", re.ASCII
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$", re.ASCII)


def is_rfc3339_date_time(value: object) -> bool:
    """RFC 3339 ``date-time`` (what jsonschema-rs checks): real calendar dates, a leap second only
    at 23:59:60 UTC, offsets up to 23:59. Non-strings pass (the schema's ``type`` decides)."""
    if not isinstance(value, str):
        return True
    match = _DATE_TIME.match(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    if not _is_date(year, month, day) or hour > 23 or minute > 59 or second > 60:
        return False
    sign, off_hour, off_minute = match.group(7), int(match.group(8) or 0), int(match.group(9) or 0)
    if off_hour > 23 or off_minute > 59:
        return False
    if second == 60:
        offset = (off_hour * 60 + off_minute) * (1 if sign == "+" else -1)
        return (hour * 60 + minute - offset) % 1440 == 1439
    return True


def is_rfc3339_date(value: object) -> bool:
    """RFC 3339 ``full-date``. Non-strings pass."""
    if not isinstance(value, str):
        return True
    match = _DATE.match(value)
    return match is not None and _is_date(*(int(g) for g in match.groups()))


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        # Year 0000 is valid RFC 3339 (and a leap year, like 2000) but not a Python date.
        date(year or 2000, month, day)
    except ValueError:
        return False
    return True


_FORMATS: Final[dict[str, Callable[[object], bool]]] = {"date-time": is_rfc3339_date_time, "date": is_rfc3339_date}


@cache
def _schema(kind: SchemaKind) -> dict[str, Any]:
    full: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    if kind == "achievement":
        return full
    # The EndorsementCredential definition, with the file's $defs for its references.
    return {
        "$schema": full["$schema"],
        "$id": full["$id"].replace("achievementcredential", "endorsementcredential"),
        "$ref": "#/$defs/EndorsementCredential",
        "$defs": full["$defs"],
    }


@cache
def reference_validator(kind: SchemaKind) -> Draft201909Validator:
    """The pure-Python validator (the oracle in tests, and the fallback)."""
    schema = _schema(kind)
    Draft201909Validator.check_schema(schema)
    checker = FormatChecker(formats=())
    for name, function in _FORMATS.items():
        checker.checks(name)(function)
    return Draft201909Validator(schema, format_checker=checker)


@cache
def _compiled_validator(kind: SchemaKind) -> Any:
    # Native format checks (RFC 3339 date and date-time) agree with _FORMATS; a test holds them to it.
    return jsonschema_rs.Draft201909Validator(_schema(kind), validate_formats=True)


def compiled_available() -> bool:
    return jsonschema_rs is not None


def schema_kinds(types: Iterable[str]) -> list[SchemaKind]:
    """The schemas a credential of these types is validated against (none for other kinds)."""
    kinds: list[SchemaKind] = []
    for name in types:
        kind = KIND_BY_TYPE.get(name)
        if kind is not None and kind not in kinds:
            kinds.append(kind)
    return kinds


def schema_errors(document: Any, kind: SchemaKind = "achievement", limit: int = 5, compiled: bool = True) -> list[str]:
    """Human-readable schema violations of ``document`` (empty when valid), most specific first."""
    if compiled and jsonschema_rs is not None:
        validator = _compiled_validator(kind)
        if validator.is_valid(document):
            return []
        found = [(list(e.instance_path), e.message) for e in validator.iter_errors(document)]
    else:
        found = [(list(e.absolute_path), e.message) for e in reference_validator(kind).iter_errors(document)]
    found.sort(key=lambda item: (-len(item[0]), item[1]))
    return [f"{_path(path)}: {_short(message)}" for path, message in found[:limit]]


def _path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _short(message: str, width: int = 200) -> str:
    return message if len(message) <= width else message[: width - 3] + "..."
