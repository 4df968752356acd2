"""The janitor's decisions (grader.jobs.janitor) and the process tokens behind them
(grader.sandbox.workspaces): a dead maker's things go, a live one's stay unless long stopped or stale."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from grader.config import Settings
from grader.jobs.janitor import leftover_reason
from grader.sandbox.containers import HOST_LABEL, PROCESS_LABEL, Sandbox
from grader.sandbox.workspaces import (
    WorkspaceFull,
    host_name,
    leftover_workspaces,
    new_workspace,
    process_alive,
    process_token,
)
from grader.store.models import utcnow


def _dead_token() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    token = process_token(child.pid)
    child.wait()
    return token


def test_a_token_names_a_running_process_and_not_a_finished_one() -> None:
    assert process_alive(process_token())
    assert not process_alive(_dead_token())
    assert not process_alive("not-a-token")


def _thing(kind: str, token: str, **extra: object) -> Sandbox:
    labels = {PROCESS_LABEL: token, HOST_LABEL: host_name()}
    return Sandbox(kind=kind, name=f"{kind}-1", labels=labels, **extra)  # type: ignore[arg-type]


def test_what_a_dead_worker_made_is_a_leftover_whatever_its_state(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    now = utcnow()
    dead = _dead_token()
    for kind in ("container", "network", "image"):
        assert leftover_reason(_thing(kind, dead, running=True, created=now), now, settings, host_name())
    assert leftover_reason(_thing("container", process_token(), running=True, created=now), now, settings, host_name()) is None


def test_a_live_workers_things_go_only_when_long_stopped_empty_or_stale(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, janitor_grace_s=60, job_timeout_s=600)
    now = utcnow()
    live = process_token()
    fresh_stop = _thing("container", live, running=False, created=now, finished=now - timedelta(seconds=10))
    old_stop = _thing("container", live, running=False, created=now, finished=now - timedelta(seconds=61))
    stale = _thing("container", live, running=True, created=now - timedelta(seconds=700))
    empty = _thing("network", live, created=now - timedelta(seconds=61), members=0)
    busy = _thing("network", live, created=now - timedelta(seconds=61), members=2)
    assert leftover_reason(fresh_stop, now, settings, host_name()) is None
    assert leftover_reason(old_stop, now, settings, host_name()) == "stopped and never removed"
    assert leftover_reason(stale, now, settings, host_name()) == "older than any job may run"
    assert leftover_reason(empty, now, settings, host_name()) == "empty and never removed"
    assert leftover_reason(busy, now, settings, host_name()) is None
    # Another host's maker cannot be asked whether it runs: only age decides there.
    elsewhere = Sandbox(kind="container", name="c", labels={PROCESS_LABEL: _dead_token(), HOST_LABEL: "elsewhere"})
    assert leftover_reason(elsewhere, now, settings, host_name()) is None


def test_scratch_folders_are_named_for_their_maker(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    mine = new_workspace(settings, "grade")
    orphan = settings.work_dir / f"suites-{_dead_token()}-abc"
    orphan.mkdir()
    unrelated = settings.work_dir / "something-else"
    unrelated.mkdir()
    assert mine.name.startswith(f"grade-{process_token()}-")
    assert leftover_workspaces(settings.work_dir) == [orphan]


def test_a_workspace_disk_without_room_is_the_systems_fault(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, max_repo_mb=10**9)  # more room than any disk has
    with pytest.raises(WorkspaceFull, match="workspace disk is full"):
        new_workspace(settings, "grade")
