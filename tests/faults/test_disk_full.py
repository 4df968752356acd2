"""The workers' workspace disk full: the submission ends in `error` with a reason of the system (never
the learner's, no attempt used), and the same worker grades the next submission once there is room."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import FaultStack

pytestmark = [pytest.mark.integration, pytest.mark.fault]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs for the workspace dir (GRADER_WORKSPACE_DIR): less room than one snapshot may take."""
    mount = tmp_path / "workspace"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_workspace_disk_fails_as_the_systems_fault_and_the_worker_recovers(
    fault_stack: FaultStack, small_disk: Path
) -> None:
    pool = fault_stack.start_pool(GRADER_WORKSPACE_DIR=str(small_disk))
    who = "disk-full@example.org"
    full = fault_stack.submit("reference", who=who)
    done = fault_stack.wait_state(full, ("graded", "rejected", "error"), timeout=240)
    assert done["state"] == "error", done
    assert "workspace disk is full" in (done["error"] or ""), done
    history = fault_stack.history(full)
    assert [e for e in history if e["state"] == "retrying"], history  # retried as a fault of the system
    assert fault_stack.counts(full) == (0, 0)

    # Room again, and the same worker grades the next submission.
    subprocess.run(["mount", "-o", "remount,size=512m", str(small_disk)], check=True)
    again = fault_stack.submit("reference", who="disk-room@example.org")
    done = fault_stack.wait_state(again, ("graded", "rejected", "error"), timeout=240)
    assert done["state"] == "graded" and done["passed"] is True, done
    assert pool.alive
    assert list(small_disk.iterdir()) == []
