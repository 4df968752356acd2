"""The run configuration as the harness reads it: what the worker sends parses, anything else is refused."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from grader_harness.config import ConfigError, child_config, parse_child_config, parse_run_config, read_child_config
from grader_harness.protocol import RUN_DIR, TESTS_ROOT


def payload(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "token": "tok",
        "canaries": [{"suite": "hidden", "file": "test_h.py", "name": "test_c", "left": 1, "right": 2, "total": 4}],
        "suites": {"visible": f"{TESTS_ROOT}/visible", "hidden": f"{TESTS_ROOT}/hidden"},
        "sources": {"visible": {"test_v.py": "def test_v(): pass\n"}, "hidden": {"test_h.py": ""}},
        "tests_root": TESTS_ROOT,
        "submission": "/workspace/submission",
        "timeout_s": 60,
        "test_timeout_s": None,
        "output_limit": 65536,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def test_the_workers_payload_parses() -> None:
    config = parse_run_config(json.dumps(payload()))
    assert config["token"] == "tok" and config["suites"]["hidden"] == "/grader/tests/hidden"
    service = {"url": "http://svc:8000", "ready_url": "http://svc:8000/health", "ready_timeout_s": 30}
    assert parse_run_config(json.dumps(payload(service=service, submission=None)))["service"] == service
    bridge = {"modules": ["shop"], "call_timeout_s": 10, "per_test": False}
    assert parse_run_config(json.dumps(payload(bridge=bridge, test_timeout_s=2.5)))["bridge"] == bridge


@pytest.mark.parametrize(
    "changes",
    [
        {"token": ...},
        {"token": ""},
        {"timeout_s": "60"},
        {"timeout_s": True},
        {"output_limit": -1},
        {"suites": {"visible": 3}},
        {"sources": {"visible": {"test_v.py": None}}},
        {"canaries": [{"suite": "hidden", "file": "test_h.py", "name": "test_c", "left": "1", "right": 2, "total": 4}]},
        {"submission": 5},
        {"test_timeout_s": "2"},
        {"service": {"url": "http://svc"}},
        {"bridge": {"modules": "shop"}},
    ],
)
def test_anything_else_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        parse_run_config(json.dumps(payload(**changes)))


@pytest.mark.parametrize("line", [b"", b"not json", b"[1, 2]"])
def test_not_an_object(line: bytes) -> None:
    with pytest.raises(ConfigError):
        parse_run_config(line)


def test_child_config_round_trip_through_a_pipe() -> None:
    config = parse_run_config(json.dumps(payload()))
    child = child_config(config, b"k" * 32, 7)
    assert child["key"] == (b"k" * 32).hex() and child["ack_fd"] == 7 and child["run_dir"] == RUN_DIR
    read, write = os.pipe()
    os.write(write, json.dumps(child).encode())
    os.close(write)
    assert read_child_config(read) == child
    with pytest.raises(OSError):
        os.close(read)  # read to its end and closed


def test_child_config_needs_its_key_and_pipe() -> None:
    child = dict(child_config(parse_run_config(json.dumps(payload())), b"k" * 32, 7))
    for key in ("key", "ack_fd", "run_dir"):
        broken = {k: v for k, v in child.items() if k != key}
        with pytest.raises(ConfigError):
            parse_child_config(json.dumps(broken).encode())
