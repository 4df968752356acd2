"""The engine's runtimes are asked once a minute while gVisor is offered, and every time while it is
not: a cached answer never keeps grades on runc once runsc appears."""

from __future__ import annotations

from typing import Any

import pytest

from grader.sandbox import engine


class _Engine:
    def __init__(self, runtimes: list[str]) -> None:
        self.runtimes = runtimes
        self.asked = 0

    def info(self) -> dict[str, Any]:
        self.asked += 1
        return {"Runtimes": {name: {} for name in self.runtimes}}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> _Engine:
    made = _Engine(["runc"])
    monkeypatch.setattr(engine, "docker_client", lambda: made)
    monkeypatch.setattr(engine, "_runtimes", None)
    return made


def test_without_gvisor_the_engine_is_asked_every_time(fake: _Engine) -> None:
    assert engine.available_runtimes() == {"runc"}
    fake.runtimes = ["runc", "runsc"]  # gVisor installed meanwhile: the very next grade sees it
    assert engine.available_runtimes() == {"runc", "runsc"}
    assert fake.asked == 2


def test_with_gvisor_the_answer_is_kept_for_a_while(fake: _Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.runtimes = ["runc", "runsc"]
    for _ in range(5):
        assert engine.available_runtimes() == {"runc", "runsc"}
    assert fake.asked == 1
    clock = engine.time.monotonic() + engine.RUNTIMES_TTL_S + 1
    monkeypatch.setattr(engine.time, "monotonic", lambda: clock)
    assert engine.available_runtimes() == {"runc", "runsc"}
    assert fake.asked == 2
