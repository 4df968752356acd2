"""Validation against the bundled Open Badges 3.0 JSON Schema (draft 2019-09)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft201909Validator

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "ob_v3p0_achievementcredential_schema.json"


@cache
def _validator() -> Draft201909Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema, format_checker=Draft201909Validator.FORMAT_CHECKER)


def schema_errors(document: Any, limit: int = 5) -> list[str]:
    """Human-readable schema violations of ``document`` (empty when valid), most specific first."""
    errors = sorted(_validator().iter_errors(document), key=lambda e: (-len(e.absolute_path), e.message))
    return [f"{_path(err.absolute_path)}: {_short(err.message)}" for err in errors[:limit]]


def _path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _short(message: str, width: int = 200) -> str:
    return message if len(message) <= width else message[: width - 3] + "..."
