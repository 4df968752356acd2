"""Who made a sandbox or a scratch folder, so that the janitor can tell a crashed worker's leftovers
from the work of one still running.

Every container, network and scratch folder a worker makes carries its maker's process token (the pid
and the kernel's start time of that process, so a reused pid is told apart) and its host name. A
thing whose maker is gone is a leftover; nothing else is looked at.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import tempfile
from functools import lru_cache
from pathlib import Path

from grader.config import Settings
from grader.core.errors import SystemFault

# A scratch folder's name: <kind>-<pid>.<start time>-<random>.
_FOLDER = re.compile(r"^(?P<kind>grade|suites|check|build)-(?P<token>\d+\.\d+)-[^/]+$")
KINDS = ("grade", "suites", "check", "build")


class WorkspaceFull(SystemFault, RuntimeError):
    """The workers' scratch disk has no room for one more submission: a fault of the system (retried,
    never the learner's)."""

    code = "workspace-full"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its closing one.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def process_token(pid: int | None = None) -> str:
    """This process's token (or `pid`'s): "<pid>.<start time>"."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}.{_start_time(pid) or 0}"


def process_alive(token: str) -> bool:
    """Whether the process a token names still runs on this host (the same process, not a reused pid)."""
    pid_text, _, started = token.partition(".")
    if not pid_text.isdigit():
        return False
    return _start_time(int(pid_text)) == started


@lru_cache(maxsize=1)
def host_name() -> str:
    return socket.gethostname()


def _check_room(parent: Path, settings: Settings) -> None:
    """Raises WorkspaceFull when `parent`'s file system has less room than one snapshot may take."""
    need = settings.max_repo_mb * 1024 * 1024
    free = shutil.disk_usage(parent).free
    if free < need:
        raise WorkspaceFull(
            f"the workers' workspace disk is full: {free // (1024 * 1024)} MiB free in {parent}, "
            f"a submission may need {settings.max_repo_mb} MiB (GRADER_WORKSPACE_DIR)"
        )


def new_workspace(settings: Settings, kind: str) -> Path:
    """A fresh scratch folder under the workspace dir, named for this process so the janitor can find it
    if the process dies. Raises WorkspaceFull when the disk has no room (or fills while making it)."""
    parent = settings.work_dir
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _check_room(parent, settings)
        return Path(tempfile.mkdtemp(prefix=f"{kind}-{process_token()}-", dir=parent))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise WorkspaceFull(f"the workers' workspace disk is full ({parent}): {exc.strerror}") from exc
        raise


def as_workspace_fault(exc: OSError, where: Path) -> Exception:
    """A disk-full error met while writing a workspace, as the system fault it is; others unchanged."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return WorkspaceFull(f"the workers' workspace disk is full ({where}): {exc.strerror}")
    return exc


def leftover_workspaces(parent: Path) -> list[Path]:
    """Scratch folders under `parent` whose maker has died."""
    if not parent.is_dir():
        return []
    found = []
    for entry in parent.iterdir():
        match = _FOLDER.match(entry.name)
        if match and entry.is_dir() and not process_alive(match["token"]):
            found.append(entry)
    return sorted(found)
