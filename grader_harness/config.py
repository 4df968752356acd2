"""The run configuration: the worker's (the first line of the harness's stdin) and the test process's
(a pipe from the harness), read and checked.

A configuration that is not what the protocol says raises ConfigError before any test runs: the
worker sent it, so a bad one is a fault of the grader, never of the learner.
"""

from __future__ import annotations

import os
from json import loads
from typing import Any, cast

from grader_harness.protocol import RUN_DIR, BridgeConfig, Canary, ChildConfig, RunConfig, ServiceConfig

CANARY_FIELDS = {"suite": str, "file": str, "name": str, "left": int, "right": int, "total": int}


class ConfigError(ValueError):
    """The configuration breaks the protocol."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _need(data: dict[str, Any], key: str, check: Any, what: str) -> None:
    if key not in data:
        raise ConfigError(f"the configuration lacks {key!r}")
    if not check(data[key]):
        raise ConfigError(f"{key!r} must be {what}")


def _str_map(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _sources(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and _str_map(v) for k, v in value.items())


def _canaries(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(c, dict) and all(isinstance(c.get(f), kind) for f, kind in CANARY_FIELDS.items()) for c in value
    )


def _optional_number(value: object) -> bool:
    return value is None or _is_number(value)


def _optional_str(value: object) -> bool:
    return value is None or isinstance(value, str)


def _bridge(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("modules", []), list)


def _service(value: object) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("url"), str)
        and isinstance(value.get("ready_url"), str)
        and _is_number(value.get("ready_timeout_s"))
    )


def _object(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError("the configuration is not a JSON object")
    return data


def _common(data: dict[str, Any]) -> None:
    _need(data, "suites", _str_map, "an object of folders")
    _need(data, "sources", _sources, "an object of test module sources per suite")
    _need(data, "canaries", _canaries, "a list of canaries")
    _need(data, "tests_root", lambda v: isinstance(v, str), "a path")
    if not _optional_str(data.get("submission")):
        raise ConfigError("'submission' must be a path or null")
    if not _optional_number(data.get("test_timeout_s")):
        raise ConfigError("'test_timeout_s' must be a number or null")
    if data.get("bridge") is not None and not _bridge(data["bridge"]):
        raise ConfigError("'bridge' must be an object with a list of modules")


def parse_run_config(line: bytes | str) -> RunConfig:
    """The worker's configuration, from the first line of the harness's stdin."""
    try:
        data = _object(loads(line))
    except ValueError as exc:
        raise ConfigError(f"the configuration is not JSON: {exc}") from None
    _need(data, "token", lambda v: isinstance(v, str) and v != "", "a non-empty string")
    _need(data, "timeout_s", _is_number, "a number")
    _need(data, "output_limit", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a byte count")
    _common(data)
    if data.get("service") is not None and not _service(data["service"]):
        raise ConfigError("'service' must be an object with url, ready_url and ready_timeout_s")
    return cast(RunConfig, data)


def child_config(config: RunConfig, key: bytes, ack_fd: int) -> ChildConfig:
    """What the test process needs of the run, and the signing key and acknowledgement pipe of this run
    (the pipe goes by the configuration, not argv, so argv stays as it was)."""
    return {
        "key": key.hex(),
        "suites": config["suites"],
        "sources": config["sources"],
        "canaries": config["canaries"],
        "submission": config.get("submission"),
        "tests_root": config["tests_root"],
        "run_dir": RUN_DIR,
        "bridge": config.get("bridge"),
        "test_timeout_s": config.get("test_timeout_s"),
        "ack_fd": ack_fd,
    }


def parse_child_config(data: bytes) -> ChildConfig:
    """The test process's configuration, as the harness wrote it."""
    try:
        parsed = _object(loads(data))
    except ValueError as exc:
        raise ConfigError(f"the configuration is not JSON: {exc}") from None
    _need(parsed, "key", lambda v: isinstance(v, str) and len(v) >= 32, "a hex key")
    _need(parsed, "ack_fd", lambda v: isinstance(v, int) and not isinstance(v, bool), "a file descriptor")
    _need(parsed, "run_dir", lambda v: isinstance(v, str), "a path")
    _common(parsed)
    return cast(ChildConfig, parsed)


def read_child_config(fd: int) -> ChildConfig:
    """Read the whole configuration pipe, close it, parse it."""
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return parse_child_config(b"".join(chunks))


def canaries_by_file(canaries: list[Canary]) -> dict[tuple[str, str], list[Canary]]:
    by_file: dict[tuple[str, str], list[Canary]] = {}
    for canary in canaries:
        by_file.setdefault((canary["suite"], canary["file"]), []).append(canary)
    return by_file


__all__ = [
    "BridgeConfig",
    "ChildConfig",
    "ConfigError",
    "RunConfig",
    "ServiceConfig",
    "canaries_by_file",
    "child_config",
    "parse_child_config",
    "parse_run_config",
    "read_child_config",
]
