"""The janitor: what crashed workers left behind, found by label and removed.

Every sandbox container, network and image a worker makes carries the installation's owner label and
its maker's process and host (grader.sandbox.containers, grader.sandbox.workspaces); every scratch
folder is named for its maker. The janitor runs when a worker pool starts and every
`janitor_interval_s`, and removes:

- what a process of this host made that no longer runs (a worker killed mid-run);
- a stopped container, or a network with nothing attached, older than `janitor_grace_s`, whoever made
  it (a worker that lost the engine in the middle of a run could not remove them itself);
- anything older than the longest a job may run (`job_timeout_s`), whoever made it;
- untagged images (a build cut short) whose maker is gone.

It never touches another installation's sandboxes (another owner label) nor the work of a live process.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from grader.config import Settings
from grader.sandbox.containers import HOST_LABEL, PROCESS_LABEL, Sandbox, owned_sandboxes, remove_sandbox
from grader.sandbox.workspaces import host_name, leftover_workspaces, process_alive
from grader.store.models import utcnow

log = logging.getLogger(__name__)


@dataclass
class Sweep:
    """What one round of the janitor removed (names), and what the engine would not let it remove."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return len(self.containers) + len(self.networks) + len(self.images) + len(self.folders)


def _maker_gone(thing: Sandbox, host: str) -> bool:
    """Made on this host by a process that no longer runs (another host's makers cannot be asked)."""
    token = thing.labels.get(PROCESS_LABEL)
    return bool(token) and thing.labels.get(HOST_LABEL) == host and not process_alive(token or "")


def leftover_reason(thing: Sandbox, now: datetime, settings: Settings, host: str) -> str | None:
    """Why `thing` is a leftover, or None when it may still be in use. Pure but for asking whether a
    process of this host runs."""
    if _maker_gone(thing, host):
        return "its worker is gone"
    grace = timedelta(seconds=settings.janitor_grace_s)
    if thing.kind == "image":
        return None  # an untagged image of a live build may still be becoming its tag
    if thing.created is not None and now - thing.created > timedelta(seconds=settings.job_timeout_s) + grace:
        return "older than any job may run"
    if thing.kind == "container" and not thing.running:
        stopped = thing.finished or thing.created
        if stopped is not None and now - stopped > grace:
            return "stopped and never removed"
    if thing.kind == "network" and thing.members == 0 and thing.created is not None and now - thing.created > grace:
        return "empty and never removed"
    return None


def sweep(settings: Settings, now: datetime | None = None) -> Sweep:
    """One round: remove every leftover sandbox and scratch folder. Raises the engine's errors when the
    engine cannot be reached at all (the caller logs them and tries again at the next round)."""
    now = now or utcnow()
    host = host_name()
    done = Sweep()
    # Containers first: a network goes once nothing is attached.
    things = sorted(owned_sandboxes(), key=lambda t: {"container": 0, "network": 1, "image": 2}[t.kind])
    for thing in things:
        reason = leftover_reason(thing, now, settings, host)
        if reason is None:
            continue
        if not remove_sandbox(thing):
            done.failed.append(thing.name)
            continue
        log.warning("janitor removed %s %s: %s", thing.kind, thing.name, reason)
        {"container": done.containers, "network": done.networks, "image": done.images}[thing.kind].append(thing.name)
    for folder in leftover_workspaces(settings.work_dir):
        shutil.rmtree(folder, ignore_errors=True)
        if folder.exists():
            done.failed.append(str(folder))
        else:
            log.warning("janitor removed scratch folder %s: its worker is gone", folder)
            done.folders.append(folder.name)
    return done
